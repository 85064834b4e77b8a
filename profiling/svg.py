"""A small flame graph renderer: a tree of frames to a static SVG (and boxes for the PNG path).

Brendan Gregg's layout: the root at the bottom, each frame a box as wide as its (inclusive)
weight, its callees stacked on top of it in name order, left-aligned; frames narrower than
``min_width_px`` are left out. Each box carries an SVG ``<title>`` (the tooltip) and may be hatched
(the flame diff marks frames that only the optimized side has). No script: it opens anywhere.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional
from xml.sax.saxutils import escape, quoteattr

from ._io import atomic_write_text
from .collapsed import FoldedStacks

FONT_FAMILY = "Verdana, DejaVu Sans, sans-serif"


@dataclass
class Node:
    """One frame of the flame graph tree. ``value`` is its drawn width (inclusive weight)."""

    name: str
    value: float = 0.0
    self_value: float = 0.0
    children: dict[str, "Node"] = field(default_factory=dict)
    fill: Optional[str] = None
    title: Optional[str] = None
    hatched: bool = False

    def child(self, name: str) -> "Node":
        if name not in self.children:
            self.children[name] = Node(name)
        return self.children[name]

    def walk(self) -> Iterable["Node"]:
        yield self
        for c in self.children.values():
            yield from c.walk()

    def depth(self) -> int:
        return 1 + max((c.depth() for c in self.children.values()), default=0)


def tree_from_folded(folded: FoldedStacks, root_name: str = "all") -> Node:
    """The frame tree of folded stacks: inclusive ``value`` and ``self_value`` per node."""
    root = Node(root_name)
    for stack, t in folded.stacks.items():
        node = root
        node.value += t
        for frame in stack:
            node = node.child(frame)
            node.value += t
        node.self_value += t
    return root


@dataclass
class Box:
    """A laid-out frame: x and width in pixels, depth in frames from the root (0 = root)."""

    x: float
    width: float
    depth: int
    node: Node


def layout(root: Node, width_px: float, *, min_width_px: float = 0.3) -> list[Box]:
    """Boxes for every frame at least ``min_width_px`` wide; callees in name order, left-aligned."""
    if root.value <= 0:
        return []
    scale = width_px / root.value
    boxes: list[Box] = []

    def place(node: Node, x: float, depth: int) -> None:
        w = node.value * scale
        if w < min_width_px:
            return
        boxes.append(Box(x, w, depth, node))
        cx = x
        for name in sorted(node.children):
            child = node.children[name]
            place(child, cx, depth + 1)
            cx += child.value * scale

    place(root, 0.0, 0)
    return boxes


def hot_colour(name: str) -> str:
    """Gregg's "hot" palette, chosen by a hash of the name so a frame keeps its colour."""
    h = hashlib.md5(name.encode("utf-8")).digest()
    v1, v2, v3 = h[0] / 255, h[1] / 255, h[2] / 255
    return f"rgb({205 + int(50 * v3)},{int(230 * v1)},{int(55 * v2)})"


def aqua_colour(name: str) -> str:
    """A cool palette for highlighted frames (the side's own code)."""
    h = hashlib.md5(name.encode("utf-8")).digest()
    v1, v2 = h[0] / 255, h[1] / 255
    return f"rgb({50 + int(60 * v1)},{165 + int(55 * v1)},{165 + int(55 * v2)})"


def text_colour(fill: str) -> str:
    """Black on light fills, white on dark ones (deep blue in a flame diff)."""
    import re

    m = re.match(r"rgb\((\d+),(\d+),(\d+)\)", fill.replace(" ", ""))
    if not m:
        return "#000"
    r, g, b = (int(v) for v in m.groups())
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b >= 110 else "#fff"


def format_seconds(s: float) -> str:
    """Seconds in the unit that reads best: 1.23 s, 4.56 ms, 7.89 us, 12 ns."""
    a = abs(s)
    if a >= 1:
        return f"{s:.3g} s"
    if a >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    if a >= 1e-6:
        return f"{s * 1e6:.3g} us"
    return f"{s * 1e9:.3g} ns"


def fit_label(name: str, fits: int) -> str:
    """``name`` shortened to ``fits`` characters, dropping leading dotted parts first."""
    if fits < 3:
        return ""
    if len(name) <= fits:
        return name
    parts = name.split(".")
    for i in range(1, len(parts)):
        tail = ".".join(parts[i:])
        if len(tail) <= fits:
            return tail
    tail = parts[-1]
    return tail if len(tail) <= fits else tail[: fits - 2] + ".."


