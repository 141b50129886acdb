"""Kelly-criterion position sizing: what share of capital a bet with an edge deserves.

For a win probability p and net odds b (win b per 1 staked), the Kelly fraction is
f* = p - (1 - p) / b. A negative f* means no edge: the stake is 0, never a short. Fractional
Kelly (a multiplier such as 0.5) trades growth for a smoother ride, as most desks do.
"""

from dataclasses import dataclass
from decimal import Decimal

from .numbers import to_decimal

ONE = Decimal(1)


@dataclass(frozen=True)
class KellySizing:
    edge: Decimal  # expected net gain per 1 staked: p * b - (1 - p)
    full_fraction: Decimal  # f*, clamped to [0, 1]
    fraction: Decimal  # full_fraction * multiplier
    position: Decimal | None  # fraction * capital, when capital is given


def kelly_fraction(
    *, probability: Decimal | int | str, odds: Decimal | int | str, multiplier: Decimal | int | str = 1
) -> Decimal:
    """The share of capital to stake, in [0, 1]."""
    return kelly_sizing(probability=probability, odds=odds, multiplier=multiplier).fraction


def kelly_sizing(
    *,
    probability: Decimal | int | str,
    odds: Decimal | int | str,
    capital: Decimal | int | str | None = None,
    multiplier: Decimal | int | str = 1,
) -> KellySizing:
    p = to_decimal(probability, name="probability")
    b = to_decimal(odds, name="odds")
    m = to_decimal(multiplier, name="multiplier")
    if not 0 <= p <= 1:
        raise ValueError(f"probability must be between 0 and 1, not {p}")
    if b <= 0:
        raise ValueError(f"odds must be greater than 0, not {b}")
    if not 0 < m <= 1:
        raise ValueError(f"multiplier must be greater than 0 and at most 1 (fractional Kelly), not {m}")
    full = max(p - (ONE - p) / b, Decimal(0))
    fraction = full * m
    position = None
    if capital is not None:
        capital = to_decimal(capital, name="capital")
        if capital < 0:
            raise ValueError(f"capital must not be negative, not {capital}")
        position = fraction * capital
    return KellySizing(edge=p * b - (ONE - p), full_fraction=full, fraction=fraction, position=position)
