"""The usage dashboard and GET /api/usage: the figures, who may see them, and the page with its charts."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.templatetags.static import static

from skills.models import RunStatus, Skill, SkillRun
from tenants.models import Membership, Role, Team, User
from tests.factories import user_make
from usage.selectors import percentile_cont

DAY1, DAY2 = date(2026, 11, 2), date(2026, 11, 3)


def _run(username: str, skill: str | None, *, day: date, status: str, latency_ms: int, cost: str = "0") -> SkillRun:
    user = User.objects.get(username=username)
    run = SkillRun.objects.create(
        user=user,
        team=user.memberships.get(is_primary=True).team,
        tenant=user.tenant,
        skill=Skill.objects.get(name=skill) if skill else None,
        channel="web",
        message="q",
        status=status,
        cost_usd=Decimal(cost),
    )
    queued = datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC)
    SkillRun.objects.filter(pk=run.pk).update(queued_at=queued, finished_at=queued + timedelta(milliseconds=latency_ms))
    return run


@pytest.fixture
def history(world):
    """Day 1: four answered ECM runs (100/200/300/1000 ms), one failed, one refused; day 2: FinCrime."""
    for latency, cost in ((100, "0.10"), (200, "0.20"), (300, "0.30"), (1000, "0.40")):
        _run("sarah", "my-tickets", day=DAY1, status=RunStatus.SUCCEEDED, latency_ms=latency, cost=cost)
    _run("amir", "escalate-shipment", day=DAY1, status=RunStatus.FAILED, latency_ms=50)
    _run("sarah", None, day=DAY1, status=RunStatus.REFUSED, latency_ms=1)
    _run("raj", "show-alerts", day=DAY2, status=RunStatus.SUCCEEDED, latency_ms=400, cost="1.00")
    _run("theo", None, day=DAY1, status=RunStatus.REFUSED, latency_ms=1)  # another tenant: never counted


def _usage(client, username: str | None, **params):
    if username:
        client.force_login(User.objects.get(username=username))
    return client.get("/api/usage", {"start": "2026-11-02", "end": "2026-11-04", **params})


def test_per_day_runs_latency_errors_and_cost(client, history):
    usage = _usage(client, "olivia").json()

    day1, day2, day3 = usage["days"]
    assert (day1["day"], day1["runs"], day1["succeeded"], day1["failed"], day1["refused"]) == ("2026-11-02", 6, 4, 1, 1)
    assert day1["error_rate"] == 0.2  # 1 failed of 5 that ran; refusals are not errors
    assert day1["cost_usd"] == "1.000000"
    # PERCENTILE_CONT over 100, 200, 300, 1000 ms: 250 and 895 (interpolated), on PostgreSQL and SQLite alike.
    assert (day1["p50_ms"], day1["p95_ms"]) == (250, 895)
    assert (day2["runs"], day2["p50_ms"], day2["cost_usd"]) == (1, 400, "1.000000")
    assert (day3["day"], day3["runs"], day3["p50_ms"], day3["error_rate"]) == ("2026-11-04", 0, None, 0.0)
    totals = usage["totals"]
    assert (totals["runs"], totals["failed"], totals["refused"], totals["cost_usd"]) == (7, 1, 1, "2.000000")
    assert (totals["p50_ms"], totals["p95_ms"]) == (300, 880)  # over 100, 200, 300, 400, 1000
    assert totals["error_rate"] == pytest.approx(1 / 6, abs=1e-4)


def test_top_skills_per_domain_and_team(client, history):
    usage = _usage(client, "olivia").json()

    assert usage["top_skills_by_domain"] == [
        {
            "domain": "ecm",
            "skills": [
                {"skill": "my-tickets", "runs": 4, "cost_usd": "1.000000"},
                {"skill": "escalate-shipment", "runs": 1, "cost_usd": "0.000000"},
            ],
        },
        {"domain": "fincrime", "skills": [{"skill": "show-alerts", "runs": 1, "cost_usd": "1.000000"}]},
    ]
    assert [group["team"] for group in usage["top_skills_by_team"]] == ["ECM field", "FinCrime"]


def test_filters_by_domain_and_team(client, history):
    assert _usage(client, "olivia", domain="fincrime").json()["totals"]["runs"] == 1
    by_team = _usage(client, None, team="ecm-field").json()
    assert (by_team["team"], by_team["totals"]["runs"]) == ("ecm-field", 6)


def test_a_period_ending_before_it_starts_is_refused_in_words(client, history):
    response = _usage(client, "olivia", start="2026-11-04", end="2026-11-02")

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "The period ends (2026-11-02) before it starts (2026-11-04); pick an end on or after it."
    )
    assert _usage(client, None, start="2026-13-01").status_code == 422


@pytest.mark.parametrize(
    ("username", "status"),
    [
        (None, 401),
        ("sarah", 403),  # field agent
        ("raj", 403),  # analyst
        ("omar", 403),  # manager, not an ops manager
        ("paula", 403),  # product manager
        ("olivia", 200),  # ops manager (and staff)
        ("admin", 200),  # superuser
    ],
)
def test_who_may_read_usage(client, history, username, status):
    response = _usage(client, username)
    assert response.status_code == status
    if status == 403:
        assert response.json()["detail"] == "Usage figures are for ops managers, admins and staff."


def test_an_ops_manager_who_is_not_staff_sees_only_their_tenants_runs(client, history):
    northwind = Team.objects.get(slug="northwind-ops")
    user_make("nadia", team=northwind, role=Role.OPS_MANAGER)
    ecm_ops = user_make("eve", team=Team.objects.get(slug="ecm-managers"), role=Role.OPS_MANAGER)
    assert not ecm_ops.is_staff

    assert _usage(client, "nadia").json()["totals"]["runs"] == 1  # theo's refusal only
    assert _usage(client, "eve").json()["totals"]["runs"] == 7


def test_an_admin_role_without_staff_may_read_usage(client, history):
    user = user_make("ada", team=Team.objects.get(slug="product"), role=Role.FIELD_AGENT)
    assert _usage(client, "ada").status_code == 403
    Membership.objects.filter(user=user).update(role=Role.ADMIN)
    assert _usage(client, "ada").status_code == 200


def test_the_dashboard_page_draws_charts_from_vendored_chartjs(client, history):
    client.force_login(User.objects.get(username="olivia"))

    page = client.get("/usage/", {"start": "2026-11-02", "end": "2026-11-04"})

    assert page.status_code == 200
    html = page.text
    for canvas in ("chart-runs", "chart-latency", "chart-errors", "chart-cost"):
        assert f'id="{canvas}"' in html
    chartjs = static("vendor/chartjs/chart.umd.min.js")  # hashed in production
    assert f'<script src="{chartjs}"></script>' in html
    assert "cdn" not in html.lower()
    assert '<a href="/usage/" aria-current="page">Usage</a>' in html
    assert page.context["summary"]["totals"]["runs"] == 7
    script = client.get(chartjs)
    assert script.status_code == 200
    assert b"Chart.js v4.6.1" in b"".join(script.streaming_content if script.streaming else [script.content])


def test_the_page_is_403_for_others_and_not_in_their_menu(client, history):
    client.force_login(User.objects.get(username="sarah"))
    assert client.get("/usage/").status_code == 403
    assert ">Usage</a>" not in client.get("/console/").text


def test_a_bad_date_on_the_page_says_so_and_shows_the_default_period(client, history):
    client.force_login(User.objects.get(username="olivia"))

    page = client.get("/usage/", {"start": "yesterday"})

    assert page.status_code == 200
    assert "The start date &#x27;yesterday&#x27; is not a date like 2026-11-01" in page.text
    assert len(page.context["summary"]["days"]) == 30


def test_percentile_cont_matches_postgresql():
    assert percentile_cont([100, 200, 300, 1000], 0.5) == 250
    assert percentile_cont([100, 200, 300, 1000], 0.95) == pytest.approx(895)
    assert percentile_cont([7], 0.95) == 7
    assert percentile_cont([], 0.5) is None


def test_openapi_documents_the_usage_endpoint_and_its_errors(client, db):
    operation = client.get("/api/openapi.json").json()["paths"]["/api/usage"]["get"]

    assert operation["operationId"] == "usage_get"
    assert set(operation["responses"]) == {"200", "401", "403", "422"}
    assert [p["name"] for p in operation["parameters"]] == ["start", "end", "domain", "team"]
