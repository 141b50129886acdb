import dataclasses
import importlib
import inspect
import re
from datetime import date
from decimal import Decimal

import pytest

from factory.blocks import CATALOG, catalog_markdown
from factory.blocks.fx import DEFAULT_RATES, RatesTable, convert, rates_info
from factory.blocks.kelly import kelly_fraction, kelly_sizing
from factory.blocks.numbers import money, percent, ratio
from factory.blocks.pnl import portfolio_pnl, portfolio_pnl_of, position_pnl

# --- P&L ---------------------------------------------------------------------------------------


def test_position_pnl_splits_unrealized_and_realized():
    pnl = position_pnl(quantity=10, average_cost="2450.50", price="2600.00", realized="1200")

    assert pnl.cost_basis == Decimal("24505.00")
    assert pnl.market_value == Decimal("26000.00")
    assert pnl.unrealized == Decimal("1495.00")
    assert pnl.realized == Decimal("1200")
    assert pnl.total == Decimal("2695.00")
    assert percent(pnl.return_pct) == Decimal("11.00")  # 2695 / 24505 = 10.9978 %


def test_position_pnl_of_a_losing_holding_is_negative():
    pnl = position_pnl(quantity="4.5", average_cost="200", price="180.10")

    assert pnl.cost_basis == Decimal("900.0")
    assert pnl.market_value == Decimal("810.450")
    assert pnl.unrealized == Decimal("-89.550")
    assert pnl.total == Decimal("-89.550")
    assert percent(pnl.return_pct) == Decimal("-9.95")


def test_a_fully_sold_holding_has_only_realized_pnl_and_no_return():
    pnl = position_pnl(quantity=0, average_cost="100", price="120", realized="-35.40")

    assert (pnl.cost_basis, pnl.market_value, pnl.unrealized) == (0, 0, 0)
    assert pnl.total == Decimal("-35.40")
    assert pnl.return_pct is None


def test_portfolio_pnl_sums_its_holdings():
    holdings = [
        position_pnl(quantity=10, average_cost="2450.50", price="2600.00", realized="1200"),
        position_pnl(quantity="4.5", average_cost="200", price="180.10"),
    ]

    total = portfolio_pnl_of(holdings)

    assert total == portfolio_pnl(cost_basis="25405.00", market_value="26810.450", realized="1200")
    assert total.unrealized == Decimal("1405.450")
    assert total.total == Decimal("2605.450")
    assert percent(total.return_pct) == Decimal("10.26")  # 2605.45 / 25405 = 10.2557 %


def test_pnl_refuses_floats_and_short_positions():
    with pytest.raises(TypeError, match="price must be a Decimal, an int or a numeric string, not float"):
        position_pnl(quantity=1, average_cost="1", price=0.1)
    with pytest.raises(ValueError, match="quantity must not be negative"):
        position_pnl(quantity=-1, average_cost="1", price="1")
    with pytest.raises(ValueError, match="average_cost must be a number, not 'ten'"):
        position_pnl(quantity=1, average_cost="ten", price="1")


# --- Kelly -------------------------------------------------------------------------------------


def test_kelly_fraction_at_even_odds():
    sizing = kelly_sizing(probability="0.6", odds=1)

    assert sizing.full_fraction == Decimal("0.2")  # 0.6 - 0.4 / 1
    assert sizing.edge == Decimal("0.2")
    assert sizing.fraction == Decimal("0.2")
    assert sizing.position is None


def test_half_kelly_sizes_a_position_from_capital():
    sizing = kelly_sizing(probability="0.55", odds=2, capital="100000", multiplier="0.5")

    assert sizing.full_fraction == Decimal("0.325")  # 0.55 - 0.45 / 2
    assert sizing.fraction == Decimal("0.1625")
    assert sizing.position == Decimal("16250")
    assert sizing.edge == Decimal("0.65")  # 0.55 * 2 - 0.45


def test_no_edge_means_no_stake_never_a_short():
    sizing = kelly_sizing(probability="0.3", odds=1, capital="5000")

    assert sizing.edge == Decimal("-0.4")
    assert sizing.fraction == 0
    assert sizing.position == 0


def test_a_certain_win_stakes_everything_and_no_more():
    assert kelly_fraction(probability=1, odds=3) == 1
    assert kelly_fraction(probability=0, odds=3) == 0


