"""Equivalence checks that fail with a readable diff: the path to the first differences, both values.

Pairs build their ``check`` from :func:`assert_equivalent`; it walks dicts, sequences, numpy
arrays (structured ones field by field) and floats (with ``rtol``/``atol``) and reports up to
``limit`` differences as ``path: reference=... optimized=...`` lines.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from .registry import NotEquivalent


def _short(value: Any, width: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def differences(ref: Any, opt: Any, *, rtol: float = 0.0, atol: float = 0.0, path: str = "$",
                limit: int = 10) -> list[str]:
    """Return up to ``limit`` lines describing where ``ref`` and ``opt`` differ (empty: equal)."""
    out: list[str] = []
    _walk(ref, opt, rtol, atol, path, out, limit)
    return out


def _walk(ref: Any, opt: Any, rtol: float, atol: float, path: str, out: list[str], limit: int) -> None:
    if len(out) >= limit:
        return
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        np = None
    if np is not None and (isinstance(ref, np.ndarray) or isinstance(opt, np.ndarray)):
        _walk_array(np, ref, opt, rtol, atol, path, out, limit)
        return
    if isinstance(ref, bool) or isinstance(opt, bool) or isinstance(ref, (str, bytes)):
        if type(ref) is not type(opt) or ref != opt:
            out.append(f"{path}: reference={_short(ref)} optimized={_short(opt)}")
        return
    if isinstance(ref, (int, float)) and isinstance(opt, (int, float)):
        if isinstance(ref, int) and isinstance(opt, int):
            ok = ref == opt
        else:
            ok = _close(float(ref), float(opt), rtol, atol)
        if not ok:
            out.append(f"{path}: reference={ref!r} optimized={opt!r}")
        return
    if isinstance(ref, dict) and isinstance(opt, dict):
        for key in ref.keys() - opt.keys():
            if len(out) < limit:
                out.append(f"{path}[{key!r}]: only in reference ({_short(ref[key])})")
        for key in opt.keys() - ref.keys():
            if len(out) < limit:
                out.append(f"{path}[{key!r}]: only in optimized ({_short(opt[key])})")
        for key in ref.keys() & opt.keys():
            _walk(ref[key], opt[key], rtol, atol, f"{path}[{key!r}]", out, limit)
        return
    if isinstance(ref, (list, tuple)) and isinstance(opt, (list, tuple)):
        if len(ref) != len(opt):
            out.append(f"{path}: length reference={len(ref)} optimized={len(opt)}")
        for i, (a, b) in enumerate(zip(ref, opt)):
            _walk(a, b, rtol, atol, f"{path}[{i}]", out, limit)
        return
    if ref != opt:
        out.append(f"{path}: reference={_short(ref)} optimized={_short(opt)}")


def _walk_array(np: Any, ref: Any, opt: Any, rtol: float, atol: float, path: str, out: list[str],
                limit: int) -> None:
    ref = np.asarray(ref)
    opt = np.asarray(opt)
    if ref.dtype.names or opt.dtype.names:
        if ref.dtype.names != opt.dtype.names:
            out.append(f"{path}: fields reference={ref.dtype.names} optimized={opt.dtype.names}")
            return
        if ref.shape != opt.shape:
            out.append(f"{path}: shape reference={ref.shape} optimized={opt.shape}")
            return
        for name in ref.dtype.names:
            _walk_array(np, ref[name], opt[name], rtol, atol, f"{path}.{name}", out, limit)
        return
    if ref.shape != opt.shape:
        out.append(f"{path}: shape reference={ref.shape} optimized={opt.shape}")
        return
    if ref.dtype.kind in "fc" or opt.dtype.kind in "fc":
        same = np.isclose(ref, opt, rtol=rtol, atol=atol, equal_nan=True)
    else:
        same = ref == opt
    bad = np.argwhere(~np.asarray(same))
    if len(bad):
        first = tuple(int(i) for i in bad[0])
        out.append(f"{path}: {len(bad)} of {ref.size} elements differ; first at {first}: "
                   f"reference={ref[first]!r} optimized={opt[first]!r}")


def assert_equivalent(ref: Any, opt: Any, *, rtol: float = 0.0, atol: float = 0.0, what: str = "output") -> None:
    """Raise :class:`NotEquivalent` listing the differences between ``ref`` and ``opt``."""
    diffs = differences(ref, opt, rtol=rtol, atol=atol)
    if diffs:
        raise NotEquivalent(f"{what} differs:\n  " + "\n  ".join(diffs))


def equivalence(*, rtol: float = 0.0, atol: float = 0.0,
                transform: Callable[[Any], Any] | None = None) -> Callable[[Any, Any], None]:
    """Build a pair ``check``: optionally map both outputs through ``transform``, then compare."""

    def check(ref: Any, opt: Any) -> None:
        if transform is not None:
            ref, opt = transform(ref), transform(opt)
        assert_equivalent(ref, opt, rtol=rtol, atol=atol)

    return check
