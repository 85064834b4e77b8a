"""A throwaway git repo with the asv suite and a one-pair plugin whose optimized side a test can
regress commit by commit, recorded by ``asv run --python=same --set-commit-hash`` against this
environment (the asv tests and the report's instruction history use it)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

_PAIRS = '''"""A pair for the asv tests: its optimized side is rewritten by later commits."""
from pairbench.equivalence import equivalence
from pairbench.registry import Pair, Workload


def _workload(size, seed):
    return Workload(inputs=([(i * 7919 + seed) % (4 * size) for i in range(size)],), description=f"{size} ints")


PAIRS = [Pair(name="planted.sum", summary="a Python loop vs the builtin sum", reference="pb_planted.slow",
              optimized="pb_planted.fast", workload=_workload, bind=lambda mod, inputs: (lambda: mod.total(*inputs)),
              check=equivalence(), sizes=(3000,), default_size=3000, floor=1.0, counting=COUNTING,
              counting_note="a test pair")]
'''
SLOW = "def total(data):\n    out = 0\n    for x in data:\n        out += x\n    return out\n"
FAST = "def total(data):\n    return sum(data)\n"
#: the planted regression: still right, now sorting first (several times the builtin sum's cost)
FAST_REGRESSED = "def total(data):\n    return sum(sorted(data))\n"
CLASS = "PlantedSum"


class PlantedRepo:
    """``work/`` (a git repo: ``benchmarks/``, ``asv.conf.json``, ``plugin/pb_planted``) and
    results in ``tmp/results``, machine ``testbox``; ``counting`` is the pair's counting kind."""

    def __init__(self, tmp: Path, *, counting: str = "walltime") -> None:
        self.tmp = tmp
        self.work = tmp / "repo"
        self.results = tmp / "results"
        self.plugin = self.work / "plugin"
        self._commits = 0
        pkg = self.plugin / "pb_planted"
        info = self.plugin / "pb_planted-0.1.dist-info"
        pkg.mkdir(parents=True)
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pb-planted\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text("[pairbench.pairs]\nplanted = pb_planted.pairs\n")
        (pkg / "__init__.py").write_text("")
        (pkg / "pairs.py").write_text(_PAIRS.replace("COUNTING", repr(counting)))
        (pkg / "slow.py").write_text(SLOW)
        (pkg / "fast.py").write_text(FAST)
        shutil.copytree(ROOT / "benchmarks", self.work / "benchmarks", ignore=shutil.ignore_patterns("__pycache__"))
        conf = json.loads((ROOT / "asv.conf.json").read_text())
        conf.update(repo=str(self.work), branches=["main"], results_dir=str(self.results),
                    env_dir=str(tmp / "env"), html_dir=str(tmp / "html"))
        (self.work / "asv.conf.json").write_text(json.dumps(conf))
        paths = os.pathsep.join([str(self.plugin), str(ROOT)])
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ASV")}
        self.env.update(HOME=str(tmp), PYTHONPATH=paths, ASV_PYTHONPATH=paths, GIT_AUTHOR_NAME="t",
                        GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
        assert self.sh("git", "init", "-q", "-b", "main").returncode == 0
        assert self.asv("machine", "--yes", "--machine", "testbox").returncode == 0

    def sh(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout)

    def asv(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.sh(sys.executable, "-m", "asv", *args, timeout=timeout)

    def commit(self, message: str, *, fast: str | None = None) -> str:
        """Commit (after writing ``fast`` as the optimized side when given), a minute after the
        previous commit so asv's commit dates order them; return the hash."""
        if fast is not None:
            (self.plugin / "pb_planted" / "fast.py").write_text(fast)
        self._commits += 1
        when = f"2026-01-01T00:{self._commits:02d}:00"
        assert self.sh("git", "add", "-A").returncode == 0
        out = subprocess.run(["git", "commit", "-qm", message, "--allow-empty"], cwd=self.work, capture_output=True,
                             text=True, env=dict(self.env, GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when))
        assert out.returncode == 0, out.stderr
        return self.sh("git", "rev-parse", "HEAD").stdout.strip()

    def record(self, commit_hash: str, bench: str) -> None:
        """``asv run --python=same --quick`` of the ``bench`` regex, filed under ``commit_hash``.

        The plugin's bytecode is compiled first: the counting engine precompiles this checkout
        before counting, not a plugin's folder, and a child that compiles a module at import
        counts differently from one that loads it (1.9% seen on this pair's reference)."""
        import compileall

        compileall.compile_dir(str(self.plugin), quiet=2)
        out = self.asv("run", "--python=same", "--quick", "--machine", "testbox", "--set-commit-hash",
                       commit_hash, "-b", bench, "--show-stderr")
        assert out.returncode == 0 and "failed" not in out.stdout, out.stdout + out.stderr