def test_kelly_guards_its_inputs():
    with pytest.raises(ValueError, match=re.escape("probability must be between 0 and 1, not 1.2")):
        kelly_fraction(probability="1.2", odds=1)
    with pytest.raises(ValueError, match="odds must be greater than 0, not 0"):
        kelly_fraction(probability="0.5", odds=0)
    message = "multiplier must be greater than 0 and at most 1 (fractional Kelly), not 1.5"
    with pytest.raises(ValueError, match=re.escape(message)):
        kelly_fraction(probability="0.5", odds=1, multiplier="1.5")
    with pytest.raises(ValueError, match="capital must not be negative"):
        kelly_sizing(probability="0.5", odds=1, capital=-1)
    with pytest.raises(TypeError, match="probability must be a Decimal"):
        kelly_fraction(probability=0.5, odds=1)


# --- currency conversion -----------------------------------------------------------------------


def test_usd_to_aed_at_the_reference_table():
    result = convert(amount="1000", source="USD", target="AED")

    assert result.amount == Decimal("3672.5000")
    assert result.rate == Decimal("3.6725")
    assert result.currency == "AED"
    assert result.as_of == date(2025, 1, 31)


def test_inr_to_aed_multiplies_before_dividing_so_it_stays_exact():
    # 8660 INR is 100 USD at 86.60, which is 367.25 AED at 3.6725.
    assert convert(amount="8660", source="INR", target="AED").amount == Decimal("367.25")


def test_aed_to_inr_rounds_to_the_cent_half_up():
    result = convert(amount="100", source="AED", target="INR")

    assert money(result.amount) == Decimal("2358.07")  # 100 * 86.60 / 3.6725 = 2358.0667
    assert convert(amount="42.10", source="INR", target="INR").amount == Decimal("42.10")


def test_a_dated_table_of_ones_own():
    table = RatesTable(as_of=date(2024, 6, 30), base="INR", rates={"INR": 1, "USD": "0.012", "AED": "0.044"})

    assert convert(amount="5000", source="INR", target="USD", rates=table).amount == Decimal("60.000")
    assert convert(amount="60", source="USD", target="AED", rates=table).amount == Decimal("220")
    assert rates_info(rates=table).as_of == date(2024, 6, 30)
    assert rates_info().base == "USD"


def test_conversion_refuses_unknown_currencies_and_bad_tables():
    with pytest.raises(ValueError, match="unsupported currency 'GBP'; supported: INR, USD, AED"):
        convert(amount="1", source="GBP", target="INR")
    with pytest.raises(ValueError, match="rates table lacks INR"):
        RatesTable(as_of=date(2025, 1, 1), base="USD", rates={"USD": 1, "AED": "3.67"})
    with pytest.raises(ValueError, match="the base currency USD must be quoted at 1"):
        RatesTable(as_of=date(2025, 1, 1), base="USD", rates={"USD": 2, "AED": "3.67", "INR": "86"})
    with pytest.raises(ValueError, match="every rate must be greater than 0"):
        RatesTable(as_of=date(2025, 1, 1), base="USD", rates={"USD": 1, "AED": "0", "INR": "86"})
    with pytest.raises(TypeError, match="amount must be a Decimal"):
        convert(amount=1.5, source="USD", target="AED")
    assert DEFAULT_RATES.rates["INR"] == Decimal("86.60")


def test_rounding_is_half_up_at_each_scale():
    assert money(Decimal("2.675")) == Decimal("2.68")
    assert money(Decimal("-2.675")) == Decimal("-2.68")
    assert ratio(Decimal("0.16255")) == Decimal("0.1626")
    assert percent(Decimal("10.995")) == Decimal("11.00")


# --- catalog -----------------------------------------------------------------------------------


def test_the_catalog_matches_each_blocks_signature_and_outputs():
    for block in CATALOG.values():
        module = importlib.import_module(f"factory.blocks.{block.module}")
        function = getattr(module, block.function)
        parameters = inspect.signature(function).parameters
        returned = inspect.signature(function).return_annotation

        assert [p.kind for p in parameters.values()] == [inspect.Parameter.KEYWORD_ONLY] * len(parameters), block.name
        assert {i.name: i.required for i in block.inputs} == {
            name: p.default is inspect.Parameter.empty for name, p in parameters.items()
        }, block.name
        assert [o.name for o in block.outputs] == [f.name for f in dataclasses.fields(returned)], block.name


def test_the_catalog_renders_as_a_table_for_spec_writers():
    table = catalog_markdown().splitlines()

    assert table[0] == "| block | what it does | inputs | outputs |"
    assert len(table) == 2 + len(CATALOG)
    assert any(line.startswith("| `kelly.sizing` |") and "`multiplier`? (ratio)" in line for line in table)
