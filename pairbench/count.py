"""The counting engine: instructions per call of a pair's sides, under valgrind's callgrind.

Wall-clock time on a shared machine drifts by tens of percent between runs; the number of
instructions a call executes does not. For one pair, side and size a child process
(:mod:`pairbench.count_child`) runs under ``setarch -R valgrind --tool=callgrind
--instr-atstart=no`` with ``PYTHONHASHSEED=0`` and every thread pool pinned to 1: it builds the
workload and makes the first calls uninstrumented, then counts a region of ``calls`` calls (at
least ``target`` instructions in all) and the harness's own cost on an empty call, which is
subtracted. Counts are exact for a given tree, interpreter and library build; they are not
comparable across machines with other library builds, which is why the gate counts the base
commit again in the same job instead of storing a baseline.

With ``cache_sim`` callgrind also simulates caches with fixed geometry (I1 and D1 32 KiB 8-way,
LL 8 MiB 16-way, 64-byte lines: CodSpeed's settings, so figures do not depend on this CPU) and
an estimated-cycles figure follows a published cost model: **L1 hit 1, LL hit 5, RAM 30**
(``cycles = L1 hits + 5 x LL hits + 30 x RAM accesses``, as in pythonspeed's cachegrind script).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from . import callgrind_out
from .registry import Pair, PairbenchError

ROOT = Path(__file__).resolve().parent.parent
CACHE_ARGS = ("--cache-sim=yes", "--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64")
#: weights of the estimated-cycles model: L1 hit, LL hit, RAM access
CYCLE_WEIGHTS = {"l1_hit": 1, "ll_hit": 5, "ram": 30}
DEFAULT_TARGET = 2e7
CHILD_TIMEOUT_S = 900


def valgrind_path() -> str:
    """valgrind's path, or a one-line error saying how to install it."""
    path = shutil.which("valgrind")
    if path is None:
        raise PairbenchError("valgrind is not installed: instruction counting needs it "
                             "(Debian/Ubuntu: apt-get install valgrind)")
    return path


def count_size(pair: Pair, size: Optional[int] = None) -> int:
    """The size a pair is counted at: ``size``, else the pair's ``count_size``."""
    if size is None:
        return pair.size_for(count=True)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise PairbenchError(f"size: must be a positive integer, got {size!r}")
    return size


@dataclass
class SideCount:
    """One side of one pair counted at one size in one tree."""

    pair: str
    side: str
    size: int
    tree: str                                 # "." for this checkout, else the commit counted
    instructions: float = float("nan")        # per call, harness subtracted
    calls: int = 0
    region_instructions: int = 0              # the whole counted region (calls x per call + harness)
    harness_instructions: int = 0
    events: dict = field(default_factory=dict)    # per call, every event callgrind counted
    estimated_cycles: Optional[float] = None      # per call, with cache simulation
    functions: dict = field(default_factory=dict)  # self instructions per call, by function
    description: str = ""
    seconds: float = 0.0                          # wall time of the child process
    error: Optional[str] = None
    callgrind_file: Optional[str] = None
    jit_compiled: int = 0                         # numba functions compiled (not loaded) in the child

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self, *, functions: int = 0) -> dict:
        out = asdict(self)
        top = sorted(self.functions.items(), key=lambda kv: -abs(kv[1]))[:functions]
        out["functions"] = dict(top)
        return out


@dataclass(frozen=True)
class Job:
    """What one child process counts."""

    pair: str
    side: str
    size: int
    seed: int = 0
    tree: Optional[str] = None        # a checkout to import reference/optimized/pairs from
    tree_label: str = "."
    cache_sim: bool = False
    plant: float = 0.0
    target: float = DEFAULT_TARGET
    calls: Optional[int] = None       # counted calls; None: chosen from a one-call probe
    pair_module: Optional[str] = None


def estimated_cycles(events: dict) -> Optional[float]:
    """The cost model of the module docstring applied to callgrind's cache events (per call)."""
    need = ("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")
    if not all(k in events for k in need):
        return None
    l1_miss = events["I1mr"] + events["D1mr"] + events["D1mw"]
    ram = events["ILmr"] + events["DLmr"] + events["DLmw"]
    accesses = events["Ir"] + events["Dr"] + events["Dw"]
    w = CYCLE_WEIGHTS
    return (accesses - l1_miss) * w["l1_hit"] + (l1_miss - ram) * w["ll_hit"] + ram * w["ram"]


#: variables a counted child inherits; everything else is left out, so that the environment
#: (whose size moves the stack, and with it the counts) is the same whoever starts the count
_KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "PAIRBENCH_PG_URL")


def child_env(**extra: str) -> dict:
    """The environment of a counted child: fixed hash seed, one thread everywhere, this checkout
    first on the path, and nothing else that varies between shells, CI jobs and test runs."""
    from .machine import THREAD_VARS

    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    env.update({var: "1" for var in THREAD_VARS})
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _job_doc(job: Job, slot: Path) -> dict:
    return {"pair": job.pair, "side": job.side, "size": job.size, "seed": job.seed,
            "result": str(slot / "result.json"), "temp": str(slot / "tmp"), "tree": job.tree,
            "pair_module": job.pair_module, "target": job.target, "plant": job.plant, "calls": job.calls}


def _no_aslr() -> list[str]:
    setarch = shutil.which("setarch")
    return [setarch, os.uname().machine, "-R"] if setarch else []


