"""Charts as SVG drawn on the server: bars for counts by category, lines for counts over
time. Labelled for screen readers (role=img, a title), colours from the stylesheet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

__all__ = ["bars", "lines"]

_PALETTE = 8  # series colours: classes s0..s7 in console.css


def bars(title: str, items: Sequence[tuple[str, int]], width: int = 640) -> Markup:
    """Horizontal bars, one per (label, count)."""
    if not items:
        return Markup('<p class="empty">{}: nothing yet.</p>').format(title)
    row, label_w = 26, 180
    top = max(count for _, count in items) or 1
    height = row * len(items) + 10
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, count) in enumerate(items):
        y = 5 + i * row
        bar = max(1, int((width - label_w - 70) * count / top))
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="s0" x="{label_w}" y="{y + 3}" width="{bar}" height="{row - 8}"/>'
            f'<text x="{label_w + bar + 6}" y="{y + 16}">{count:,}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(
    title: str, series: Mapping[str, Mapping[str, int]], width: int = 720, height: int = 260
) -> Markup:
    """One line per series over the periods (sorted labels like 2026-11-02 or 2026-11)."""
    periods = sorted({p for points in series.values() for p in points})
    if not periods:
        return Markup('<p class="empty">{}: nothing yet.</p>').format(title)
    if len(periods) == 1:  # a line needs two periods: the one period's counts as bars
        counts = sorted(((n, sum(p.values())) for n, p in series.items()), key=lambda x: -x[1])
        return bars(f"{title} ({periods[0]})", counts)
    left, bottom, top_pad, right = 56, 40, 10, 10
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    top = max(c for points in series.values() for c in points.values()) or 1
    step = plot_w / max(1, len(periods) - 1)

    def x(i: int) -> float:
        return left + i * step

    def y(count: int) -> float:
        return top_pad + plot_h * (1 - count / top)

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line class="axis" x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" '
        f'y2="{top_pad + plot_h}"/><line class="axis" x1="{left}" y1="{top_pad}" x2="{left}" '
        f'y2="{top_pad + plot_h}"/>',
        f'<text x="{left - 6}" y="{top_pad + 10}" text-anchor="end">{top:,}</text>'
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end">0</text>',
    ]
    every = max(1, len(periods) // 6)  # about six period labels
    for i in range(0, len(periods), every):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 20}" text-anchor="middle">'
            f"{escape(periods[i])}</text>"
        )
    for n, (name, points) in enumerate(sorted(series.items())):
        path = " ".join(f"{x(i):.1f},{y(points.get(p, 0)):.1f}" for i, p in enumerate(periods))
        parts.append(
            f'<polyline class="line s{n % _PALETTE}" points="{path}"><title>{escape(name)}'
            "</title></polyline>"
        )
        if len(periods) <= 40:  # points a reader can see (one period alone draws no line)
            parts += [
                f'<circle class="s{n % _PALETTE}" cx="{x(i):.1f}" cy="{y(points[p]):.1f}" '
                f'r="3"><title>{escape(name)} {escape(p)}: {points[p]:,}</title></circle>'
                for i, p in enumerate(periods)
                if p in points
            ]
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="key s{n % _PALETTE}"></span>{escape(name)}</li>'
        for n, name in enumerate(sorted(series))
    )
    return Markup("".join(parts) + f'<ul class="legend">{legend}</ul>')
