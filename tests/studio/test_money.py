"""Money reads in dollars, one format (the digits that matter below a dollar, cents above), and files get
plain decimals, never `0E-9`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from studio.money import from_nanos, plain_decimal, to_nanos, usd


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0", "$0.00"),
        ("0E-9", "$0.00"),
        ("0.31", "$0.31"),
        ("16.666667", "$16.67"),
        ("1234.5", "$1,234.50"),
        ("0.005", "$0.005"),
        ("0.0053", "$0.0053"),
        ("0.0024", "$0.0024"),
        ("0.000725", "$0.00073"),
        ("0.00999", "$0.01"),
        ("0.0156", "$0.016"),
        ("0.5", "$0.50"),
        ("0.999", "$1.00"),
        ("1.005", "$1.01"),
        ("-0.25", "-$0.25"),
    ],
)
def test_amounts_read_in_dollars_with_the_digits_that_matter(amount: str, shown: str) -> None:
    assert usd(Decimal(amount)) == shown


@pytest.mark.parametrize(
    ("amount", "shown"),
    [("16.666667", "$16.666667"), ("0.0053", "$0.0053"), ("0E-9", "$0.00"), ("2", "$2.00")],
)
def test_exact_amounts_keep_every_digit(amount: str, shown: str) -> None:
    assert usd(Decimal(amount), exact=True) == shown


@pytest.mark.parametrize(
    ("amount", "text"), [("0E-9", "0"), ("0.005300000", "0.0053"), ("12.500", "12.5"), ("1E+2", "100")]
)
def test_plain_decimals_have_no_exponent(amount: str, text: str) -> None:
    assert plain_decimal(Decimal(amount)) == text


def test_nanos_round_trip() -> None:
    assert from_nanos(to_nanos(Decimal("0.0053"))) == Decimal("0.0053")
