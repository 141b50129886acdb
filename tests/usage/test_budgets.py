"""Monthly budgets from the asker's side: a hard stop that names the budget, and a soft warning."""

from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.utils import timezone

from skills.models import Domain, RunStatus, Skill, SkillRun
from tenants.models import Team, Tenant, User
from tests.bridges.conftest import drain, linked, mention, post_event, slack_api, slack_env  # noqa: F401
from tests.skills.conftest import demo  # noqa: F401
from tests.usage.doors import api_ask, console_asks
from tests.whatsapp.conftest import graph, post_webhook, text_message, webhook_payload  # noqa: F401
from usage.models import Budget
from usage.services import budget_warnings_take, month_bounds


def _spend(username: str, usd: str, *, when=None, skill: str | None = "my-tickets") -> SkillRun:
    """A finished run that cost `usd`, as the executor records one."""
    user = User.objects.get(username=username)
    membership = user.memberships.get(is_primary=True)
    run = SkillRun.objects.create(
        user=user,
        team=membership.team,
        tenant=user.tenant,
        skill=Skill.objects.get(name=skill) if skill else None,
        channel="web",
        message="earlier work",
        status=RunStatus.SUCCEEDED,
        cost_usd=Decimal(usd),
    )
    if when is not None:
        SkillRun.objects.filter(pk=run.pk).update(queued_at=when)
    return run


def _team_budget(slug: str = "ecm-field", limit: str = "50.00", **fields) -> Budget:
    team = Team.objects.get(slug=slug)
    return Budget.objects.create(
        tenant=team.tenant, scope="team", team=team, monthly_limit_usd=Decimal(limit), **fields
    )


def _resume_day() -> str:
    _, end = month_bounds()
    return f"{end.day} {end:%B}"


def _refusal(spent: str) -> str:
    return (
        f"The ECM field team's monthly budget of $50.00 is spent (${spent} this month); "
        f"runs resume on {_resume_day()} or when an ops manager raises it."
    )


def test_a_spent_team_budget_refuses_a_console_ask_by_name_and_records_the_refusal(world):
    _team_budget()
    _spend("amir", "50.12")

    [reply] = async_to_sync(console_asks)("sarah", "/my-tickets")

    assert reply["event"] == "run.refused"
    assert reply["message"] == _refusal("50.12")
    run = SkillRun.objects.get(pk=reply["run_id"])
    assert (run.status, run.user.username, run.error) == (RunStatus.REFUSED, "sarah", _refusal("50.12"))


def test_the_api_answers_402_with_the_budget_and_the_refused_run(world, client):
    budget = _team_budget()
    _spend("priya", "50.00")
    client.force_login(User.objects.get(username="sarah"))

    response = api_ask(client)

    assert response.status_code == 402
    problem = response.json()
    assert (problem["title"], problem["detail"]) == ("BudgetExhaustedError", _refusal("50.00"))
    assert (problem["budget_id"], problem["limit_usd"]) == (budget.pk, "50.00")
    assert SkillRun.objects.get(pk=problem["run_id"]).status == RunStatus.REFUSED


def test_a_slack_mention_is_answered_in_the_thread_with_the_budget_that_stopped_it(client, linked, slack_env):  # noqa: F811
    _team_budget()
    _spend("amir", "51.00")

    response = post_event(client, mention("show my tickets"))
    drain()

    assert response.status_code == 200  # Slack must never retry a refusal
    texts = [call.params.get("text", "") for call in slack_env.of("chat.update")]
    assert f":warning: {_refusal('51.00')}" in texts
    assert SkillRun.objects.get(channel="slack").status == RunStatus.REFUSED


def test_past_the_warning_line_the_run_goes_ahead_with_a_visible_notice(world, client):
    _team_budget(warn_at_percent=80)
    _spend("amir", "42.10")
    client.force_login(User.objects.get(username="sarah"))

    response = api_ask(client)

    assert response.status_code == 202
    run = client.get(f"/api/runs/{response.json()['id']}").json()
    assert run["status"] == "succeeded"
    notice = run["events"][0]
    assert notice["type"] == "run.notice"
    assert notice["data"]["message"] == (
        "The ECM field team's monthly budget is 84% used ($42.10 of $50.00 this month); "
        "at 100% new runs are refused until an ops manager raises it."
    )
    assert [event["type"] for event in run["events"]][1] == "run.started"


WARNING_84 = (
    "The ECM field team's monthly budget is 84% used ($42.10 of $50.00 this month); "
    "at 100% new runs are refused until an ops manager raises it."
)


def _ask_in_slack(client, slack_api, *, event_id: str, ts: str, thread_ts: str | None = None) -> str:  # noqa: F811
    """Mention the bot (in a thread when `thread_ts` is given); the answer it left there."""
    payload = mention("show my tickets", event_id=event_id, ts=ts)
    if thread_ts:
        payload["event"]["thread_ts"] = thread_ts
    assert post_event(client, payload).status_code == 200
    drain()
    return slack_api.of("chat.update")[-1].params["text"]


def test_a_slack_answer_under_a_budget_past_its_warning_line_says_so_once_a_day_per_thread(
    client,
    linked,  # noqa: F811
    slack_env,  # noqa: F811
):
    _team_budget(warn_at_percent=80)
    _spend("amir", "42.10")

    first = _ask_in_slack(client, slack_env, event_id="EvW1", ts="1700000001.000100")
    again = _ask_in_slack(client, slack_env, event_id="EvW2", ts="1700000002.000100", thread_ts="1700000001.000100")
    elsewhere = _ask_in_slack(client, slack_env, event_id="EvW3", ts="1700000003.000100")

    assert "#1042" in first and first.endswith(f"\n\n:warning: {WARNING_84}")
    assert "#1042" in again and "budget" not in again  # the same thread, the same day
    assert elsewhere.endswith(f":warning: {WARNING_84}")  # another thread has not seen it yet
    assert SkillRun.objects.filter(channel="slack", status=RunStatus.SUCCEEDED).count() == 3


