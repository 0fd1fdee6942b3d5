"""Tiny server-side SVG charts: bar, stacked bar and line, with no JavaScript and no network.

Each chart is an inline <svg role="img"> with a <title> and <desc> (read by screen
readers), a text label with the number on every bar or point, and a legend in text.
Colours are presentation attributes (allowed by the console's CSP, which forbids
inline style). Callers pass already-aggregated numbers and a formatter.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

# Distinguishable colours with at least 4.5:1 contrast to white, so white numbers inside bars stay legible.
PALETTE = ["#1f5fa8", "#a65200", "#2e7d32", "#b0306f", "#5b4bc4", "#7a5c1e", "#0b7285", "#5f6368"]

_ids = itertools.count(1)


def _fmt_default(v: float) -> str:
    return f"{v:,}"


def _frame(title: str, desc: str, width: int, height: int, body: list[str]) -> Markup:
    n = next(_ids)
    tid, did = f"chart{n}-title", f"chart{n}-desc"
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="{tid} {did}" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{tid}">{escape(title)}</title><desc id="{did}">{escape(desc)}</desc>'
        + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12, fill: str = "#1a1a1a",
          weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}">{escape(text)}</text>')


def _legend(names: Sequence[str], x: float, y: float, width: float) -> tuple[list[str], float]:
    """Legend items flowing left to right; returns the SVG parts and the height used."""
    parts, cx, cy = [], x, y
    for i, name in enumerate(names):
        w = 22 + 13 * len(name)
        if cx + w > x + width and cx > x:
            cx, cy = x, cy + 20
        parts.append(f'<rect x="{cx:.1f}" y="{cy - 10:.1f}" width="12" height="12" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(_text(cx + 16, cy, name))
        cx += w + 10
    return parts, (cy - y) + 24


def empty(title: str, message: str = "暂无数据") -> Markup:
    return _frame(title, message, 640, 60, [_text(10, 35, message, fill="#555")])


def bar(title: str, desc: str, items: Sequence[tuple[str, float]], *,
        fmt: Callable[[float], str] = _fmt_default, width: int = 640) -> Markup:
    """Horizontal bars, one per (label, value), value printed at the bar's end."""
    if not items:
        return empty(title)
    label_w, row_h, value_w = 170, 26, 110
    plot_w = width - label_w - value_w
    top = max((v for _, v in items), default=0) or 1
    body = []
    for i, (label, value) in enumerate(items):
        y = 10 + i * row_h
        w = max(plot_w * value / top, 1 if value else 0)
        body.append(_text(label_w - 8, y + 15, _clip(label, 13), anchor="end"))
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{PALETTE[0]}">'
                    f'<title>{escape(label)}：{escape(fmt(value))}</title></rect>')
        body.append(_text(label_w + w + 6, y + 15, fmt(value)))
    return _frame(title, desc, width, 20 + len(items) * row_h, body)


def stacked_bar(title: str, desc: str, rows: Sequence[tuple[str, Sequence[float]]], series: Sequence[str], *,
                fmt: Callable[[float], str] = _fmt_default, width: int = 640) -> Markup:
    """Horizontal stacked bars: one row per category, one segment per series, the total printed after."""
    if not rows:
        return empty(title)
    label_w, row_h, value_w = 110, 28, 90
    plot_w = width - label_w - value_w
    top = max((sum(v) for _, v in rows), default=0) or 1
    body, legend_h = [], 0
    legend, legend_h = _legend(series, 10, 18, width - 20)
    body.extend(legend)
    y0 = legend_h + 6
    for i, (label, values) in enumerate(rows):
        y = y0 + i * row_h
        body.append(_text(label_w - 8, y + 17, _clip(label, 8), anchor="end"))
        x = float(label_w)
        for j, value in enumerate(values):
            if not value:
                continue
            w = plot_w * value / top
            body.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                        f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(label)} {escape(series[j])}：'
                        f'{escape(fmt(value))}</title></rect>')
            if w >= 34:   # the segment's own number when it fits inside
                body.append(_text(x + w / 2, y + 18, fmt(value), anchor="middle", size=11, fill="#ffffff"))
            x += w
        body.append(_text(x + 6, y + 18, fmt(sum(values)), weight="bold"))
    return _frame(title, desc, width, y0 + len(rows) * row_h + 8, body)


def stacked_columns(title: str, desc: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]],
                    *, fmt: Callable[[float], str] = _fmt_default, width: int = 720, height: int = 300) -> Markup:
    """Vertical stacked columns (e.g. months), one segment per series, the column total printed on top."""
    if not categories or not series or not any(any(v) for _, v in series):
        return empty(title)
    legend, legend_h = _legend([n for n, _ in series], 10, 18, width - 20)
    left, bottom, top_pad = 10, 40, legend_h + 24
    plot_h = height - bottom - top_pad
    col_w = (width - left * 2) / len(categories)
    totals = [sum(values[i] for _, values in series) for i in range(len(categories))]
    top = max(totals) or 1
    body = list(legend)
    base_y = height - bottom
    body.append(f'<line x1="{left}" y1="{base_y}" x2="{width - left}" y2="{base_y}" stroke="#555"/>')
    for i, cat in enumerate(categories):
        x = left + i * col_w + col_w * 0.15
        w = col_w * 0.7
        y = float(base_y)
        for j, (name, values) in enumerate(series):
            value = values[i]
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                        f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(cat)} {escape(name)}：'
                        f'{escape(fmt(value))}</title></rect>')
        if totals[i]:
            body.append(_text(x + w / 2, y - 4, fmt(totals[i]), anchor="middle", size=10))
        body.append(_text(x + w / 2, base_y + 16, cat[2:] if len(cat) == 7 else cat, anchor="middle", size=11))
    return _frame(title, desc, width, height, body)


def line(title: str, desc: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *,
         fmt: Callable[[float], str] = _fmt_default, width: int = 720, height: int = 260) -> Markup:
    """Lines over shared x labels, each point labelled with its number."""
    if not labels or not series:
        return empty(title)
    legend, legend_h = _legend([n for n, _ in series], 10, 18, width - 20)
    left, right, bottom, top_pad = 30, 30, 36, legend_h + 20
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    top = max((max(v) for _, v in series if v), default=0) or 1
    step = plot_w / max(len(labels) - 1, 1)
    body = list(legend)
    base_y = height - bottom
    body.append(f'<line x1="{left}" y1="{base_y}" x2="{width - right}" y2="{base_y}" stroke="#555"/>')
    for i, label in enumerate(labels):
        body.append(_text(left + i * step, base_y + 16, label[2:] if len(label) == 7 else label,
                          anchor="middle", size=11))
    for j, (name, values) in enumerate(series):
        colour = PALETTE[j % len(PALETTE)]
        points = [(left + i * step, base_y - plot_h * v / top) for i, v in enumerate(values)]
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                    + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
        for (x, y), v, label in zip(points, values, labels, strict=True):
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
                        f'<title>{escape(label)} {escape(name)}：{escape(fmt(v))}</title></circle>')
            body.append(_text(x, y - 7, fmt(v), anchor="middle", size=10))
    return _frame(title, desc, width, height, body)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
