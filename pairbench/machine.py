"""The machine a measurement ran on, and fixed thread counts so runs compare.

``fix_threads`` must run before numpy, torch or numba are imported to pin their pools through
the environment; it also pins pools already imported. ``machine_info`` records what was in force.
"""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def fix_threads(n: int) -> None:
    """Pin every thread pool pairbench's pairs may use to ``n`` threads."""
    if n < 1:
        raise ValueError(f"threads: must be >= 1, got {n}")
    for var in THREAD_VARS:
        if var == "NUMBA_NUM_THREADS" and "numba" in sys.modules:
            continue  # numba read it at import; changing it now makes its next compile fail
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)
    if "numba" in sys.modules:
        import numba

        try:
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        except (ValueError, AttributeError):  # pool already launched with fewer threads
            pass


def apply_threads() -> None:
    """Re-apply the pinned count to pools imported since ``fix_threads`` (torch reads no env var)."""
    n = os.environ.get("OMP_NUM_THREADS")
    if n and n.isdigit():
        fix_threads(int(n))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def thread_counts() -> dict:
    """Thread counts in force: the environment, and the live pools of torch and numba if loaded."""
    out: dict = {var: os.environ.get(var) for var in THREAD_VARS}
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    if "numba" in sys.modules:
        try:
            out["numba"] = sys.modules["numba"].get_num_threads()
        except Exception:  # numba without a threading layer
            pass
    return out


def machine_info() -> dict:
    """A JSON-able description of this machine and the software under measurement."""
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "versions": {d: _version(d) for d in ("pairbench", "numpy", "scipy", "torch", "numba", "pydantic",
                                              "orjson", "optuna", "asv")},
        "threads": thread_counts(),
    }
