"""Server-side SVG charts: a donut (allocation), bars (monthly income), a price line with ATR bands.

Pictures, not tables only, yet readable by everyone: each chart is an `<svg role="img">` labelled
by its own `<title>` and a `<desc>` that states the numbers in words; every mark carries a `<title>`
(a native tooltip). Colours come from CSS classes where they mean something (gain, loss, band), so
the light and dark themes both work. Geometry is float (it is drawing, not money); labels are
formatted from the exact Decimals. No JavaScript is needed to see any chart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from markupsafe import Markup, escape

from foliosync.web.formatting import compact_money, number, percent

# Distinguishable on light and dark backgrounds (a colour-blind-safe order first: blue, orange,
# teal, vermillion, purple...), then a few more for long tails.
PALETTE = (
    "#3b82f6",
    "#f59e0b",
    "#14b8a6",
    "#ef4444",
    "#8b5cf6",
    "#84cc16",
    "#ec4899",
    "#06b6d4",
    "#a16207",
    "#64748b",
)


def palette_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _f(value: float) -> str:
    """Coordinates with two decimals, no trailing zeros (short, stable markup)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _open_svg(chart_id: str, width: int, height: int, title: str, desc: str, css_class: str) -> str:
    return (
        f'<svg id="{escape(chart_id)}" class="chart {css_class}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
    )


def _markup(parts: list[str]) -> Markup:
    """The finished SVG. Every text and attribute value interpolated into `parts` went through
    `escape()` or is a number this module formatted, so the markup is safe to mark as such."""
    return Markup("".join(parts))  # noqa: S704 (inputs escaped above)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis values (1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if high < low:
        low, high = high, low
    if high == low:
        high = low + (abs(low) or 1.0)
    raw_step = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw_step))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw_step)
    value = math.floor(low / step) * step
    ticks = [round(value, 10)]
    while value < high - step * 1e-9:
        value += step
        ticks.append(round(value, 10))
    return ticks


# --- donut ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DonutSlice:
    label: str
    value: Decimal
    weight: Decimal  # share of the whole, 0..1
    color: str


def donut_slices(items: Sequence[tuple[str, Decimal, Decimal]]) -> list[DonutSlice]:
    """(label, value, weight) -> slices with the palette's colours, in order."""
    return [
        DonutSlice(label, value, weight, palette_color(i)) for i, (label, value, weight) in enumerate(items)
    ]


def donut(
    slices: Sequence[DonutSlice],
    *,
    chart_id: str,
    title: str,
    center_label: str,
    total: Decimal | None = None,
    size: int = 220,
) -> Markup:
    """A ring of arcs, one per slice, starting at twelve o'clock; `total` (default: the slices'
    sum) in the middle."""
    radius = size / 2 - 18
    stroke = 30.0
    circumference = 2 * math.pi * radius
    center = size / 2
    if total is None:
        total = sum((s.value for s in slices), Decimal(0))
    desc = "; ".join(f"{s.label} {percent(s.weight)} ({number(s.value)})" for s in slices) or "No data."
    parts = [_open_svg(chart_id, size, size, title, desc, "chart-donut")]
    parts.append(
        f'<circle class="donut-track" cx="{_f(center)}" cy="{_f(center)}" r="{_f(radius)}" '
        f'fill="none" stroke-width="{_f(stroke)}"/>'
    )
    offset = 0.0
    gap = 1.5 if len(slices) > 1 else 0.0
    for item in slices:
        length = float(item.weight) * circumference
        drawn = max(length - gap, 0.6)
        parts.append(
            f'<circle class="donut-slice" cx="{_f(center)}" cy="{_f(center)}" r="{_f(radius)}" fill="none" '
            f'stroke="{item.color}" stroke-width="{_f(stroke)}" '
            f'stroke-dasharray="{_f(drawn)} {_f(circumference - drawn)}" '
            f'stroke-dashoffset="{_f(-offset)}" transform="rotate(-90 {_f(center)} {_f(center)})">'
            f"<title>{escape(item.label)}: {number(item.value)} ({percent(item.weight)})</title></circle>"
        )
        offset += length
    parts.append(
        f'<text class="donut-total" x="{_f(center)}" y="{_f(center - 2)}" text-anchor="middle">'
        f"{escape(compact_money(total))}</text>"
        f'<text class="donut-caption" x="{_f(center)}" y="{_f(center + 18)}" text-anchor="middle">'
        f"{escape(center_label)}</text>"
    )
    parts.append("</svg>")
    return _markup(parts)


