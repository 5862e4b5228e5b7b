"""Money is Decimal in Python and whole nano-dollars in the database, so sums stay exact everywhere."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

NANO = Decimal("0.000000001")


def to_nanos(amount: Decimal) -> int:
    return int(amount.quantize(NANO, rounding=ROUND_HALF_UP) / NANO)


def from_nanos(nanos: int) -> Decimal:
    return (Decimal(nanos) * NANO).quantize(NANO)


def usd(amount: Decimal) -> str:
    """`$0.0053` style, as many places as the amount needs (at least two)."""
    text = format(amount.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"
