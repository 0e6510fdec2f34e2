"""The stats page: utilization, no-show rates and cancellations of a day or a week, as
server-rendered SVG bar charts with the same numbers in a table beside each."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render

from desk.views.common import HtmxHttpRequest, current_clinic, frame, local_now, parse_date, reply, staff_view
from scheduling import overview

PERIODS = (("day", "Day"), ("week", "Week"))

# Chart geometry, in SVG user units: names on the left, bars, the value after each bar.
LABEL_WIDTH = 150
PLOT_WIDTH = 230
VALUE_WIDTH = 110
ROW_HEIGHT = 26
BAR_HEIGHT = 16
TOP = 22  # room for the scale above the bars
LABEL_CHARS = 22


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def hours(minutes: int) -> str:
    """``390`` → ``"6:30 h"``: how the desk reads a working day."""
    return f"{minutes // 60}:{minutes % 60:02d} h"


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    css: str


@dataclass(frozen=True)
class Bar:
    label: str
    full_label: str
    y: float
    segments: list[Segment]
    value: str
    value_x: float

    @property
    def text_y(self) -> float:
        return self.y + BAR_HEIGHT / 2


@dataclass(frozen=True)
class Tick:
    x: float
    label: str
    css: str = ""


@dataclass(frozen=True)
class Chart:
    """One horizontal bar chart; ``id`` names its <title> and <desc> for ``aria-labelledby``."""

    id: str
    title: str
    description: str
    bars: list[Bar]
    ticks: list[Tick]
    legend: list[tuple[str, str]]
    width: int = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH

    @property
    def height(self) -> int:
        return TOP + ROW_HEIGHT * max(len(self.bars), 1)

    @property
    def label_x(self) -> int:
        return LABEL_WIDTH - 8

    @property
    def bar_height(self) -> int:
        return BAR_HEIGHT

    @property
    def top(self) -> int:
        return TOP


def _short(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    rows: Sequence[tuple[str, Sequence[tuple[float, str]], str]],
    *,
    scale: float,
    ticks: Sequence[tuple[float, str, str]],
    legend: Sequence[tuple[str, str]] = (),
) -> Chart:
    """``rows``: (name, [(value, css class) stacked left to right], value text); values and
    ticks are in the units of ``scale``, the value at the right end of the plot."""
    scale = scale or 1.0
    bars = []
    for i, (name, parts, value_text) in enumerate(rows):
        y = TOP + i * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2
        x = float(LABEL_WIDTH)
        segments = []
        for value, css in parts:
            width = round(PLOT_WIDTH * max(value, 0) / scale, 1)
            if width > 0:
                segments.append(Segment(x=round(x, 1), width=width, css=css))
            x += width
        bars.append(
            Bar(
                label=_short(name),
                full_label=name,
                y=y,
                segments=segments,
                value=value_text,
                value_x=round(x + 6, 1),
            )
        )
    return Chart(
        id=chart_id,
        title=title,
        description=description,
        bars=bars,
        ticks=[Tick(x=round(LABEL_WIDTH + PLOT_WIDTH * v / scale, 1), label=t, css=c) for v, t, c in ticks],
        legend=list(legend),
    )


def _utilization_chart(chart_id: str, title: str, usages: Sequence[overview.Usage]) -> Chart:
    # Overbooking can push a day past 100 %: the scale grows, the 100 % line stays marked.
    top = max([1.0] + [u.utilization for u in usages])
    scale = math.ceil(top * 4) / 4
    ticks = [(0.0, "0%", ""), (0.5, "50%", ""), (1.0, "100%", "full")]
    if scale > 1:
        ticks.append((scale, percent(scale).replace(".0%", "%"), ""))
    return bar_chart(
        chart_id,
        title,
        "Booked time as a share of available time; "
        + "; ".join(f"{u.name} {percent(u.utilization)}" for u in usages),
        [
            (
                u.name,
                [(u.utilization, "bar-use" if u.utilization <= 1 else "bar-over")],
                percent(u.utilization),
            )
            for u in usages
        ],
        scale=scale,
        ticks=ticks,
    )


def _rate_chart(chart_id: str, title: str, rates: Sequence[overview.Rate]) -> Chart:
    top = max([0.0] + [r.rate for r in rates])
    scale = max(math.ceil(top * 10) / 10, 0.1)
    return bar_chart(
        chart_id,
        title,
        "No-shows as a share of appointments with a known outcome; "
        + "; ".join(f"{r.name} {percent(r.rate)}" for r in rates),
        [(r.name, [(r.rate, "bar-noshow")], percent(r.rate)) for r in rates],
        scale=scale,
        ticks=[(0.0, "0%", ""), (scale / 2, f"{scale * 50:.0f}%", ""), (scale, f"{scale * 100:.0f}%", "")],
    )


def _cancellation_chart(usages: Sequence[overview.Usage]) -> Chart:
    top = max([1] + [u.cancellations for u in usages])
    scale = float(top)
    middle = [(float(top // 2), f"{top // 2}", "")] if top >= 2 else []
    return bar_chart(
        "chart-cancellations",
        "Cancellations and refills per provider",
        "Cancelled appointments, split into those whose time was booked again from the backfill "
        "list and those that were not; "
        + "; ".join(f"{u.name} {u.cancellations} cancelled, {u.backfilled} refilled" for u in usages),
        [
            (
                u.name,
                [(u.backfilled, "bar-refilled"), (u.cancellations - u.backfilled, "bar-lost")],
                f"{u.cancellations} ({u.backfilled} refilled)",
            )
            for u in usages
        ],
        scale=scale,
        ticks=[(0.0, "0", ""), *middle, (scale, f"{top}", "")],
        legend=[("bar-refilled", "refilled"), ("bar-lost", "not refilled")],
    )


def _daily_chart(daily: Sequence[dict[str, Any]]) -> Chart:
    usages = [
        overview.Usage(
            code=d["date"],
            name=f"{dt.date.fromisoformat(d['date']):%a %-d %b}",
            available_minutes=d["totals"]["available_minutes"],
            booked_minutes=d["totals"]["booked_minutes"],
        )
        for d in daily
    ]
    return _utilization_chart("chart-days", "Utilization by day, all providers", usages)


def period_of(request: HtmxHttpRequest, today: dt.date) -> tuple[str, dt.date, dt.date, dt.date]:
    """The period asked for: (``day`` or ``week``, the date, its first and last day); a
    week runs Monday to Sunday."""
    period = request.GET.get("period", "day")
    if period not in dict(PERIODS):
        period = "day"
    day = parse_date(request.GET.get("date")) or today
    if period == "week":
        first = day - dt.timedelta(days=day.weekday())
        return period, day, first, first + dt.timedelta(days=6)
    return period, day, day, day


@staff_view()
def stats(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    today = local_now(clinic).date()
    period, day, first, last = period_of(request, today)
    figures = overview.period_stats(clinic, first, last)
    step = dt.timedelta(days=7 if period == "week" else 1)
    charts = {
        "providers": _utilization_chart("chart-providers", "Utilization per provider", figures.providers),
        "rooms": _utilization_chart("chart-rooms", "Utilization per room", figures.rooms),
        "cancellations": _cancellation_chart(figures.providers),
        "no_show_providers": _rate_chart(
            "chart-noshow-providers", "No-show rate per provider", figures.no_show_by_provider
        ),
        "no_show_types": _rate_chart(
            "chart-noshow-types", "No-show rate per appointment type", figures.no_show_by_type
        ),
    }
    if period == "week":
        charts["days"] = _daily_chart(figures.daily)
    context = {
        **frame(request, clinic),
        "nav": "stats",
        "period": period,
        "periods": PERIODS,
        "day": day,
        "first": first,
        "last": last,
        "previous": day - step,
        "next": day + step,
        "figures": figures,
        "charts": charts,
        "providers": [_usage_row(u) for u in figures.providers],
        "rooms": [_usage_row(u) for u in figures.rooms],
        "totals": _usage_row(figures.totals),
        "days": [_day_row(d) for d in figures.daily],
        "rate_blocks": [
            (
                charts["no_show_providers"],
                _rate_rows(figures.no_show_by_provider),
                "Provider",
                "table-noshow-providers",
            ),
            (charts["no_show_types"], _rate_rows(figures.no_show_by_type), "Type", "table-noshow-types"),
        ],
    }
    if request.htmx:  # the period changed in place: say which one is on screen now
        message = f"Showing {_title(period, day, first, last)}."
        return reply(request, "desk/stats.html#stats", context, message=message)
    return render(request, "desk/stats.html", context)


def _title(period: str, day: dt.date, first: dt.date, last: dt.date) -> str:
    if period == "week":
        return f"the week of {first:%a %-d %b} – {last:%a %-d %b %Y}"
    return f"{day:%A %-d %B %Y}"


def _usage_row(u: overview.Usage) -> dict[str, Any]:
    refill = percent(u.backfilled / u.cancellations) if u.cancellations else "–"
    return {
        "usage": u,
        "booked": hours(u.booked_minutes),
        "available": hours(u.available_minutes),
        "utilization": percent(u.utilization),
        "refill_share": refill,
        "lost": u.cancellations - u.backfilled,
    }


def _rate_rows(rates: Sequence[overview.Rate]) -> list[dict[str, Any]]:
    return [
        {
            "code": r.code,
            "name": r.name,
            "appointments": r.appointments,
            "no_shows": r.no_shows,
            "rate_text": percent(r.rate),
            "date": r.date,
        }
        for r in rates
    ]


def _day_row(d: dict[str, Any]) -> dict[str, Any]:
    totals = d["totals"]
    return {
        "date": dt.date.fromisoformat(d["date"]),
        "booked": hours(totals["booked_minutes"]),
        "available": hours(totals["available_minutes"]),
        "utilization": percent(totals["utilization"]),
        "appointments": totals["appointments"],
        "cancellations": totals["cancellations"],
        "backfilled": totals["backfilled"],
        "no_shows": totals["no_shows"],
    }
