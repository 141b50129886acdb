"""Seed the prices of the models Aspora names, and index runs for month-to-date spend by team and skill.

The indexes are on skills' table but live here, with the budgets that read them; tenant spend uses
the (tenant, -queued_at) index skills already has.
"""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import migrations

SINCE = datetime(2025, 1, 1, tzinfo=UTC)
# List prices (USD per million tokens) as published by the providers when this was written.
PRICES = [
    ("anthropic:claude-haiku-4-5", "1.00", "5.00"),
    ("anthropic:claude-sonnet-4-5", "3.00", "15.00"),
    ("anthropic:claude-opus-4-1", "15.00", "75.00"),
    ("openai:gpt-4o-mini", "0.15", "0.60"),
    ("openai:gpt-4o", "2.50", "10.00"),
    ("openai:gpt-5", "1.25", "10.00"),
    ("openrouter:anthropic/claude-sonnet-4.5", "3.00", "15.00"),
]


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("usage", "ModelPrice")
    for model, input_price, output_price in PRICES:
        ModelPrice.objects.get_or_create(
            model=model,
            effective_from=SINCE,
            defaults={
                "input_usd_per_mtok": Decimal(input_price),
                "output_usd_per_mtok": Decimal(output_price),
                "note": "seeded list price",
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("usage", "ModelPrice").objects.filter(effective_from=SINCE, note="seeded list price").delete()


class Migration(migrations.Migration):
    dependencies = [("usage", "0001_initial"), ("skills", "0001_initial")]

    operations = [
        migrations.RunPython(seed, unseed),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS usage_run_team_month ON skills_skillrun (team_id, queued_at)",
            "DROP INDEX IF EXISTS usage_run_team_month",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS usage_run_skill_month ON skills_skillrun (skill_id, queued_at)",
            "DROP INDEX IF EXISTS usage_run_skill_month",
        ),
    ]
