"""What a run cost: the admin's price table first, genai-prices where the table has no row.

The executor calls `run_cost_usd` once per run (skills.executor.cost_usd), so a price an ops
manager enters in the admin is what the next run is charged, with no deploy.
"""

import logging
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from usage.models import ModelPrice

logger = logging.getLogger(__name__)

MILLION = Decimal(1_000_000)
MICRO_USD = Decimal("0.000001")


def model_price_get(*, model: str, at: datetime | None = None) -> ModelPrice | None:
    """The row in effect for `model` at `at`: the latest one that had started by then."""
    return (
        ModelPrice.objects.filter(model=model, effective_from__lte=at or timezone.now())
        .order_by("-effective_from")
        .first()
    )


def run_cost_usd(
    *, model: str, offline: bool, input_tokens: int, output_tokens: int, at: datetime | None = None
) -> Decimal:
    """USD for one run's tokens; 0 for the offline model and for a model nobody has priced."""
    if offline or not (input_tokens or output_tokens):
        return Decimal(0)
    price = model_price_get(model=model, at=at)
    if price is not None:
        cost = (input_tokens * price.input_usd_per_mtok + output_tokens * price.output_usd_per_mtok) / MILLION
        return cost.quantize(MICRO_USD)
    provider, _, model_ref = model.partition(":")
    if not model_ref:  # "test" and other provider-less models have no list price
        return Decimal(0)
    from genai_prices import Usage, calc_price

    try:
        calculated = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens), model_ref=model_ref, provider_id=provider
        )
    except LookupError:
        logger.warning("no price known for %s (add one in the admin's model prices); cost recorded as 0", model)
        return Decimal(0)
    return Decimal(str(calculated.total_price)).quantize(MICRO_USD)
