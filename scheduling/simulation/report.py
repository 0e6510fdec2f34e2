"""The simulator's report: a markdown table, and an SVG chart of utilization per week.

The chart is written by hand (a few dozen elements), so the simulator needs no plotting
library.
"""

from __future__ import annotations

import math
from typing import Any
from xml.sax.saxutils import escape

COLUMNS = (
    ("policy", None),
    ("booked utilization", "booked_utilization"),
    ("attended utilization", "attended_utilization"),
    ("cancelled minutes refilled", "refilled_share"),
    ("idle minutes (no-shows)", "idle_minutes"),
    ("overtime minutes", "overtime_minutes"),
    ("served", "served"),
    ("median wait (days)", "median_wait_days"),
    ("preferences met", "preferences_met"),
)
SHARES = {"booked_utilization", "attended_utilization", "refilled_share", "preferences_met"}
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _cell(key: str, value: Any) -> str:
    if key in SHARES:
        return f"{value * 100:.1f} %"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def markdown_table(report: dict[str, Any]) -> str:
    lines = [
        "| " + " | ".join(title for title, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for name, metrics in report["policies"].items():
        cells = [name] + [_cell(key, metrics[key]) for _, key in COLUMNS if key is not None]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def svg_chart(report: dict[str, Any]) -> str:
    """Booked (solid) and attended (dashed) utilization per week, one colour per policy."""
    policies = report["policies"]
    sim = report["simulation"]
    weeks = [w["week"] for w in next(iter(policies.values()))["weekly"]] if policies else []
    values = [
        w[key]
        for m in policies.values()
        for w in m["weekly"]
        for key in ("booked_utilization", "attended_utilization")
    ]
    # A floor below the lowest value, on a 5 % step, so differences of a few points show.
    low = max(0.0, math.floor((min(values, default=0.0) - 0.02) * 20) / 20)
    high = 1.0
    width, height = 960, 420
    left, right, top, bottom = 70, 600, 60, 340

    def x(i: int) -> float:
        if len(weeks) == 1:
            return (left + right) / 2
        return left + 30 + i * (right - left - 60) / (len(weeks) - 1)

    def y(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    title = (
        f"Utilization of bookable minutes per week: {sim['clinic']}, {sim['days']} working days "
        f"from {sim['first_day']}, seed {sim['seed']}"
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="28" text-anchor="middle" font-size="15" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    step = 0.05 if high - low <= 0.5 else 0.1
    tick = low
    while tick <= high + 1e-9:
        out.append(f'<line x1="{left}" x2="{right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick * 100:.0f} %</text>')
        tick = round(tick + step, 4)
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" stroke="#333"/>')
    out.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#333"/>')
    out.append(
        f'<text transform="translate(18 {(top + bottom) / 2}) rotate(-90)" text-anchor="middle">'
        "share of bookable minutes</text>"
    )
    first_days = [w["first_day"] for w in next(iter(policies.values()))["weekly"]] if policies else []
    for i, (week, first_day) in enumerate(zip(weeks, first_days, strict=True)):
        out.append(f'<text x="{x(i):.1f}" y="{bottom + 20}" text-anchor="middle">{escape(week)}</text>')
        out.append(
            f'<text x="{x(i):.1f}" y="{bottom + 35}" text-anchor="middle" fill="#666">from {first_day}</text>'
        )
    out.append(f'<text x="{(left + right) / 2}" y="{bottom + 60}" text-anchor="middle">week</text>')

    drawn: dict[str, str] = {}  # each policy's weekly figures, to name the lines that coincide
    for n, (name, metrics) in enumerate(policies.items()):
        colour = COLOURS[n % len(COLOURS)]
        figures = repr([(w["booked_utilization"], w["attended_utilization"]) for w in metrics["weekly"]])
        same_as = drawn.setdefault(figures, name)
        for key, dash in (("booked_utilization", ""), ("attended_utilization", ' stroke-dasharray="6 4"')):
            points = " ".join(f"{x(i):.1f},{y(w[key]):.1f}" for i, w in enumerate(metrics["weekly"]))
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
            for i, w in enumerate(metrics["weekly"]):
                label = f"{name}, {w['week']}: {key.split('_')[0]} {w[key] * 100:.1f} %"
                out.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(w[key]):.1f}" r="3.5" fill="{colour}">'
                    f"<title>{escape(label)}</title></circle>"
                )
        legend_y = top + 10 + n * 22
        out.append(
            f'<line x1="{right + 25}" x2="{right + 55}" y1="{legend_y}" y2="{legend_y}" '
            f'stroke="{colour}" stroke-width="3"/>'
        )
        label = name if same_as == name else f"{name} (= {same_as})"
        out.append(f'<text x="{right + 62}" y="{legend_y + 4}">{escape(label)}</text>')
    key_y = top + 20 + len(policies) * 22
    out.append(
        f'<line x1="{right + 25}" x2="{right + 55}" y1="{key_y}" y2="{key_y}" '
        'stroke="#333" stroke-width="2"/>'
    )
    out.append(f'<text x="{right + 62}" y="{key_y + 4}">booked</text>')
    out.append(
        f'<line x1="{right + 25}" x2="{right + 55}" y1="{key_y + 20}" y2="{key_y + 20}" stroke="#333" '
        'stroke-width="2" stroke-dasharray="6 4"/>'
    )
    out.append(f'<text x="{right + 62}" y="{key_y + 24}">attended</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
