"""The real provider path: pydantic-ai's OpenAI client against a loopback chat-completions server."""

import pytest

from skills.models import RunStatus, Skill, SkillRun
from skills.services import skill_edit, skill_run_start
from tenants.models import User
from tests.loopback import OpenAIChatServer, Reply
from tests.skills.conftest import context_for


def _has_tool_result(body: dict) -> bool:
    return any(message["role"] == "tool" for message in body["messages"])


def tickets_then_summary(body: dict) -> Reply:
    if _has_tool_result(body):
        return Reply(text="You have 4 open tickets; 2 are past SLA.")
    return Reply(tool_calls=[("list_my_tickets", {"status": "active"})])


@pytest.fixture
def openai_model(monkeypatch, settings):
    def use(server: OpenAIChatServer) -> None:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        settings.ASPORA_MODEL = "openai:gpt-4o-mini"
        settings.ASPORA_MODEL_RETRY_BACKOFF = 0.01

    return use


def _run(message: str = "show my tickets") -> SkillRun:
    run = skill_run_start(context=context_for("sarah"), message=message, skill_name="my-tickets")
    run.refresh_from_db()
    return run


def test_a_run_on_a_real_provider_client_calls_tools_streams_and_costs_money(demo, openai_model):
    with OpenAIChatServer(tickets_then_summary) as server:
        openai_model(server)
        run = _run()

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.model, run.is_offline, run.answer) == (
        "openai:gpt-4o-mini",
        False,
        "You have 4 open tickets; 2 are past SLA.",
    )
    assert (run.input_tokens, run.output_tokens, run.requests) == (240, 60, 2)
    assert run.cost_usd > 0
    first = server.requests[0]
    assert server.headers[0]["authorization"] == "Bearer sk-loopback-test"
    assert first["stream"] is True
    assert [tool["function"]["name"] for tool in first["tools"]] == ["list_my_tickets"]
    system = " ".join(m["content"] for m in first["messages"] if m["role"] == "system")
    assert "# My tickets" in system
    assert "- user: sarah" in system and "- team: ECM field" in system
    assert first["messages"][-1] == {"role": "user", "content": "show my tickets"}
    tool_message = next(m for m in server.requests[1]["messages"] if m["role"] == "tool")
    assert "Transfer stuck at beneficiary bank" in tool_message["content"]
    deltas = [e.data["text"] for e in run.events.filter(type="run.delta")]
    assert "".join(deltas) == run.answer


def test_a_provider_500_is_retried_and_the_run_still_succeeds(demo, openai_model):
    calls = {"n": 0}

    def flaky(body: dict) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(status=500)
        return tickets_then_summary(body)

    with OpenAIChatServer(flaky) as server:
        openai_model(server)
        run = _run()

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert len(server.requests) == 3


def test_a_provider_that_keeps_failing_ends_in_a_clear_failed_run(demo, openai_model, settings):
    settings.ASPORA_MODEL_RETRIES = 1
    with OpenAIChatServer(lambda body: Reply(status=503)) as server:
        openai_model(server)
        run = _run()

    assert run.status == RunStatus.FAILED
    assert run.error.startswith("The model provider failed: status_code: 503")
    assert run.finished_at is not None
    assert run.events.last().type == "run.error"
    assert len(server.requests) >= 2


def test_a_provider_slower_than_the_skills_timeout_fails_the_run(demo, openai_model):
    skill = Skill.objects.get(name="my-tickets")
    config = {**skill.current_version.config, "timeout_seconds": 1}
    skill_edit(
        skill=skill, content=skill.current_version.content, config=config, author=User.objects.get(username="olivia")
    )

    with OpenAIChatServer(lambda body: Reply(text="too late", delay=3)) as server:
        openai_model(server)
        run = _run()

    assert run.status == RunStatus.FAILED
    assert run.error == "The run took longer than its 1 s limit."


def test_without_any_provider_key_the_offline_model_answers_and_says_so(demo, monkeypatch):
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(key, raising=False)

    run = _run()

    assert (run.model, run.is_offline) == ("aspora:offline", True)
    assert run.answer.endswith("_Answered by Aspora's offline model: no model provider is configured._")


def test_a_follow_up_in_a_conversation_sends_the_earlier_turns_and_keeps_the_pinned_version(demo, openai_model):
    sarah = context_for("sarah")
    with OpenAIChatServer(tickets_then_summary) as server:
        openai_model(server)
        first = skill_run_start(context=sarah, message="show my tickets", skill_name="my-tickets")
        skill = Skill.objects.get(name="my-tickets")
        skill_edit(
            skill=skill,
            content=skill.current_version.content + "\nNew rule.\n",
            config=skill.current_version.config,
            author=User.objects.get(username="olivia"),
        )
        follow_up = skill_run_start(context=sarah, message="only the breached ones", conversation=first.conversation)

    follow_up.refresh_from_db()
    assert follow_up.status == RunStatus.SUCCEEDED
    assert follow_up.skill_version == first.skill_version
    assert Skill.objects.get(name="my-tickets").current_version.number == 2
    users = [m["content"] for m in server.requests[2]["messages"] if m["role"] == "user"]
    assert users == ["show my tickets", "only the breached ones"]
    assert "New rule." not in server.requests[2]["messages"][0]["content"]


def test_a_configured_fallback_model_answers_when_the_first_one_fails(demo, openai_model, settings, monkeypatch):
    settings.ASPORA_MODEL_RETRIES = 0
    with (
        OpenAIChatServer(lambda body: Reply(status=500)) as broken,
        OpenAIChatServer(tickets_then_summary) as fallback,
    ):
        openai_model(broken)
        settings.ASPORA_FALLBACK_MODEL = "openrouter:backup"
        # Both servers speak OpenAI's protocol; the fallback's provider is pointed at the second one.
        monkeypatch.setattr("skills.executor._model_build", _builder_with_fallback_at(fallback.base_url))
        run = _run()

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.answer == "You have 4 open tickets; 2 are past SLA."
    assert len(broken.requests) >= 1
    assert len(fallback.requests) == 2


def _builder_with_fallback_at(base_url: str):
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    from skills import executor

    real = executor._model_build

    def build(name: str):
        if name == "openrouter:backup":
            return OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=base_url, api_key="sk-fallback"))
        return real(name)

    return build
