"""Small inline SVG trend charts drawn on the server (no JavaScript needed)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

BLOOD_PRESSURE = {"8480-6": "收缩压", "8462-4": "舒张压"}
GLUCOSE = {"2339-0", "15074-8", "2345-7", "41653-7", "14743-9"}
WEIGHT = {"29463-7", "3141-9"}


def series_from(entries: list[dict[str, Any]]) -> dict[str, list[tuple[datetime, float, str]]]:
    """Readings from timeline entries: blood pressure (both lines), glucose, weight."""
    out: dict[str, list[tuple[datetime, float, str]]] = {
        "systolic": [], "diastolic": [], "glucose": [], "weight": []}
    for entry in entries:
        if entry.get("kind") != "observation":
            continue
        data = entry["data"]
        when = datetime.fromisoformat(entry["occurred_at"])
        for obs in [data, *data.get("components", [])]:
            code = (obs.get("code") or {}).get("code", "")
            value = obs.get("value_quantity")
            if value in (None, ""):
                continue
            point = (when, float(value), entry["source"]["organisation"])
            if code == "8480-6":
                out["systolic"].append(point)
            elif code == "8462-4":
                out["diastolic"].append(point)
            elif code in GLUCOSE:
                out["glucose"].append(point)
            elif code in WEIGHT:
                out["weight"].append(point)
    return out


def svg(lines: list[list[tuple[datetime, float, str]]], colours: list[str],
        width: int = 560, height: int = 160) -> str:
    """A line chart of one or more series sharing axes."""
    points = [p for line in lines for p in line]
    if not points:
        return ""
    t0 = min(p[0] for p in points).timestamp()
    t1 = max(p[0] for p in points).timestamp()
    lo, hi = min(p[1] for p in points), max(p[1] for p in points)
    span_t, span_v = max(t1 - t0, 1.0), max(hi - lo, 1.0)
    pad = 28

    def xy(p: tuple[datetime, float, str]) -> tuple[float, float]:
        x = pad + (p[0].timestamp() - t0) / span_t * (width - 2 * pad)
        y = height - pad - (p[1] - lo) / span_v * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    parts = [f'<svg viewBox="0 0 {width} {height}" class="chart" role="img">',
             f'<text x="2" y="{pad}" class="axis">{hi:g}</text>',
             f'<text x="2" y="{height - pad}" class="axis">{lo:g}</text>']
    for line, colour in zip(lines, colours, strict=False):
        coords = [xy(p) for p in sorted(line)]
        if len(coords) > 1:
            path = " ".join(f"{x},{y}" for x, y in coords)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{path}"/>')
        for (x, y), p in zip(coords, sorted(line), strict=True):
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}">'
                         f'<title>{p[0]:%Y-%m-%d} {p[1]:g} ({p[2]})</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def shown(value: Any) -> str:
    """A number as people read it (no trailing .0), anything else as it is."""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def figure(indicator: dict[str, Any]) -> str:
    """An indicator's headline: a rate (it has a denominator) as a percentage, else the count."""
    value = indicator.get("value")
    if value is None:
        return "—"
    if is_ratio(indicator):
        return f"{value * 100:.1f}%"
    return shown(value)


def is_ratio(indicator: dict[str, Any]) -> bool:
    """A plain numerator / denominator (shown as %), not a scaled rate such as per 1,000
    resident-days (its formula multiplies: "× 1000") nor a count."""
    value, numerator, denominator = (indicator.get(k) for k in ("value", "numerator",
                                                                "denominator"))
    if not denominator or not isinstance(value, int | float) or "×" in indicator.get(
            "formula", ""):
        return False
    return abs(value - float(numerator or 0) / float(denominator)) < 1e-3


def bars(breakdown: list[dict[str, Any]], width: int = 420) -> str:
    """A horizontal bar chart of an indicator's breakdown: each label above its bar and value
    (labels keep the full width, so long team names stay readable on a phone)."""
    rows = [b for b in breakdown if isinstance(b.get("value"), int | float)]
    if not rows:
        return ""
    top = max(float(b["value"]) for b in rows) or 1.0
    row_h, value_w = 36, 64
    height = row_h * len(rows) + 4
    parts = [f'<svg viewBox="0 0 {width} {height}" class="chart bars" role="img">']
    for i, b in enumerate(rows):
        y = 4 + i * row_h
        length = max((width - 8 - value_w) * float(b["value"]) / top, 1.0)
        label = escape(str(b.get("label", "")))
        value = shown(b["value"])
        parts.append(f'<text x="4" y="{y + 12}" class="label">{label}</text>')
        parts.append(f'<rect x="4" y="{y + 17}" width="{length:.1f}" height="12" fill="#1a6fb0">'
                     f'<title>{label}: {value}</title></rect>')
        parts.append(f'<text x="{length + 10:.1f}" y="{y + 28}" class="label">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)
