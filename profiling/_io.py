"""Write files whole or not at all: a temporary file beside the target, then an atomic rename."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from pairbench.jsonio import atomic_write_bytes as _write


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all, creating its folder."""
    return _write(path, data, make_parents=True)


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_move(src: Union[str, Path], dst: Path) -> Path:
    """Move a finished file into place (copying first when it lives on another filesystem)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError:
        atomic_write_bytes(dst, Path(src).read_bytes())
        os.unlink(src)
    return dst
