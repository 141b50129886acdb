"""Currency conversion among INR, USD and AED from an explicit, dated rates table.

A table quotes every currency against one base (units per 1 base); converting multiplies by the
target's rate before dividing by the source's, so a round trip through the base is exact whenever
the amounts allow it. Results are exact Decimals: round for display with `numbers.money`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from .numbers import to_decimal

SUPPORTED = ("INR", "USD", "AED")


@dataclass(frozen=True)
class RatesTable:
    as_of: date
    base: str
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self):
        rates = {code: to_decimal(rate, name=f"rate for {code}") for code, rate in self.rates.items()}
        unknown = sorted(set(rates) - set(SUPPORTED))
        if unknown:
            raise ValueError(f"rates table quotes unsupported currencies {unknown}; supported: {', '.join(SUPPORTED)}")
        missing = [code for code in SUPPORTED if code not in rates]
        if missing:
            raise ValueError(f"rates table lacks {', '.join(missing)}")
        if rates[self.base] != 1:
            raise ValueError(f"the base currency {self.base} must be quoted at 1, not {rates[self.base]}")
        if any(rate <= 0 for rate in rates.values()):
            raise ValueError("every rate must be greater than 0")
        object.__setattr__(self, "rates", rates)

    def rate(self, source: str, target: str) -> Decimal:
        """Units of `target` per 1 `source`."""
        return self.rates[_code(target)] / self.rates[_code(source)]


# Mid-market reference rates; a product that needs live rates passes its own table.
DEFAULT_RATES = RatesTable(
    as_of=date(2025, 1, 31),
    base="USD",
    rates={"USD": Decimal("1"), "AED": Decimal("3.6725"), "INR": Decimal("86.60")},
)


@dataclass(frozen=True)
class Conversion:
    amount: Decimal
    currency: str
    rate: Decimal
    as_of: date


@dataclass(frozen=True)
class RatesInfo:
    as_of: date
    base: str


def _code(currency: str) -> str:
    if currency not in SUPPORTED:
        raise ValueError(f"unsupported currency {currency!r}; supported: {', '.join(SUPPORTED)}")
    return currency


def convert(*, amount: Decimal | int | str, source: str, target: str, rates: RatesTable = DEFAULT_RATES) -> Conversion:
    """`amount` in `source` expressed in `target` at the table's rates."""
    value = to_decimal(amount, name="amount")
    source, target = _code(source), _code(target)
    converted = value if source == target else value * rates.rates[target] / rates.rates[source]
    return Conversion(amount=converted, currency=target, rate=rates.rate(source, target), as_of=rates.as_of)


def rates_info(*, rates: RatesTable = DEFAULT_RATES) -> RatesInfo:
    """Which table answers conversions, for showing its date next to converted amounts."""
    return RatesInfo(as_of=rates.as_of, base=rates.base)
