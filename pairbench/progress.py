"""Progress for long work: a tqdm bar on a terminal, one line per finished step otherwise."""
from __future__ import annotations

import sys
from typing import Optional


class Progress:
    """Counts ticks toward ``total``; ``done(line)`` reports a finished unit of work."""

    def __init__(self, total: int, desc: str, *, stream=None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.bar = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, file=self.stream, leave=False, dynamic_ncols=True)

    def tick(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(msg, refresh=False)
            self.bar.update(1)

    def done(self, line: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def maybe(progress: Optional[Progress]):
    return progress.tick if progress is not None else None