class FlameGraphSVG:
    """Renders a :class:`Node` tree as a static flame graph SVG (one class per output format)."""

    def __init__(self, *, title: str, subtitle: str = "", width: int = 1200, frame_height: int = 17,
                 font_size: float = 11.0, min_width_px: float = 0.3) -> None:
        self.title = title
        self.subtitle = subtitle
        self.width = width
        self.frame_height = frame_height
        self.font_size = font_size
        self.min_width_px = min_width_px
        self.pad = 10

    def label(self, name: str, width_px: float) -> str:
        """What fits in ``width_px``: the whole name, else its tail (``NoDupeGuard.add`` of
        ``reference.dedup_store.NoDupeGuard.add``), else the tail cut with ".."; "" when not even
        3 characters fit."""
        return fit_label(name, int((width_px - 6) / (self.font_size * 0.59)))

    def render(self, root: Node, *, default_fill: Callable[[str], str] = hot_colour,
               default_title: Optional[Callable[[Node], str]] = None) -> str:
        inner = self.width - 2 * self.pad
        boxes = layout(root, inner, min_width_px=self.min_width_px)
        depth = max((b.depth for b in boxes), default=0) + 1
        top = 50 if self.subtitle else 36
        height = top + depth * self.frame_height + 30
        fh = self.frame_height
        total = root.value or 1.0
        out = [
            '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{self.width}" '
            f'height="{height}" viewBox="0 0 {self.width} {height}">',
            "<defs>",
            '<pattern id="hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
            'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" '
            'stroke="rgba(0,0,0,0.45)" stroke-width="2"/></pattern>',
            "</defs>",
            f"<style>text {{ font-family: {FONT_FAMILY}; font-size: {self.font_size}px; fill: #000; }}"
            " .frame:hover rect { stroke: #000; stroke-width: 0.8; } .t { font-size: 16px; }"
            " .s { fill: #444; }</style>",
            f'<rect x="0" y="0" width="{self.width}" height="{height}" fill="#fbfbf6"/>',
            f'<text class="t" x="{self.width / 2:.1f}" y="22" text-anchor="middle">{escape(self.title)}</text>',
        ]
        if self.subtitle:
            out.append(f'<text class="s" x="{self.width / 2:.1f}" y="40" text-anchor="middle">'
                       f"{escape(self.subtitle)}</text>")
        hidden = sum(1 for _ in root.walk()) - len(boxes)
        for b in boxes:
            node = b.node
            y = top + (depth - 1 - b.depth) * fh
            x = self.pad + b.x
            fill = node.fill or default_fill(node.name)
            if node.title is not None:
                tip = node.title
            elif default_title is not None:
                tip = default_title(node)
            else:
                tip = f"{node.name}\n{format_seconds(node.value)} ({100 * node.value / total:.1f}%)"
            out.append(f'<g class="frame"><title>{escape(tip)}</title>'
                       f'<rect x="{x:.2f}" y="{y}" width="{b.width:.2f}" height="{fh - 1}" '
                       f'fill={quoteattr(fill)} rx="2" ry="2"/>')
            if node.hatched:
                out.append(f'<rect x="{x:.2f}" y="{y}" width="{b.width:.2f}" height="{fh - 1}" '
                           'fill="url(#hatch)" rx="2" ry="2"/>')
            text = self.label(node.name, b.width)
            if text:
                colour = text_colour(fill)
                style = f' style="fill:{colour}"' if colour != "#000" else ""
                out.append(f'<text x="{x + 3:.2f}" y="{y + fh - 5}"{style}>{escape(text)}</text>')
            out.append("</g>")
        foot = f"{len(boxes)} frames drawn"
        if hidden > 0:
            foot += f", {hidden} narrower than {self.min_width_px:g} px left out"
        out.append(f'<text class="s" x="{self.pad}" y="{height - 10}">{escape(foot)}</text>')
        out.append("</svg>")
        return "\n".join(out) + "\n"


def single_side_tree(folded: FoldedStacks, *, root_name: str, highlight: tuple[str, ...] = ()) -> Node:
    """The tree of one profile, times per call when ``calls`` is known; ``highlight`` prefixes
    (the side's own modules) are drawn in the cool palette, everything else in the hot one."""
    per_call = folded.per_call() if folded.calls > 0 else folded
    root = tree_from_folded(per_call, root_name)
    total = root.value or 1.0
    unit = "per call" if folded.calls > 0 else "total"
    for node in root.walk():
        if highlight and node.name.startswith(highlight):
            node.fill = aqua_colour(node.name)
        node.title = (f"{node.name}\n{format_seconds(node.value)} {unit} ({100 * node.value / total:.1f}%),"
                      f" self {format_seconds(node.self_value)}")
    return root


def write_flamegraph(folded: FoldedStacks, path: Path, *, title: str, subtitle: str = "",
                     highlight: tuple[str, ...] = (), root_name: str = "all") -> Path:
    """Render one profile's folded stacks to an SVG flame graph at ``path``."""
    root = single_side_tree(folded, root_name=root_name, highlight=highlight)
    svg = FlameGraphSVG(title=title, subtitle=subtitle).render(root)
    return atomic_write_text(Path(path), svg)