# --- bars -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncomeBar:
    label: str  # short axis label, e.g. "Mar"
    long_label: str  # e.g. "March 2025"
    net: Decimal
    withheld: Decimal  # tax withheld as a positive amount (drawn stacked above the net part)


def income_bars(
    bars: Sequence[IncomeBar], *, chart_id: str, title: str, width: int = 720, height: int = 240
) -> Markup:
    """Monthly bars: the solid part is net income, the hatched cap above it the tax withheld
    (together: the gross). A net loss (a reversal month) is drawn below the zero line in red."""
    left, right, top, bottom = 56.0, 8.0, 12.0, 28.0
    plot_w, plot_h = width - left - right, height - top - bottom
    highs = [float(b.net + max(b.withheld, Decimal(0))) for b in bars] or [0.0]
    lows = [float(min(b.net, Decimal(0))) for b in bars] or [0.0]
    ticks = nice_ticks(min(0.0, min(lows)), max(max(highs), 1.0), 5)
    y_min, y_max = ticks[0], ticks[-1]

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - y_min) / (y_max - y_min))

    total_net = sum((b.net for b in bars), Decimal(0))
    total_withheld = sum((b.withheld for b in bars), Decimal(0))
    best = max(bars, key=lambda b: b.net, default=None)
    desc = f"{len(bars)} months, net income {number(total_net)} after {number(total_withheld)} withheld" + (
        f"; highest month {best.long_label} with {number(best.net)} net." if best else "."
    )
    parts = [_open_svg(chart_id, width, height, title, desc, "chart-bars")]
    parts.append(
        f'<defs><pattern id="{escape(chart_id)}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect class="hatch-bg" width="6" height="6"/>'
        f'<line class="hatch-line" x1="0" y1="0" x2="0" y2="6" stroke-width="3"/></pattern></defs>'
    )
    for tick in ticks:
        parts.append(
            f'<line class="grid{" zero" if tick == 0 else ""}" x1="{_f(left)}" x2="{_f(width - right)}" '
            f'y1="{_f(y(tick))}" y2="{_f(y(tick))}"/>'
            f'<text class="axis" x="{_f(left - 6)}" y="{_f(y(tick) + 4)}" text-anchor="end">'
            f"{escape(compact_money(tick))}</text>"
        )
    slot = plot_w / max(len(bars), 1)
    bar_w = max(min(slot * 0.62, 40.0), 2.0)
    for index, item in enumerate(bars):
        x = left + slot * index + (slot - bar_w) / 2
        net = float(item.net)
        withheld = float(max(item.withheld, Decimal(0)))
        tip = f"{item.long_label}: net {number(item.net)}" + (
            f", withheld {number(item.withheld)}, gross {number(item.net + item.withheld)}"
            if withheld
            else ""
        )
        parts.append(f"<g><title>{escape(tip)}</title>")
        if net >= 0:
            parts.append(
                f'<rect class="bar-net" x="{_f(x)}" y="{_f(y(net))}" width="{_f(bar_w)}" '
                f'height="{_f(y(0) - y(net))}" rx="2"/>'
            )
            base = net
        else:
            parts.append(
                f'<rect class="bar-negative" x="{_f(x)}" y="{_f(y(0))}" width="{_f(bar_w)}" '
                f'height="{_f(y(net) - y(0))}" rx="2"/>'
            )
            base = 0.0
        if withheld:
            parts.append(
                f'<rect class="bar-withheld" x="{_f(x)}" y="{_f(y(base + withheld))}" width="{_f(bar_w)}" '
                f'height="{_f(y(base) - y(base + withheld))}" fill="url(#{escape(chart_id)}-hatch)"/>'
            )
        parts.append("</g>")
        parts.append(
            f'<text class="axis" x="{_f(x + bar_w / 2)}" y="{_f(height - 8)}" text-anchor="middle">'
            f"{escape(item.label)}</text>"
        )
    parts.append("</svg>")
    return _markup(parts)


# --- price with ATR bands -------------------------------------------------------------------------


@dataclass(frozen=True)
class PricePoint:
    day: date
    close: float
    atr: float | None  # ATR(14) on that day; None during the warm-up


