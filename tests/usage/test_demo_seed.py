"""seed_demo's usage history: weeks of past runs for the charts, added once, never blocking the demo."""

from datetime import timedelta

from django.utils import timezone

from skills.models import SkillRun
from tenants.models import User
from tests.usage.doors import api_ask
from usage.demo import usage_demo_seed
from usage.models import Budget


def test_history_fills_every_past_day_once_and_the_demo_still_runs(world, client):
    added = usage_demo_seed(days=10)

    assert added > 100
    assert usage_demo_seed(days=10) == 0  # seeding again adds nothing
    assert usage_demo_seed(days=11) > 0  # a longer history adds only the missing day
    assert SkillRun.objects.filter(extra__demo="usage-history", queued_at__date=timezone.localdate()).count() == 0
    client.force_login(User.objects.get(username="olivia"))
    today = timezone.localdate()
    usage = client.get("/api/usage", {"start": str(today - timedelta(days=10)), "end": str(today - timedelta(days=1))})
    days = usage.json()["days"]
    assert all(day["runs"] > 0 and day["p50_ms"] and float(day["cost_usd"]) > 0 for day in days)
    assert Budget.objects.filter(scope="team", team__slug="ecm-field").count() == 1
    client.force_login(User.objects.get(username="sarah"))
    assert api_ask(client).status_code == 202  # the seeded budgets are far above the seeded spend
