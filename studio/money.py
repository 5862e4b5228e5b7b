"""Money is Decimal in Python and whole nano-dollars in the database, so sums stay exact everywhere.

People read money in cents: `usd` is the one way the app and the CLI show an amount (`$16.67`, `0.53¢`),
with `exact=True` for the sub-cent detail a ledger or a tooltip gives. Files (CSV) get `plain_decimal`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

NANO = Decimal("0.000000001")
CENT = Decimal("0.01")


def to_nanos(amount: Decimal) -> int:
    return int(amount.quantize(NANO, rounding=ROUND_HALF_UP) / NANO)


def from_nanos(nanos: int) -> Decimal:
    return (Decimal(nanos) * NANO).quantize(NANO)


def plain_decimal(amount: Decimal) -> str:
    """Every digit, no exponent and no trailing zeros: `0E-9` is `0`, `0.005300000` is `0.0053`."""
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _sub_cent(amount: Decimal) -> str:
    """An amount under a cent in cents, to two significant digits: `0.0053` is `0.53¢`."""
    cents = amount * 100
    places = Decimal(1).scaleb(cents.adjusted() - 1)
    return f"{plain_decimal(cents.quantize(places, rounding=ROUND_HALF_UP))}¢"


def usd(amount: Decimal, *, exact: bool = False) -> str:
    """`$16.67`, `$0.31`, `0.5¢` (under a cent) or `$0.00`; `exact` keeps every digit: `$16.666667`."""
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if exact:
        whole, _, frac = plain_decimal(amount).partition(".")
        return f"{sign}${whole}.{frac.ljust(2, '0')}"
    if 0 < amount < CENT:
        return sign + _sub_cent(amount)
    return f"{sign}${amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"
