"""What each building block takes and gives: the names specs use in rules, and what generators check.

A block is a pure module in this package (copied into a generated product as `app/blocks/`), one
function, typed inputs and named outputs (attributes of the dataclass it returns). `elementwise`
blocks may be applied to several values at once with a rule's `apply_to`.
"""

from dataclasses import dataclass

COMMON_MODULES = ("numbers",)  # every block imports these


@dataclass(frozen=True)
class BlockInput:
    name: str
    type: str  # a spec field type, or "rates" for a rates table
    description: str
    required: bool = True


@dataclass(frozen=True)
class BlockOutput:
    name: str
    type: str
    description: str
    nullable: bool = False


@dataclass(frozen=True)
class Block:
    name: str
    module: str
    function: str
    summary: str
    inputs: tuple[BlockInput, ...]
    outputs: tuple[BlockOutput, ...]
    elementwise: tuple[str, str] | None = None  # (input, output) that `apply_to` maps over
    computes_money: bool = True

    def input(self, name: str) -> BlockInput | None:
        return next((item for item in self.inputs if item.name == name), None)

    def output(self, name: str) -> BlockOutput | None:
        return next((item for item in self.outputs if item.name == name), None)


_PNL_OUTPUTS = (
    BlockOutput("cost_basis", "money", "what the open quantity cost"),
    BlockOutput("market_value", "money", "what the open quantity is worth at the price"),
    BlockOutput("unrealized", "money", "market value minus cost basis"),
    BlockOutput("realized", "money", "P&L already made by earlier sales"),
    BlockOutput("total", "money", "unrealized plus realized"),
    BlockOutput("return_pct", "percent", "total over cost basis, in percent; empty when cost basis is 0", True),
)

CATALOG: dict[str, Block] = {
    block.name: block
    for block in (
        Block(
            name="pnl.position",
            module="pnl",
            function="position_pnl",
            summary="P&L of one holding on an average-cost basis: unrealized, realized and total.",
            inputs=(
                BlockInput("quantity", "decimal", "units held"),
                BlockInput("average_cost", "money", "average price paid per unit"),
                BlockInput("price", "money", "current price per unit"),
                BlockInput("realized", "money", "P&L already realized by earlier sales", required=False),
            ),
            outputs=_PNL_OUTPUTS,
        ),
        Block(
            name="pnl.portfolio",
            module="pnl",
            function="portfolio_pnl",
            summary="P&L of a whole portfolio from its holdings' sums (give them as sum(field)).",
            inputs=(
                BlockInput("cost_basis", "money", "summed cost basis of the holdings"),
                BlockInput("market_value", "money", "summed market value of the holdings"),
                BlockInput("realized", "money", "summed realized P&L of the holdings", required=False),
            ),
            outputs=_PNL_OUTPUTS,
        ),
        Block(
            name="kelly.sizing",
            module="kelly",
            function="kelly_sizing",
            summary="Kelly-criterion stake: f* = p - (1 - p) / b, clamped at 0, times a fractional multiplier.",
            inputs=(
                BlockInput("probability", "ratio", "chance of a win, between 0 and 1"),
                BlockInput("odds", "decimal", "net odds: gain per 1 staked on a win, greater than 0"),
                BlockInput("capital", "money", "capital to size the position from", required=False),
                BlockInput("multiplier", "ratio", "fractional Kelly, in (0, 1]; 1 by default", required=False),
            ),
            outputs=(
                BlockOutput("edge", "ratio", "expected net gain per 1 staked"),
                BlockOutput("full_fraction", "ratio", "the full Kelly fraction, in [0, 1]"),
                BlockOutput("fraction", "ratio", "the fraction of capital to stake, after the multiplier"),
                BlockOutput("position", "money", "fraction times capital; empty without capital", True),
            ),
        ),
        Block(
            name="fx.convert",
            module="fx",
            function="convert",
            summary="Converts an amount among INR, USD and AED at a dated rates table (exact Decimals).",
            inputs=(
                BlockInput("amount", "money", "the amount to convert"),
                BlockInput("source", "currency", "the amount's currency"),
                BlockInput("target", "currency", "the currency wanted"),
                BlockInput("rates", "rates", "a dated rates table; the block's reference table by default", False),
            ),
            outputs=(
                BlockOutput("amount", "money", "the amount in the target currency"),
                BlockOutput("currency", "currency", "the target currency"),
                BlockOutput("rate", "decimal", "units of target per 1 source"),
                BlockOutput("as_of", "date", "the date of the rates used"),
            ),
            elementwise=("amount", "amount"),
        ),
        Block(
            name="fx.rates",
            module="fx",
            function="rates_info",
            summary="The date and base of the rates table in use, to show beside converted amounts.",
            inputs=(BlockInput("rates", "rates", "a dated rates table; the reference table by default", False),),
            outputs=(
                BlockOutput("as_of", "date", "the date of the rates"),
                BlockOutput("base", "currency", "the currency every rate is quoted against"),
            ),
            computes_money=False,
        ),
    )
}


def block_get(name: str) -> Block | None:
    return CATALOG.get(name)


def catalog_markdown() -> str:
    """The catalog as a markdown table, for docs and for PMs writing specs."""
    lines = ["| block | what it does | inputs | outputs |", "|---|---|---|---|"]
    for block in CATALOG.values():
        inputs = ", ".join(f"`{i.name}`" + ("" if i.required else "?") + f" ({i.type})" for i in block.inputs)
        outputs = ", ".join(f"`{o.name}` ({o.type})" for o in block.outputs)
        lines.append(f"| `{block.name}` | {block.summary} | {inputs} | {outputs} |")
    return "\n".join(lines)
