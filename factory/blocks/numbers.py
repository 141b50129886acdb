"""Decimal helpers shared by the blocks: inputs are checked once, money is rounded in one place.

Money never passes through a float: a float input is refused, because by the time it arrives its
cents may already be wrong.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
BASIS_POINT = Decimal("0.0001")


def to_decimal(value: Decimal | int | str, *, name: str) -> Decimal:
    """`value` as a finite Decimal; a float, a bool or text that is not a number is refused."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"{name} must be a Decimal, an int or a numeric string, not {type(value).__name__}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return number


def money(value: Decimal) -> Decimal:
    """Rounded to the cent, half up: how amounts are shown and compared."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def ratio(value: Decimal) -> Decimal:
    """A fraction rounded to four places (a basis point), half up."""
    return value.quantize(BASIS_POINT, rounding=ROUND_HALF_UP)


def percent(value: Decimal) -> Decimal:
    """A percentage rounded to two places, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