def _path(points: Sequence[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{_f(x)} {_f(y)}" for x, y in points)


def price_band_chart(
    points: Sequence[PricePoint],
    *,
    k: float,
    chart_id: str,
    title: str,
    width: int = 800,
    height: int = 300,
) -> Markup:
    """Daily closes as a line, with the band close +/- k * ATR(14) shaded around it."""
    left, right, top, bottom = 60.0, 12.0, 14.0, 28.0
    plot_w, plot_h = width - left - right, height - top - bottom
    if not points:
        parts = [_open_svg(chart_id, width, height, title, "No prices stored for this symbol.", "chart-line")]
        parts.append(
            f'<text class="axis" x="{_f(width / 2)}" y="{_f(height / 2)}" text-anchor="middle">No prices yet</text>'
        )
        parts.append("</svg>")
        return _markup(parts)
    uppers = [p.close + k * p.atr for p in points if p.atr is not None]
    lowers = [p.close - k * p.atr for p in points if p.atr is not None]
    closes = [p.close for p in points]
    ticks = nice_ticks(min(closes + lowers), max(closes + uppers), 6)
    y_min, y_max = ticks[0], ticks[-1]
    count = len(points)

    def x(index: int) -> float:
        return left + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - y_min) / (y_max - y_min))

    last = points[-1]
    desc = (
        f"Daily closes from {points[0].day.isoformat()} to {last.day.isoformat()}: "
        f"first {number(points[0].close)}, last {number(last.close)}, low {number(min(closes))}, "
        f"high {number(max(closes))}. Shaded band: close plus or minus {number(k, 1)} times ATR(14)"
        + (f"; latest ATR {number(last.atr)}." if last.atr is not None else "; ATR not available yet.")
    )
    series = json.dumps(
        [[p.day.isoformat(), round(p.close, 4), None if p.atr is None else round(p.atr, 4)] for p in points],
        separators=(",", ":"),
    )
    # The hover read-out in app.js maps the pointer back to a session with these numbers.
    data = (
        f' data-series="{escape(series)}" data-left="{_f(left)}" data-plot-width="{_f(plot_w)}" '
        f'data-top="{_f(top)}" data-plot-height="{_f(plot_h)}" data-y-min="{y_min!r}" data-y-max="{y_max!r}" '
        f'data-k="{k!r}"'
    )
    parts = [
        _open_svg(chart_id, width, height, title, desc, "chart-line").replace("<svg ", "<svg" + data + " ", 1)
    ]
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{_f(left)}" x2="{_f(width - right)}" y1="{_f(y(tick))}" y2="{_f(y(tick))}"/>'
            f'<text class="axis" x="{_f(left - 6)}" y="{_f(y(tick) + 4)}" text-anchor="end">'
            f"{escape(number(tick, 0 if y_max - y_min >= 20 else 2))}</text>"
        )
    # A tick at the first session of each month (the first, partial month gets none), at most 12.
    month_starts = [i for i in range(1, count) if points[i].day.month != points[i - 1].day.month]
    stride = max(1, math.ceil(len(month_starts) / 12))
    for n, index in enumerate(month_starts[::stride]):
        day = points[index].day
        label = day.strftime("%b %Y") if n == 0 or day.month == 1 else day.strftime("%b")
        parts.append(
            f'<line class="grid tick" x1="{_f(x(index))}" x2="{_f(x(index))}" y1="{_f(top)}" '
            f'y2="{_f(top + plot_h)}"/><text class="axis" x="{_f(x(index))}" y="{_f(height - 8)}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    # The band, drawn as one polygon per stretch of days that have an ATR.
    stretch: list[int] = []
    stretches: list[list[int]] = []
    for i, p in enumerate(points):
        if p.atr is not None:
            stretch.append(i)
        elif stretch:
            stretches.append(stretch)
            stretch = []
    if stretch:
        stretches.append(stretch)
    for run in stretches:
        upper = [(x(i), y(points[i].close + k * (points[i].atr or 0.0))) for i in run]
        lower = [(x(i), y(points[i].close - k * (points[i].atr or 0.0))) for i in reversed(run)]
        parts.append(f'<path class="band" d="{_path(upper + lower)} Z"/>')
        parts.append(f'<path class="band-edge" d="{_path(upper)}"/>')
        parts.append(f'<path class="band-edge" d="{_path(list(reversed(lower)))}"/>')
    parts.append(
        f'<path class="price-line" d="{_path([(x(i), y(p.close)) for i, p in enumerate(points)])}"/>'
    )
    parts.append(
        f'<circle class="price-dot" cx="{_f(x(count - 1))}" cy="{_f(y(last.close))}" r="3.5">'
        f"<title>{escape(last.day.isoformat())}: close {number(last.close)}</title></circle>"
    )
    parts.append("</svg>")
    return _markup(parts)
