"""What a run costs: the admin's price table, genai-prices where it has no row, nothing offline."""

import importlib
from datetime import timedelta
from decimal import Decimal

from django.apps import apps as django_apps
from django.utils import timezone

from skills.models import RunStatus
from skills.services import skill_run_start
from tests.skills.conftest import context_for
from usage.models import ModelPrice


def _ask():
    run = skill_run_start(context=context_for("sarah"), message="show my tickets", skill_name="my-tickets")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def test_the_models_aspora_names_are_priced_out_of_the_box(db):
    # A transactional test before this one may have flushed the migration's rows: seed them again.
    migration = importlib.import_module("usage.migrations.0002_seed_prices_and_spend_indexes")
    migration.seed(django_apps, None)
    migration.seed(django_apps, None)  # and once more: the seed never duplicates a row
    assert ModelPrice.objects.filter(model="anthropic:claude-haiku-4-5").count() == 1
    seeded = dict(ModelPrice.objects.values_list("model", "input_usd_per_mtok"))
    assert seeded["anthropic:claude-haiku-4-5"] == Decimal("1.00")
    assert seeded["openai:gpt-4o-mini"] == Decimal("0.15")


def test_a_run_is_charged_at_the_price_an_ops_manager_entered(world, priced_model):
    ModelPrice.objects.create(
        model="openai:gpt-4o-mini",
        input_usd_per_mtok=Decimal("10"),
        output_usd_per_mtok=Decimal("20"),
        effective_from=timezone.now() - timedelta(minutes=1),
    )
    run = _ask()
    assert (run.input_tokens, run.output_tokens) == (120, 30)
    # 120 x $10/M + 30 x $20/M, the newest row in effect beating the seeded list price.
    assert run.cost_usd == Decimal("0.001800")
    assert run.events.get(type="run.final").data["cost_usd"] == "0.001800"


def test_a_price_that_starts_tomorrow_does_not_apply_today(world, priced_model):
    ModelPrice.objects.create(
        model="openai:gpt-4o-mini",
        input_usd_per_mtok=Decimal("1"),
        output_usd_per_mtok=Decimal("2"),
        effective_from=timezone.now() - timedelta(days=1),
    )
    ModelPrice.objects.create(
        model="openai:gpt-4o-mini",
        input_usd_per_mtok=Decimal("1000"),
        output_usd_per_mtok=Decimal("1000"),
        effective_from=timezone.now() + timedelta(days=1),
    )
    assert _ask().cost_usd == Decimal("0.000180")  # 120 x $1/M + 30 x $2/M: today's row, not tomorrow's


def test_a_model_missing_from_the_table_falls_back_to_genai_prices(world, priced_model):
    ModelPrice.objects.filter(model="openai:gpt-4o-mini").delete()
    assert _ask().cost_usd == Decimal("0.000036")  # genai-prices' list price for gpt-4o-mini


def test_the_offline_model_costs_nothing(world):
    run = _ask()
    assert (run.is_offline, run.cost_usd) == (True, Decimal(0))
