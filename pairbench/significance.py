"""One test for "the speedup fell significantly", shared by ``gate --against`` and ``report``.

Two runs are two runs (made at different times, they drift), so a drop counts only when it is
larger than ``band`` and either the two 95% intervals lie apart, or the ratio samples of the new
run rank below the old ones (one-sided Mann-Whitney U, p < ``alpha``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass(frozen=True)
class Drop:
    """A significant drop: ``how`` is ``"intervals"`` (apart) or ``"samples"`` (rank test, ``p``)."""

    how: str
    p: float = math.nan


def speedup_drop(old_speedup: float, old_low: float, old_ratios: Sequence[float],
                 new_speedup: float, new_high: float, new_ratios: Sequence[float], *,
                 band: float, alpha: float = 0.01) -> Optional[Drop]:
    """The drop from the old run to the new one, or None when it is not significant.

    Intervals apart: ``new_high < old_low * (1 - band)`` (both finite). Samples: with at least 3
    ratio samples on each side, the new median under ``old_speedup * (1 - band)`` and the new
    ratios ranking below the old (one-sided Mann-Whitney U, p < ``alpha``).
    """
    if math.isfinite(old_low) and math.isfinite(new_high) and new_high < old_low * (1 - band):
        return Drop("intervals")
    if len(old_ratios) >= 3 and len(new_ratios) >= 3 and new_speedup < old_speedup * (1 - band):
        from scipy.stats import mannwhitneyu

        p = float(mannwhitneyu(new_ratios, old_ratios, alternative="less").pvalue)
        if p < alpha:
            return Drop("samples", p)
    return None
