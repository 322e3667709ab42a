"""Server-side SVG charts: geometry proportional to the numbers, accessible names, escaped labels."""

from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from decimal import Decimal
from xml.etree import ElementTree

import pytest

from foliosync.web.charts import (
    IncomeBar,
    PricePoint,
    donut,
    donut_slices,
    income_bars,
    nice_ticks,
    palette_color,
    price_band_chart,
)

D = Decimal
SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(str(markup))


def _floats(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text)]


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 750, [0, 200, 400, 600, 800]),
        (0, 95, [0, 25, 50, 75, 100]),
        (-120, 480, [-200, 0, 200, 400, 600]),
        (161.2, 243.9, [150, 175, 200, 225, 250]),
        (5, 5, [4, 6, 8, 10]),  # a flat range is widened to show something
    ],
)
def test_nice_ticks_are_round_and_cover_the_range(low, high, expected):
    ticks = nice_ticks(low, high, 5)
    assert ticks == expected
    assert ticks[0] <= low and ticks[-1] >= high


def test_donut_draws_each_slice_in_proportion_with_an_accessible_name():
    slices = donut_slices([("Stocks", D("750"), D("0.75")), ("Cash", D("250"), D("0.25"))])
    svg = _parse(donut(slices, chart_id="alloc", title="Allocation by asset class", center_label="net total"))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "alloc-title alloc-desc"
    assert svg.find(f"{SVG}title").text == "Allocation by asset class"
    assert svg.find(f"{SVG}desc").text == "Stocks 75.0% (750.00); Cash 25.0% (250.00)"
    arcs = [c for c in svg.iter(f"{SVG}circle") if c.get("class") == "donut-slice"]
    assert [a.get("stroke") for a in arcs] == [palette_color(0), palette_color(1)]
    circumference = 2 * math.pi * float(arcs[0].get("r"))
    drawn = [_floats(a.get("stroke-dasharray")) for a in arcs]
    # Each arc is its share of the ring less a 1.5 px gap; dash + gap always spans the ring.
    assert drawn[0][0] == pytest.approx(0.75 * circumference - 1.5, abs=0.01)
    assert drawn[1][0] == pytest.approx(0.25 * circumference - 1.5, abs=0.01)
    assert all(sum(d) == pytest.approx(circumference, abs=0.02) for d in drawn)
    # The second arc starts where the first one's share ends.
    assert float(arcs[1].get("stroke-dashoffset")) == pytest.approx(-0.75 * circumference, abs=0.01)
    assert [a.find(f"{SVG}title").text for a in arcs] == ["Stocks: 750.00 (75.0%)", "Cash: 250.00 (25.0%)"]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts == ["$1k", "net total"]


def test_donut_center_can_show_a_net_total_and_labels_are_escaped():
    slices = donut_slices([('<script>alert("x")</script>', D("100"), D("1"))])
    markup = str(donut(slices, chart_id="a", title="T & <b>", center_label="c", total=D("-2500")))
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert "T &amp; &lt;b&gt;" in markup
    svg = _parse(markup)
    assert next(t.text for t in svg.iter(f"{SVG}text")) == "\u2212$2.5k"
    (arc,) = [c for c in svg.iter(f"{SVG}circle") if c.get("class") == "donut-slice"]
    assert _floats(arc.get("stroke-dasharray"))[1] == pytest.approx(0, abs=0.01)  # one slice: a full ring


def test_income_bars_stack_withholding_on_net_and_draw_a_loss_below_zero():
    bars = [
        IncomeBar("Jan", "January 2025", D("300"), D("100")),  # gross 400
        IncomeBar("Feb", "February 2025", D("0"), D("0")),
        IncomeBar("Mar", "March 2025", D("-50"), D("0")),  # a reversal month
    ]
    svg = _parse(income_bars(bars, chart_id="inc", title="Income"))
    assert svg.find(f"{SVG}desc").text == (
        "3 months, net income 250.00 after 100.00 withheld; highest month January 2025 with 300.00 net."
    )
    rects = [r for r in svg.iter(f"{SVG}rect") if r.get("class", "").startswith("bar-")]
    assert [r.get("class") for r in rects] == ["bar-net", "bar-withheld", "bar-net", "bar-negative"]
    net, withheld, empty, loss = rects
    assert float(empty.get("height")) == 0
    # Scale: ticks from -200 to 400 (nice_ticks), so 300 net is 3x the 100 withheld, and 50 below zero.
    assert float(net.get("height")) == pytest.approx(3 * float(withheld.get("height")), rel=1e-3)
    assert float(withheld.get("y")) + float(withheld.get("height")) == pytest.approx(
        float(net.get("y")), abs=0.01
    )
    assert float(net.get("height")) == pytest.approx(6 * float(loss.get("height")), rel=1e-3)
    assert float(loss.get("y")) == pytest.approx(float(net.get("y")) + float(net.get("height")), abs=0.01)
    titles = [g.find(f"{SVG}title").text for g in svg.iter(f"{SVG}g")]
    assert titles == [
        "January 2025: net 300.00, withheld 100.00, gross 400.00",
        "February 2025: net 0.00",
        "March 2025: net \u221250.00",
    ]
    assert [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "middle"] == [
        "Jan",
        "Feb",
        "Mar",
    ]


def test_price_chart_shades_the_band_only_where_atr_exists_and_ships_its_series():
    start = date(2025, 1, 1)
    points = [PricePoint(start + timedelta(days=i), 100.0 + i, None if i < 14 else 2.0) for i in range(40)]
    svg = _parse(price_band_chart(points, k=1.5, chart_id="p", title="X with ATR bands"))
    band = next(p for p in svg.iter(f"{SVG}path") if p.get("class") == "band")
    # One polygon over the 26 sessions that have an ATR: 26 upper points + 26 lower points.
    assert band.get("d").count("L") + 1 == 52
    line = next(p for p in svg.iter(f"{SVG}path") if p.get("class") == "price-line")
    assert line.get("d").count("L") + 1 == 40
    series = json.loads(svg.get("data-series"))
    assert series[0] == ["2025-01-01", 100.0, None] and series[-1] == ["2025-02-09", 139.0, 2.0]
    assert float(svg.get("data-k")) == 1.5
    assert float(svg.get("data-y-min")) <= 100.0 and float(svg.get("data-y-max")) >= 139.0 + 1.5 * 2.0
    desc = svg.find(f"{SVG}desc").text
    assert "first 100.00, last 139.00" in desc and "latest ATR 2.00" in desc
    assert [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "middle"] == ["Feb 2025"]


def test_price_chart_without_prices_says_so():
    svg = _parse(price_band_chart([], k=2, chart_id="p", title="Nothing"))
    assert svg.find(f"{SVG}desc").text == "No prices stored for this symbol."
