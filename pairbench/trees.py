"""Another commit's tree to count beside this one: a ``git worktree`` of REV, kept under
``.pairbench/trees/<commit>`` (git-ignored) so numba's cache in it survives between runs.

The counting child imports that tree's ``reference``, ``optimized`` and ``pairbench/pairs`` with
this environment's packages and this harness, so REV is counted on the same libraries as HEAD
in the same job: no stored baseline drifts with library versions.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Optional

from .registry import PairbenchError

ROOT = Path(__file__).resolve().parent.parent
ACCEPT_TRAILER = "Pairbench-Accept"


def _git(*args: str, cwd: Path = ROOT) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise PairbenchError("git is not installed (--against needs it)") from None
    if proc.returncode != 0:
        raise PairbenchError(f"git {' '.join(args)}: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return proc.stdout.strip()


def resolve(rev: str) -> str:
    """The full commit hash of ``rev``, or a one-line error naming it."""
    try:
        return _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except PairbenchError:
        raise PairbenchError(f"--against: {rev!r} is not a commit of this repository") from None


def tree_of(rev: str, *, root: Path = ROOT) -> tuple[Path, str]:
    """``(folder, commit)``: the pairs of ``rev`` (its ``reference``, ``optimized`` and
    ``pairbench/pairs``, from ``git archive``) in ``.pairbench/trees/<12 hex of the commit>``,
    made once and reused. Only those parts, laid out as :func:`snapshot` lays out this
    checkout's, so that both are imported from trees of one shape."""
    import os
    import shutil
    import tarfile
    import tempfile

    commit = resolve(rev)
    folder = root / ".pairbench" / "trees" / commit[:12]
    if folder.is_dir():
        return folder, commit
    present = [p for p in TREE_PARTS if _git("ls-tree", "--name-only", commit, p)]
    if "reference" not in present or "optimized" not in present:
        raise PairbenchError(f"--against: {rev} has no reference/ and optimized/ folders")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".rev-", dir=folder.parent))
    try:
        archive = tmp / "tree.tar"
        _git("archive", "--format=tar", f"--output={archive}", commit, *present)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        archive.unlink()
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not folder.is_dir():
            raise
    return folder, commit


#: what a counting child imports from a tree
TREE_PARTS = ("reference", "optimized", "pairbench/pairs")


def snapshot(*, root: Path = ROOT) -> Path:
    """This checkout's pairs as they are now (uncommitted changes included), copied to
    ``.pairbench/trees/work<8 hex of their content>``: a path exactly as long as a commit's
    tree, so both are imported from paths of one shape. (The heap an interpreter builds while
    importing depends on the lengths of its module paths, and the cost of the allocator in the
    counted calls on that heap: up to 0.8% between a tree and a longer-named copy of it.)"""
    import os
    import shutil
    import tempfile

    digest, files = pairs_digest(root)
    folder = root / ".pairbench" / "trees" / f"work{digest[:8]}"
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".work-", dir=folder.parent))
    try:
        for rel in files:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, tmp / rel)
        os.rename(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not folder.is_dir():
            raise
    return folder


def pairs_digest(root: Path) -> tuple[str, list[Path]]:
    """``(sha256 hex, files)`` of what a counting child imports from the tree at ``root`` (the
    files of :data:`TREE_PARTS`, paths and bytes; caches left out): two trees with one digest
    run the same pairs' code, so their counts are one count."""
    import hashlib

    digest = hashlib.sha256()
    files = []
    for part in TREE_PARTS:
        for path in sorted((root / part).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                rel = path.relative_to(root)
                files.append(rel)
                digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest(), files


def same_pairs(a: Path, b: Path) -> bool:
    """True when the trees at ``a`` and ``b`` hold byte-identical pairs' code (:func:`pairs_digest`)."""
    return pairs_digest(Path(a))[0] == pairs_digest(Path(b))[0]


def accepted_pairs(base: str, head: str = "HEAD") -> dict[str, str]:
    """Pairs whose change in instructions a commit since ``base`` declared intended, by a
    ``Pairbench-Accept: NAME [reason]`` trailer in its message: ``{name: "commit: reason"}``."""
    out: dict[str, str] = {}
    log = _git("log", "--format=%H%x00%B%x01", f"{base}..{head}")
    for entry in filter(None, (e.strip() for e in log.split("\x01"))):
        commit, _, body = entry.partition("\x00")
        for line in body.splitlines():
            m = re.match(rf"^{ACCEPT_TRAILER}:\s*(\S+)\s*(.*)$", line.strip(), re.IGNORECASE)
            if m:
                out.setdefault(m.group(1), f"{commit[:8]}: {m.group(2) or 'accepted'}")
    return out


def previous_commit() -> Optional[str]:
    """``HEAD~1`` if this checkout has one (CI compares against it), else None."""
    try:
        return _git("rev-parse", "--verify", "--quiet", "HEAD~1^{commit}")
    except PairbenchError:
        return None
