"""The scan filter language: parsing, precedence, three-valued logic, errors. Never eval."""

from __future__ import annotations

import numpy as np
import pytest

from foliosync.market.scanners.expression import ExpressionError, parse_condition, parse_numeric

FIELDS = ["close", "atr_pct", "atr_14", "sma_20", "sma_50", "rsi_14", "dollar_volume_20", "gap_atr"]
NAN = float("nan")
VALUES = {
    # symbols:          A      B      C      D
    "close": np.array([100.0, 50.0, 20.0, 10.0]),
    "atr_pct": np.array([4.0, 2.0, 5.0, NAN]),
    "atr_14": np.array([4.0, 1.0, 1.0, 0.5]),
    "sma_20": np.array([90.0, 49.0, 21.0, 9.0]),
    "sma_50": np.array([95.0, 55.0, 19.0, 9.5]),
    "rsi_14": np.array([30.0, 45.0, 25.0, NAN]),
    "dollar_volume_20": np.array([30e6, 10e6, 25e6, 1e6]),
    "gap_atr": np.array([1.5, -2.0, 0.2, NAN]),
}


def matches(source: str) -> list[str]:
    mask = parse_condition(source, FIELDS).evaluate(VALUES)
    return [name for name, hit in zip("ABCD", mask, strict=True) if hit]


def test_the_documented_example():
    # A: 4>3, 100>95, 30<35 -> yes. C: 5>3 but close 20 > sma_50 19 and rsi 25 -> yes.
    assert matches("atr_pct > 3 and close > sma_50 and rsi_14 < 35") == ["A", "C"]


def test_precedence_and_parentheses():
    assert matches("rsi_14 < 28 or rsi_14 > 40 and close > 40") == ["B", "C"]
    assert matches("(rsi_14 < 28 or rsi_14 > 40) and close > 40") == ["B"]
    assert matches("NOT close > 30 AND atr_14 >= 1") == ["C"]


def test_arithmetic_functions_and_chained_comparisons():
    # close > 2*atr + sma_20: A 100 > 98 yes; B 50 > 51 no; C 20 > 23 no; D 10 > 10 no.
    assert matches("close > 2 * atr_14 + sma_20") == ["A"]
    assert matches("close - sma_20 > 2 * atr_14") == ["A"]
    assert matches("25 <= rsi_14 <= 30") == ["A", "C"]
    assert matches("abs(gap_atr) >= 1") == ["A", "B"]
    assert matches("max(close, sma_50) == 55") == ["B"]
    assert matches("min(close, sma_50) / 2 = 9.5") == ["C"]
    assert matches("-gap_atr > 1") == ["B"]
    assert matches("dollar_volume_20 >= 20m") == ["A", "C"]
    assert matches("dollar_volume_20 >= 25_000_000") == ["A", "C"]
    assert matches("dollar_volume_20 > 2.5e7") == ["A"]
    assert matches("close != 50") == ["A", "C", "D"]


def test_missing_values_are_unknown_not_false():
    # D has no RSI: neither the condition nor its negation selects it.
    assert matches("rsi_14 < 40") == ["A", "C"]
    assert matches("not rsi_14 < 40") == ["B"]
    # ...but a known-false side still decides an AND, and a known-true side an OR.
    assert matches("not (rsi_14 < 40 and close > 50)") == ["B", "C", "D"]
    assert matches("rsi_14 < 40 or close < 15") == ["A", "C", "D"]
    # Division by zero is unknown too.
    assert matches("close / (atr_14 - atr_14) > 0") == []


def test_numeric_expressions_for_sort_keys():
    values = parse_numeric("abs(gap_atr) * 2", FIELDS).evaluate(VALUES)
    np.testing.assert_allclose(values[:3], [3.0, 4.0, 0.4])
    assert np.isnan(values[3])


def test_unknown_field_names_it_suggests_and_lists_valid_ones():
    with pytest.raises(ExpressionError) as error:
        parse_condition("atr_pc > 3", FIELDS)
    message = error.value.message
    assert "unknown field 'atr_pc'" in message
    assert "did you mean atr_pct" in message
    assert "Valid fields: atr_14, atr_pct, close, dollar_volume_20" in message
    assert error.value.status_code == 422


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("close >", "expected a field, a number or '('"),
        ("close > 3 and", "found the end of the expression"),
        ("(close > 3", "expected ')'"),
        ("close > 3)", "expected 'and', 'or' or an operator"),
        ("close", "is a number, not a condition"),
        ("close + (rsi_14 > 3) > 1", "is a condition where a number is expected"),
        ("close > 3 && rsi_14 < 2", "use 'and'"),
        ("sqrt(close) > 3", "unknown function 'sqrt'"),
        ("abs(close, rsi_14) > 3", "abs() takes 1 argument(s), got 2"),
        ("close > 3 rsi_14", "expected 'and', 'or'"),
        ("__import__('os').system('x')", "unexpected character"),
        ("close.__class__ > 1", "unexpected character '.'"),
        ("(" * 100 + "close > 1" + ")" * 100, "nested deeper"),
        ("close > 1 and " * 200 + "close > 1", "longer than"),
    ],
)
def test_clear_errors(source, fragment):
    with pytest.raises(ExpressionError) as error:
        parse_condition(source, FIELDS)
    assert fragment in error.value.message


def test_error_position_points_at_the_problem():
    with pytest.raises(ExpressionError) as error:
        parse_condition("close > 3 and rsi_14 <", FIELDS)
    assert error.value.position == len("close > 3 and rsi_14 <")
    assert "rsi_14 <\u2192" in error.value.message
