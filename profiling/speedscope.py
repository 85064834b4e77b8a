"""Folded stacks as a speedscope file (https://www.speedscope.app/file-format-schema.json).

One "sampled" profile whose samples are the distinct stacks, weighted by their self time in
microseconds: speedscope's left-heavy and sandwich views then show the same totals as the SVG.
"""
from __future__ import annotations

import json
from pathlib import Path

from ._io import atomic_write_text
from .collapsed import MICROSECONDS, FoldedStacks

SCHEMA = "https://www.speedscope.app/file-format-schema.json"


class SpeedscopeRenderer:
    """Renders :class:`FoldedStacks` as speedscope JSON (one class per output format)."""

    def __init__(self, name: str, *, unit: str = "microseconds", scale: float = MICROSECONDS) -> None:
        """``unit``/``scale``: speedscope's unit and the factor from stored values to it
        (``"none"`` and 1 for instruction counts)."""
        self.name = name
        self.unit = unit
        self.scale = scale

    def render(self, folded: FoldedStacks) -> str:
        index: dict[str, int] = {}
        frames: list[dict] = []
        samples: list[list[int]] = []
        weights: list[float] = []
        for stack, t in sorted(folded.stacks.items()):
            if not stack or t <= 0:
                continue
            ids = []
            for frame in stack:
                if frame not in index:
                    index[frame] = len(frames)
                    frames.append({"name": frame})
                ids.append(index[frame])
            samples.append(ids)
            weights.append(round(t * self.scale, 3))
        doc = {
            "$schema": SCHEMA,
            "name": self.name,
            "exporter": "pairbench",
            "activeProfileIndex": 0,
            "shared": {"frames": frames},
            "profiles": [{
                "type": "sampled",
                "name": self.name,
                "unit": self.unit,
                "startValue": 0,
                "endValue": round(sum(weights), 3),
                "samples": samples,
                "weights": weights,
            }],
        }
        return json.dumps(doc, separators=(",", ":"))

    def write(self, folded: FoldedStacks, path: Path) -> Path:
        return atomic_write_text(Path(path), self.render(folded))
