"""Inline SVG charts: a pod timeline per test (Gantt-like) and bar charts for figures.

Plain SVG strings, no scripts and no external fonts, so the report renders from a file with
no network and prints the same. Colours carry meaning only together with a legend and a
``<title>`` on every shape (hover text), never alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH = 960
ROW_H = 18
ROW_GAP = 4
AXIS_H = 24
#: Rough width of one label character at the 11 px chart font (DejaVu Sans), for the label column.
CHAR_W = 6.6

POD_COLOURS: Mapping[str, str] = {
    "pending": "#c3c9d2",
    "running": "#f0b93a",
    "ready": "#3a9d5d",
    "terminating": "#d0473f",
    "succeeded": "#6c8ebf",
    "failed": "#7a1f1f",
}
NODE_COLOURS: Mapping[str, str] = {
    "ready": "#dfeee3",
    "cordoned": "#f0a04b",
    "not-ready": "#d0473f",
    "gone": "#555555",
}
BAR_COLOUR = "#4a78b5"
WHISKER_COLOUR = "#1f3a5f"


def _num(value: float) -> str:
    return f"{round(value, 3):g}"


def _label_width(labels: Sequence[str]) -> float:
    """Wide enough for the longest row label, within bounds that leave the plot most of the width."""
    return max(110.0, min(400.0, CHAR_W * max((len(t) for t in labels), default=0) + 14))


def _row_label(x: float, y: float, text: str) -> str:
    return f'<text x="{x - 6:.0f}" y="{y + 13}" text-anchor="end" class="row">{escape(text)}</text>'


def _ticks(end: float, count: int = 6) -> list[float]:
    """Round tick steps (1, 2, 5 × 10^n) covering 0..end."""
    if end <= 0:
        return [0.0]
    raw = end / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks, t = [], 0.0
    while t <= end + 1e-9:
        ticks.append(round(t, 6))
        t += step
    return ticks


def _axis(x0: float, width: float, end: float, y: float, unit: str = "s") -> list[str]:
    parts = [f'<line x1="{x0:.1f}" y1="{y}" x2="{x0 + width:.1f}" y2="{y}" stroke="#888"/>']
    for tick in _ticks(end):
        x = x0 + width * tick / end if end > 0 else x0
        parts.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#888"/>')
        parts.append(f'<text x="{x:.1f}" y="{y + 15}" text-anchor="middle" class="tick">{_num(tick)}{unit}</text>')
    return parts


def _svg(height: float, label: str, body: Sequence[str], css_class: str) -> str:
    return (
        f'<svg class="{css_class}" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>' + "".join(body) + "</svg>"
    )


def _legend(colours: Mapping[str, str], y: float, x: float) -> list[str]:
    parts = []
    for name, colour in colours.items():
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16:.1f}" y="{y + 10}" class="legend">{escape(name)}</text>')
        x += 24 + CHAR_W * len(name)
    return parts


def _pod_label(pod: Mapping[str, Any]) -> str:
    """``web-1 · 6a57a430 · node-2``: the node is fixed for one pod object, so it goes in the label."""
    nodes = [c[2] for c in pod.get("changes") or [] if c[2]]
    return " · ".join(str(p) for p in (pod.get("pod"), pod.get("uid") or "-", nodes[-1] if nodes else None) if p)


def pod_timeline(timeline: Mapping[str, Any], label: str) -> str:
    """One row per pod incarnation: coloured spans per state, a cross where it was gone.

    Node rows follow (cordoned, not ready) when a node changed while the test ran.
    """
    pods: list[Mapping[str, Any]] = list(timeline.get("pods") or [])
    nodes: list[Mapping[str, Any]] = list(timeline.get("nodes") or [])
    times = [float(timeline.get("end") or 0.0)]
    times += [float(c[0]) for p in pods for c in p.get("changes") or []]
    times += [float(p["gone"]) for p in pods if p.get("gone") is not None]
    end = max(times) if max(times) > 0 else 1.0
    labels = [_pod_label(p) for p in pods] + [f"node {n.get('node')}" for n in nodes]
    x0 = _label_width(labels)
    plot_w = WIDTH - x0 - 20
    height = AXIS_H + len(labels) * (ROW_H + ROW_GAP) + 40

    def x_of(t: float) -> float:
        return x0 + plot_w * max(0.0, min(t, end)) / end

    body: list[str] = []
    shown: dict[str, str] = {}
    y = 8.0
    for pod, row in zip(pods, labels, strict=False):
        changes = list(pod.get("changes") or [])
        gone = pod.get("gone")
        body.append(_row_label(x0, y, row))
        for i, (t, state, node) in enumerate(changes):
            stop = changes[i + 1][0] if i + 1 < len(changes) else (gone if gone is not None else end)
            x1, x2 = x_of(float(t)), x_of(float(stop))
            tip = (
                f"{pod.get('pod')} {state}" + (f" on {node}" if node else "") + f" from {t:.2f}s to {float(stop):.2f}s"
            )
            shown[state] = POD_COLOURS.get(state, "#999")
            body.append(
                f'<rect x="{x1:.1f}" y="{y}" width="{max(x2 - x1, 1.0):.1f}" height="{ROW_H}" '
                f'fill="{shown[state]}" class="span {escape(state)}"><title>{escape(tip)}</title></rect>'
            )
        if gone is not None:
            xg = x_of(float(gone))
            body.append(
                f'<path d="M{xg - 4:.1f},{y + 5} l8,8 m0,-8 l-8,8" stroke="#000" stroke-width="1.5">'
                f"<title>{escape(str(pod.get('pod')))} gone at {float(gone):.2f}s</title></path>"
            )
        y += ROW_H + ROW_GAP
    for node, row in zip(nodes, labels[len(pods) :], strict=False):
        changes = list(node.get("changes") or [])
        body.append(_row_label(x0, y, row))
        for i, (t, state) in enumerate(changes):
            stop = changes[i + 1][0] if i + 1 < len(changes) else end
            x1, x2 = x_of(float(t)), x_of(float(stop))
            shown[f"node {state}"] = NODE_COLOURS.get(state, "#999")
            body.append(
                f'<rect x="{x1:.1f}" y="{y + 4}" width="{max(x2 - x1, 1.0):.1f}" height="{ROW_H - 8}" '
                f'fill="{shown[f"node {state}"]}"><title>{escape(f"{row} {state} from {t:.2f}s")}</title></rect>'
            )
        y += ROW_H + ROW_GAP
    body += _axis(x0, plot_w, end, y + 2)
    body += _legend(shown, y + 22, x0)
    return _svg(height, label, body, "timeline")


@dataclass(frozen=True)
class Bar:
    """One bar: ``value`` drawn, ``low``..``high`` as a whisker, ``note`` as hover text and value label."""

    label: str
    value: float
    low: float | None = None
    high: float | None = None
    note: str = ""
    text: str = ""


def bar_chart(bars: Sequence[Bar], label: str, unit: str = "s") -> str:
    """Horizontal bars with value labels and optional whiskers, on a shared axis from 0."""
    if not bars:
        return ""
    end = max(max(b.value, b.high or 0.0) for b in bars) * 1.1 or 1.0
    x0 = _label_width([b.label for b in bars])
    plot_w = WIDTH - x0 - 150
    height = AXIS_H + len(bars) * (ROW_H + ROW_GAP) + 16
    body: list[str] = []
    y = 8.0
    for bar in bars:
        x2 = x0 + plot_w * bar.value / end
        tip = bar.note or f"{bar.label}: {bar.value:.3f}{unit}"
        body.append(_row_label(x0, y, bar.label))
        body.append(
            f'<rect x="{x0:.1f}" y="{y}" width="{max(x2 - x0, 1.0):.1f}" height="{ROW_H}" fill="{BAR_COLOUR}" '
            f'class="bar"><title>{escape(tip)}</title></rect>'
        )
        if bar.low is not None and bar.high is not None:
            xl, xh = x0 + plot_w * bar.low / end, x0 + plot_w * bar.high / end
            mid = y + ROW_H / 2
            body.append(
                f'<path d="M{xl:.1f},{mid} H{xh:.1f} M{xl:.1f},{mid - 5} v10 M{xh:.1f},{mid - 5} v10" '
                f'stroke="{WHISKER_COLOUR}" stroke-width="1.5" fill="none"/>'
            )
        right = max(x2, x0 + plot_w * (bar.high or 0.0) / end)
        text = bar.text or f"{bar.value:.2f}{unit}"
        body.append(f'<text x="{right + 6:.1f}" y="{y + 13}" class="value">{escape(text)}</text>')
        y += ROW_H + ROW_GAP
    body += _axis(x0, plot_w, end, y + 2, unit)
    return _svg(height, label, body, "bars")
