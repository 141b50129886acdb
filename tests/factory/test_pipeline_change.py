"""A change to a product the factory already serves: the coding agent (a scripted model here, never a
real provider) edits the product's repository, the LLM reviewer joins the offline ones, the
product's own tests run again, and the new commit replaces the live deployment once approved."""

import contextlib
import json
import os
import signal
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import FunctionModel

from factory.models import Deployment, DeploymentStatus, RunStatus, StageName
from factory.services import factory_run_approve, factory_run_queue, risk_tiers_default_create
from tenants.demo import demo_seed
from tenants.models import User

SPECS = Path(django_settings.BASE_DIR) / "factory" / "specs"
CHANGE = """\
---
kind: change
name: readme-currencies
title: Say which currencies the checker speaks
target: product-wealth-portfolio-checker
---
The README should say, in one line under the title, that amounts come in INR, USD or AED.
"""
LINE = "Amounts come in INR (the default), USD or AED."


def _model(calls: list[str]):
    """The coding agent reads, writes, tests and answers; the reviewer (asked for structured
    output) finds nothing."""
    steps = iter(
        [
            [("read_file", {"path": "README.md"})],
            "WRITE",
            [("run_tests", {})],
            "The README now names the three currencies under its title.",
        ]
    )
    readme = {}

    def reply(messages, info):
        if info.output_tools:  # the LLM reviewer
            calls.append("review")
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {"findings": []})])
        calls.append("agent")
        step = next(steps)
        if step == "WRITE":
            text = messages[-1].parts[0].content
            readme["text"] = text.replace("\n", f"\n\n{LINE}\n", 1)
            step = [("write_file", {"path": "README.md", "content": readme["text"]})]
        if isinstance(step, str):
            return ModelResponse(parts=[TextPart(step)])
        return ModelResponse(parts=[ToolCallPart(name, args, tool_call_id=f"c{len(calls)}") for name, args in step])

    return FunctionModel(reply)


@pytest.fixture
def world(db, settings, tmp_path, monkeypatch):
    demo_seed(password=None)
    risk_tiers_default_create()
    settings.ASPORA_FACTORY_DIR = tmp_path / "factory"
    settings.ASPORA_FACTORY_DISPATCH = "inline"
    yield monkeypatch
    for deployment in Deployment.objects.exclude(pid=None):
        with contextlib.suppress(OSError):
            os.killpg(deployment.pid, signal.SIGKILL)


def _queue_and_approve(spec_text: str, capture) -> object:
    paula, olivia = User.objects.get(username="paula"), User.objects.get(username="olivia")
    with capture(execute=True):
        run = factory_run_queue(requester=paula, spec_text=spec_text)
    run.refresh_from_db()
    if run.status == RunStatus.WAITING:
        with capture(execute=True):
            factory_run_approve(run=run, user=olivia, sha=run.head_sha)
        run.refresh_from_db()
    return run


def test_a_change_by_the_coding_agent_replaces_the_live_product(world, django_capture_on_commit_callbacks):
    first = _queue_and_approve((SPECS / "wealth-portfolio-checker.md").read_text(), django_capture_on_commit_callbacks)
    assert first.status == RunStatus.DEPLOYED, first.stop_reason
    calls: list[str] = []
    model = _model(calls)
    world.setattr("factory.reviewers.llm.factory_model", lambda: model)
    world.setattr("factory.reviewers.factory_model", lambda: model)

    change = _queue_and_approve(CHANGE, django_capture_on_commit_callbacks)

    assert change.status == RunStatus.DEPLOYED, change.stop_reason
    assert change.target_repo == first.target_repo and change.base_sha != first.base_sha
    generate = change.stages.get(name=StageName.GENERATE)
    assert generate.detail["files"] == ["README.md"]
    assert calls.count("agent") == 4 and "review" in calls
    assert change.stages.filter(name=StageName.TEST).last().detail["counts"]["passed"] >= 5
    old, new = Deployment.objects.get(run=first), Deployment.objects.get(run=change)
    assert (old.status, new.status, new.previous_id) == (DeploymentStatus.SUPERSEDED, DeploymentStatus.LIVE, old.pk)
    with urllib.request.urlopen(f"{new.url}/portfolio/asha", timeout=10) as response:  # noqa: S310 - loopback
        assert json.loads(response.read())["currency"] == "INR"
    assert LINE in (Path(new.path) / "README.md").read_text()


def test_a_change_without_a_model_stops_at_generate_and_says_why(world, django_capture_on_commit_callbacks):
    first = _queue_and_approve((SPECS / "wealth-portfolio-checker.md").read_text(), django_capture_on_commit_callbacks)
    assert first.status == RunStatus.DEPLOYED
    change = _queue_and_approve(CHANGE, django_capture_on_commit_callbacks)
    assert change.status == RunStatus.FAILED
    assert change.stop_reason.startswith(
        "Generate failed: The spec lacks what the generator needs: A change to an existing repository needs "
        "the LLM coding agent, and no model is configured"
    )


def test_a_change_to_a_repository_the_factory_does_not_manage_is_refused(world, django_capture_on_commit_callbacks):
    change = _queue_and_approve(
        CHANGE.replace("product-wealth-portfolio-checker", "product-nope"), django_capture_on_commit_callbacks
    )
    assert change.status == RunStatus.FAILED
    assert change.stop_reason == (
        "Generate failed: There is no repository 'product-nope' to change: a change targets a product the factory "
        "generated (product-<name>) or a domain pack (pack-<domain>)."
    )