def test_a_slack_answer_under_the_warning_line_carries_no_warning(client, linked, slack_env):  # noqa: F811
    _team_budget(warn_at_percent=80)
    _spend("amir", "39.99")

    answer = _ask_in_slack(client, slack_env, event_id="EvW4", ts="1700000004.000100")

    assert "#1042" in answer and "budget" not in answer and ":warning:" not in answer


def test_a_whatsapp_reply_under_a_budget_past_its_warning_line_says_so_once_a_day(client, graph):  # noqa: F811
    _team_budget(warn_at_percent=80)
    _spend("amir", "42.10")

    for number in (1, 2):
        response = post_webhook(client, webhook_payload(text_message("show my tickets", message_id=f"wamid.w{number}")))
        assert response.status_code == 200

    first, second = (message["text"]["body"] for message in graph.sent)
    assert "#1042" in first and first.endswith(f"\n\n⚠️ {WARNING_84}")
    assert "#1042" in second and "budget" not in second


def test_a_warning_shown_in_a_chat_today_is_shown_there_again_tomorrow(client, world):
    _team_budget(warn_at_percent=80)
    _spend("amir", "42.10")
    client.force_login(User.objects.get(username="sarah"))
    run = SkillRun.objects.get(pk=api_ask(client).json()["id"])
    today = timezone.now()

    shown = budget_warnings_take(run=run, place="slack:T1:C1:1.0", now=today)
    same_day = budget_warnings_take(run=run, place="slack:T1:C1:1.0", now=today)
    other_chat = budget_warnings_take(run=run, place="whatsapp:P1:9715", now=today)
    tomorrow = budget_warnings_take(run=run, place="slack:T1:C1:1.0", now=today + timedelta(days=1))

    assert (shown, same_day, other_chat, tomorrow) == ([WARNING_84], [], [WARNING_84], [WARNING_84])


def test_under_the_warning_line_a_run_carries_no_notice(world, client):
    _team_budget(warn_at_percent=80)
    _spend("amir", "39.99")
    client.force_login(User.objects.get(username="sarah"))

    run_id = api_ask(client).json()["id"]

    assert SkillRun.objects.get(pk=run_id).events.filter(type="run.notice").count() == 0


@pytest.mark.parametrize(
    ("scope", "target", "label"),
    [
        ("tenant", None, "Aspora Remit's monthly budget"),
        ("domain", "ecm", "The ecm domain's monthly budget"),
        ("skill", "my-tickets", "The my-tickets skill's monthly budget"),
    ],
)
def test_tenant_domain_and_skill_budgets_stop_runs_too(world, client, scope, target, label):
    tenant = Tenant.objects.get(slug="aspora-remit")
    fields = {"domain": Domain.objects.get(name=target)} if scope == "domain" else {}
    fields |= {"skill": Skill.objects.get(name=target)} if scope == "skill" else {}
    Budget.objects.create(tenant=tenant, scope=scope, monthly_limit_usd=Decimal("5.00"), **fields)
    _spend("omar", "5.25")
    client.force_login(User.objects.get(username="sarah"))

    response = api_ask(client)

    assert response.status_code == 402
    assert response.json()["detail"].startswith(f"{label} of $5.00 is spent ($5.25 this month)")


def test_last_months_spend_other_teams_disabled_budgets_and_other_skills_do_not_stop_me(world, client):
    _team_budget()
    start, _ = month_bounds()
    _spend("amir", "80.00", when=start - timedelta(hours=1))  # last month
    _spend("raj", "80.00", skill=None)  # FinCrime's spend
    _team_budget(slug="ecm-field", limit="1.00", enabled=False)
    Budget.objects.create(
        tenant=Tenant.objects.get(slug="aspora-remit"),
        scope="skill",
        skill=Skill.objects.get(name="escalate-shipment"),
        monthly_limit_usd=Decimal("0"),
    )
    Budget.objects.create(tenant=Tenant.objects.get(slug="northwind"), scope="tenant", monthly_limit_usd=Decimal("0"))
    client.force_login(User.objects.get(username="sarah"))

    response = api_ask(client)

    assert response.status_code == 202, response.json()


def test_raising_the_budget_lets_runs_resume_at_once(world, client):
    budget = _team_budget()
    _spend("amir", "50.12")
    client.force_login(User.objects.get(username="sarah"))
    assert api_ask(client).status_code == 402

    budget.monthly_limit_usd = Decimal("100.00")
    budget.save()

    assert api_ask(client).status_code == 202


def test_a_budget_must_name_what_it_limits_and_only_that(world):
    tenant = Tenant.objects.get(slug="aspora-remit")
    with pytest.raises(ValidationError) as missing:
        Budget(tenant=tenant, scope="team", monthly_limit_usd=Decimal(10)).full_clean()
    assert missing.value.message_dict["team"] == ["A team budget names the team it limits."]
    other = Team.objects.get(slug="northwind-ops")
    with pytest.raises(ValidationError) as foreign:
        Budget(tenant=tenant, scope="team", team=other, monthly_limit_usd=Decimal(10)).full_clean()
    assert foreign.value.message_dict["team"] == ["The team belongs to another tenant."]


def test_ops_managers_see_each_budgets_spend_this_month_in_the_admin(world, client):
    _team_budget()
    _spend("amir", "12.34")
    client.force_login(User.objects.get(username="admin"))

    page = client.get("/admin/usage/budget/")

    assert page.status_code == 200
    assert "The ECM field team&#x27;s monthly budget" in page.text
    assert "12.34" in page.text