class Slot:
    """The folder one child works in: ``.../pairbench-count/slotNN``, held with an exclusive lock
    (a second child for the same slot waits). The slot is fixed by the job's pair and side, so
    a side gets the same folder, and its temporary files the same paths, in every run and in
    every tree: the code counted hashes those paths (a cache keyed by path), and another path
    moves the count (0.4% seen)."""

    N = 64

    def __init__(self, key: str = "") -> None:
        import fcntl
        import zlib

        top = Path(tempfile.gettempdir()) / "pairbench-count"
        top.mkdir(parents=True, exist_ok=True)
        name = f"slot{zlib.crc32(key.encode()) % self.N:02d}"  # one length for every slot
        self._lock = open(top / f"{name}.lock", "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.path = top / name
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir()

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._lock.close()

    def __enter__(self) -> "Slot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child(job_doc: dict, slot: Path, *, prefix: Sequence[str] = (), env: Optional[dict] = None
           ) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the child on one job file in ``slot``; its result document (``{}`` if it wrote none)."""
    job_file = slot / "job.json"
    job_file.write_text(json.dumps(job_doc))
    result = Path(job_doc["result"])
    proc = subprocess.run([*prefix, sys.executable, "-m", "pairbench.count_child", str(job_file)],
                          env=env or child_env(), cwd=str(ROOT), capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT_S)
    return proc, (json.loads(result.read_text()) if result.is_file() else {})


def run_job(job: Job, *, keep: Optional[Path] = None) -> SideCount:
    """Count one job in a child under callgrind; errors come back in ``SideCount.error``. A child
    that compiled numba functions (a cold cache) is counted again, from the warm cache."""
    first = _run_job(job, keep=keep)
    if first.ok and first.jit_compiled:
        again = _run_job(job, keep=keep)
        again.seconds += first.seconds
        return again
    return first


def _run_job(job: Job, *, keep: Optional[Path] = None) -> SideCount:
    valgrind = valgrind_path()
    out = SideCount(job.pair, job.side, job.size, job.tree_label)
    t0 = time.perf_counter()
    with Slot(f"{job.pair}/{job.side}") as slot:
        base = slot.path / "callgrind.out"
        prefix = [*_no_aslr(), valgrind, "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
                  f"--callgrind-out-file={base}", *(CACHE_ARGS if job.cache_sim else ())]
        try:
            proc, doc = _child(_job_doc(job, slot.path), slot.path, prefix=prefix,
                               env=child_env(PAIRBENCH_CALLGRIND_OUT=str(base)))
        except subprocess.TimeoutExpired:
            out.error = f"counting took over {CHILD_TIMEOUT_S} s"
            return out
        finally:
            out.seconds = time.perf_counter() - t0
        if "error" in doc or proc.returncode != 0 or not doc:
            tail = (proc.stderr or "").strip().splitlines()
            out.error = doc.get("error") or (tail[-1] if tail else f"child exited {proc.returncode}")
            return out
        named = callgrind_out.by_trigger(base)
        main_part = doc.get("main_part", "main")
        if main_part not in named or "harness" not in named:
            out.error = "callgrind wrote no counted region (is this x86_64 valgrind?)"
            return out
        main, harness = callgrind_out.parse(named[main_part]), callgrind_out.parse(named["harness"])
        calls = int(doc["calls"])
        out.calls = calls
        out.jit_compiled = int(doc.get("jit_compiled", 0))
        out.description = doc.get("description", "")
        out.region_instructions = main.total("Ir")
        out.harness_instructions = harness.total("Ir")
        # a planted region repeats extra calls: both regions ran calls + extra iterations
        out.instructions = (out.region_instructions - out.harness_instructions) / calls
        out.events = {e: (main.total(e) - harness.total(e)) / calls for e in main.events}
        out.estimated_cycles = estimated_cycles(out.events)
        h_self = harness.self_of("Ir")
        out.functions = {fn: (v - h_self.get(fn, 0)) / calls for fn, v in main.self_of("Ir").items()
                         if v != h_self.get(fn, 0)}
        if keep is not None:
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(named[main_part], keep)
            out.callgrind_file = str(keep)
        return out


def precompile(trees: Iterable[Optional[str]] = ()) -> None:
    """Bring the bytecode caches of this checkout and of ``trees`` up to date before counting.

    A child that compiles a stale module at import leaves a different heap from one that
    loads its cache, and the allocator's cost in the counted calls moves with it (0.03% seen):
    so no child compiles."""
    import compileall

    folders = [ROOT / p for p in ("pairbench", "reference", "optimized", "profiling")]
    folders += [Path(t) for t in trees if t]
    for folder in folders:
        if folder.is_dir():
            compileall.compile_dir(str(folder), quiet=2, workers=1)


def run_jobs(jobs: Sequence[Job], *, parallel: Optional[int] = None,
             on_done: Optional[Callable[[Job, SideCount], None]] = None) -> list[SideCount]:
    """Count every job, ``parallel`` children at a time (counts do not care about load)."""
    valgrind_path()
    parallel = parallel or os.cpu_count() or 1
    precompile({job.tree for job in jobs})

    def one(job: Job) -> SideCount:
        res = run_job(job)
        if on_done is not None:
            on_done(job, res)
        return res

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(one, jobs))


def call_counts(job: Job, calls: int) -> dict[str, float]:
    """Python functions' call counts per call of the side (cProfile, in a child, not under valgrind)."""
    with Slot(f"{job.pair}/{job.side}") as slot:
        proc, doc = _child({**_job_doc(job, slot.path), "cprofile": True, "calls": calls}, slot.path,
                           env=child_env())
    if "error" in doc or proc.returncode != 0 or not doc:
        raise PairbenchError(f"call counts of {job.pair} ({job.side}): "
                             f"{doc.get('error') or (proc.stderr or '').strip()[-200:]}")
    return doc["call_counts"]
