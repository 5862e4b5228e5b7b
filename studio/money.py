"""Money is Decimal in Python and whole nano-dollars in the database, so sums stay exact everywhere.

People read money in dollars, one way everywhere: `usd` is how the app and the CLI show an amount. From a
dollar up, to the cent (`$16.67`); below, with the digits that matter (`$0.31`, `$0.0024`: two significant
digits, never fewer than the cents), so an image's price and a job's total read in one unit. `exact=True`
keeps every digit, for a ledger or a tooltip. Files (CSV) get `plain_decimal`.
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


def _under_a_dollar(amount: Decimal) -> str:
    """Two significant digits and at least the cents: `0.0053` is `$0.0053`, `0.000725` is `$0.00073`,
    `0.31` is `$0.31`, `0.5` is `$0.50`."""
    places = max(2, 1 - amount.adjusted())
    text = format(amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"${whole}.{frac}"


def usd(amount: Decimal, *, exact: bool = False) -> str:
    """`$16.67`, `$0.31`, `$0.0024` (under a dollar, two significant digits) or `$0.00`; `exact` keeps every
    digit: `$16.666667`."""
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if exact:
        whole, _, frac = plain_decimal(amount).partition(".")
        return f"{sign}${whole}.{frac.ljust(2, '0')}"
    if 0 < amount < 1:
        return sign + _under_a_dollar(amount)
    return f"{sign}${amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"
