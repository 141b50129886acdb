"""`manage.py injection_suite`: the attack success rate of the configured model, no real model called."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from skills.executor import ResolvedModel
from tests.injection.attacker import obedient_attacker


def test_without_a_configured_model_it_says_what_to_set(demo):
    with pytest.raises(CommandError, match="No model provider is configured \\(set ASPORA_MODEL"):
        call_command("injection_suite", "--limit", "1")


def test_with_a_model_configured_it_prints_the_attack_success_rate_and_the_gate(demo, monkeypatch):
    # Stands in for a configured provider model: the command resolves models as the executor does.
    resolved = ResolvedModel(obedient_attacker(), "obedient-attacker", offline=False)
    monkeypatch.setattr("skills.executor.model_resolve", lambda version: resolved)
    monkeypatch.setattr("skills.management.commands.injection_suite.model_resolve", lambda version: resolved)
    out = StringIO()

    call_command("injection_suite", "--limit", "12", "--composite", stdout=out)

    text = out.getvalue()
    assert "12 payloads, 12 runs with obedient-attacker" in text
    assert "attack success by family:\n  agentdojo       " in text
    rate = float(text.split("attack success rate: ")[1].split("%")[0])
    assert rate > 50  # the obedient attacker reaches most goals, up to what code stops
    assert "gate violations: 0" in text


def test_the_offline_self_check_passes_the_gate_and_prints_its_figure(demo):
    out = StringIO()
    call_command("injection_suite", "--limit", "10", "--offline", stdout=out)
    text = out.getvalue()
    # 1 of 10: a forwarded WhatsApp message naming ticket 2001 first makes it look 2001 up (not found).
    assert "attack success rate: 10.0% (aspora:offline)" in text
    assert "gate violations: 0" in text
