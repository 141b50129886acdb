"""Profit and loss: per holding (average-cost basis) and for a whole portfolio.

Unrealized P&L is what the open quantity would make if sold at `price`; realized P&L is what
earlier sales already made, carried in as a number. Values are exact Decimals: round for display
with `numbers.money`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from .numbers import to_decimal

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class PnL:
    cost_basis: Decimal
    market_value: Decimal
    unrealized: Decimal
    realized: Decimal
    total: Decimal
    return_pct: Decimal | None  # total over cost basis, in percent; None when nothing was paid


def _pnl(cost_basis: Decimal, market_value: Decimal, realized: Decimal) -> PnL:
    unrealized = market_value - cost_basis
    total = unrealized + realized
    return_pct = total / cost_basis * HUNDRED if cost_basis else None
    return PnL(cost_basis, market_value, unrealized, realized, total, return_pct)


def position_pnl(
    *,
    quantity: Decimal | int | str,
    average_cost: Decimal | int | str,
    price: Decimal | int | str,
    realized: Decimal | int | str = 0,
) -> PnL:
    """P&L of one holding of `quantity` units bought at `average_cost` each, now at `price`."""
    quantity = to_decimal(quantity, name="quantity")
    average_cost = to_decimal(average_cost, name="average_cost")
    price = to_decimal(price, name="price")
    if quantity < 0:
        raise ValueError("quantity must not be negative: short positions are not supported")
    if average_cost < 0 or price < 0:
        raise ValueError("average_cost and price must not be negative")
    return _pnl(quantity * average_cost, quantity * price, to_decimal(realized, name="realized"))


def portfolio_pnl(
    *, cost_basis: Decimal | int | str, market_value: Decimal | int | str, realized: Decimal | int | str = 0
) -> PnL:
    """P&L of a portfolio from its holdings' summed cost basis, market value and realized P&L."""
    return _pnl(
        to_decimal(cost_basis, name="cost_basis"),
        to_decimal(market_value, name="market_value"),
        to_decimal(realized, name="realized"),
    )


def portfolio_pnl_of(positions: Iterable[PnL]) -> PnL:
    """The portfolio P&L of holdings' P&Ls (all in one currency)."""
    positions = list(positions)
    return portfolio_pnl(
        cost_basis=sum((p.cost_basis for p in positions), Decimal(0)),
        market_value=sum((p.market_value for p in positions), Decimal(0)),
        realized=sum((p.realized for p in positions), Decimal(0)),
    )
