"""py-spy: sample a child Python that runs one side of a pair, and read back what it recorded.

py-spy launches the child itself (``py-spy record -- python -m profiling._child ...``), which works
as root and wherever ptrace of one's own child is allowed. It records once, in raw (folded)
format, with ``--idle`` (a commit waiting on fsync is time the side spends) and line numbers:
frames are merged by function when read (so stacks line up), and the line the top frame was
running is kept for the hot spots (py-spy sees no C frames, so "which line" is how it tells a
``commit()`` from an ``execute()``). The SVG and the speedscope file come from that one recording.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pairbench.registry import Pair, PairbenchError

#: environment variable naming the py-spy executable (default: beside the interpreter, then PATH)
PYSPY_ENV = "PAIRBENCH_PY_SPY"

_ATTACH_HINT = ("py-spy needs ptrace: run as root, or set /proc/sys/kernel/yama/ptrace_scope to 0, "
                "or give the container the SYS_PTRACE capability; or use --profiler pyinstrument")
_ATTACH_WORDS = ("permission denied", "operation not permitted", "ptrace", "eperm", "sys_ptrace",
                 "failed to attach", "access denied")


@dataclass
class Recording:
    """What one py-spy run left: the raw folded text, the sampling rate and the child's report."""

    raw: str
    rate: int
    calls: int
    timed_s: float
    module_files: dict
    description: str = ""


def find_pyspy() -> str:
    """The py-spy executable: ``$PAIRBENCH_PY_SPY``, else the one beside the running interpreter
    (a venv's ``bin/``, found even when the venv is not activated), else ``py-spy`` on PATH."""
    beside = Path(sys.executable).parent / "py-spy"  # not resolved: a venv's python is a symlink
    exe = (os.environ.get(PYSPY_ENV) or shutil.which(beside.name, path=str(beside.parent))
           or shutil.which("py-spy"))
    if not exe:
        raise PairbenchError("py-spy is not installed (pip install py-spy), or set "
                             f"{PYSPY_ENV} to its path; or use --profiler pyinstrument")
    return exe


def pair_module_of(pair: Pair) -> Optional[str]:
    """The module whose PAIRS defines ``pair`` (where its workload function lives), if any.

    The child rebuilds the pair from its name: with this module it does not depend on the pair
    being registered (fixture pairs in tests are not).
    """
    modname = getattr(pair.workload, "__module__", None)
    mod = sys.modules.get(modname or "")
    found = getattr(mod, "PAIRS", None) if mod is not None else None
    if found and any(getattr(p, "name", None) == pair.name for p in found):
        return modname
    return None


def _child_env() -> dict:
    """The child imports what this process imports: the same sys.path, first."""
    env = dict(os.environ)
    paths = [os.path.abspath(p or os.curdir) for p in sys.path]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("py-spy> Sampling")] or lines
    return lines[-1] if lines else ""


def record(pair: Pair, side: str, size: int, *, seconds: float, seed: int = 0, rate: int = 1000,
           pair_module: Optional[str] = None, timeout_s: Optional[float] = None) -> Recording:
    """Run ``side`` of ``pair`` in a child under ``py-spy record`` for ``seconds`` of timed calls.

    Raises :class:`PairbenchError` with one line when py-spy is missing or cannot attach, when the
    child fails (its own one-line error), or when no sample landed in the timed calls.
    """
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 10_000:
        raise PairbenchError(f"rate: must be an integer from 1 to 10000 samples per second, got {rate!r}")
    exe = find_pyspy()
    module = pair_module or pair_module_of(pair)
    with tempfile.TemporaryDirectory(prefix="pairbench-pyspy-") as tmp:
        raw_path = Path(tmp) / "profile.raw"
        report_path = Path(tmp) / "report.json"
        child = [sys.executable, "-m", "profiling._child", "--pair", pair.name, "--side", side,
                 "--size", str(size), "--seed", str(seed), "--seconds", repr(float(seconds)),
                 "--report", str(report_path),
                 "--reference", pair.reference, "--optimized", pair.optimized]
        if module:
            child += ["--pair-module", module]
        cmd = [exe, "record", "-o", str(raw_path), "-f", "raw", "-r", str(rate),
               "--idle", "--full-filenames", "--", *child]
        limit = timeout_s if timeout_s is not None else 120 + 10 * seconds
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), timeout=limit)
        except FileNotFoundError as exc:
            raise PairbenchError(f"py-spy could not be started ({exe}): {exc.strerror}") from exc
        except subprocess.TimeoutExpired as exc:
            raise PairbenchError(f"py-spy: the {side} side of {pair.name!r} ran past {limit:.0f} s") from exc
        report = {}
        if report_path.exists():
            try:
                report = json.loads(report_path.read_text(encoding="utf-8"))
            except ValueError:
                report = {}
        if report.get("error"):
            raise PairbenchError(f"py-spy child: {report['error']}")
        output = (proc.stderr or "") + "\n" + (proc.stdout or "")
        lowered = output.lower()
        if proc.returncode != 0 or not raw_path.exists():
            if any(w in lowered for w in _ATTACH_WORDS):
                raise PairbenchError(f"py-spy cannot attach to the profiled process "
                                     f"({_last_line(output) or 'permission denied'}); {_ATTACH_HINT}")
            raise PairbenchError(f"py-spy failed (exit {proc.returncode}): "
                                 f"{_last_line(output) or 'no output'}")
        if not report:
            raise PairbenchError("py-spy: the profiled child exited without a report "
                                 f"({_last_line(output) or 'no output'})")
        return Recording(raw=raw_path.read_text(encoding="utf-8", errors="replace"), rate=rate,
                         calls=int(report["calls"]), timed_s=float(report["timed_s"]),
                         module_files=dict(report.get("module_files") or {}),
                         description=str(report.get("description") or ""))
