"""The flame graph as a PNG (for READMEs and chat): the SVG's layout drawn with matplotlib."""
from __future__ import annotations

import re
from pathlib import Path

from ._io import atomic_write_bytes
from .svg import Node, fit_label, hot_colour, layout, text_colour


def _rgb(fill: str) -> tuple[float, float, float]:
    m = re.match(r"rgb\((\d+),(\d+),(\d+)\)", fill.replace(" ", ""))
    if not m:
        return (0.8, 0.8, 0.8)
    return tuple(int(v) / 255 for v in m.groups())  # type: ignore[return-value]


def write_png(root: Node, path: Path, *, title: str, subtitle: str = "", width_in: float = 14.0,
              dpi: int = 110, frame_in: float = 0.22) -> Path:
    """Draw ``root`` (a laid-out :class:`Node` tree) as a flame graph PNG at ``path``."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    width_px = width_in * dpi
    boxes = layout(root, width_px, min_width_px=0.5)
    depth = max((b.depth for b in boxes), default=0) + 1
    fig_h = 0.9 + depth * frame_in
    fig = plt.figure(figsize=(width_in, fig_h), dpi=dpi)
    ax = fig.add_axes((0.005, 0.02, 0.99, (depth * frame_in) / fig_h))
    ax.set_xlim(0, width_px)
    ax.set_ylim(0, depth)
    ax.axis("off")
    char_px = 6.2
    for b in boxes:
        node = b.node
        fill = node.fill or hot_colour(node.name)
        ax.add_patch(Rectangle((b.x, b.depth), b.width, 0.92, facecolor=_rgb(fill),
                               edgecolor="white", linewidth=0.3,
                               hatch="////" if node.hatched else None))
        label = fit_label(node.name, int((b.width - 4) / char_px))
        if label:
            ax.text(b.x + 2, b.depth + 0.46, label, fontsize=7.5, va="center", ha="left", clip_on=True,
                    color=text_colour(fill))
    fig.text(0.5, 1 - 0.28 / fig_h, title, ha="center", va="center", fontsize=12)
    if subtitle:
        fig.text(0.5, 1 - 0.6 / fig_h, subtitle, ha="center", va="center", fontsize=7.5, color="#444")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue())
