"""The Wealth Portfolio Checker spec end to end on the offline generator: a FastAPI product whose
money code puts it in the high tier, reviewed, its own tests run, approved on its exact commit by
an ops manager, then served on a local port and answering the PM's example with the right P&L."""

import contextlib
import json
import os
import signal
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from factory.deployers import deploy_check
from factory.models import Deployment, RunStatus, StageName, StageStatus
from factory.selectors import factory_run_summary
from factory.services import factory_run_approve, factory_run_queue, risk_tiers_default_create
from tenants.demo import demo_seed
from tenants.models import User

SPEC = Path(django_settings.BASE_DIR) / "factory" / "specs" / "wealth-portfolio-checker.md"


@pytest.fixture
def world(db, settings, tmp_path):
    demo_seed(password=None)
    risk_tiers_default_create()
    settings.ASPORA_FACTORY_DIR = tmp_path / "factory"
    settings.ASPORA_FACTORY_DISPATCH = "inline"
    yield
    for deployment in Deployment.objects.exclude(pid=None):
        with contextlib.suppress(OSError):
            os.killpg(deployment.pid, signal.SIGKILL)


def test_the_wealth_portfolio_checker_goes_from_spec_to_a_served_product(world, django_capture_on_commit_callbacks):
    paula, olivia = User.objects.get(username="paula"), User.objects.get(username="olivia")
    with django_capture_on_commit_callbacks(execute=True):
        run = factory_run_queue(requester=paula, spec_text=SPEC.read_text(), spec_name=SPEC.name)
    run.refresh_from_db()

    # Money code puts it in the high tier, so it waits for a person after its own tests passed.
    assert run.status == RunStatus.WAITING, run.stop_reason
    assert (run.tier.name, run.tier_rule) == ("high", "money-logic")
    test = run.stages.filter(name=StageName.TEST).last()
    assert test.status == StageStatus.PASSED and test.detail["counts"]["passed"] >= 5
    assert test.sha == run.head_sha
    assert deploy_check(run) == [f"0 of 1 required approvals of {run.head_sha[:12]}"]

    with django_capture_on_commit_callbacks(execute=True):
        factory_run_approve(run=run, user=olivia, sha=run.head_sha, comment="P&L checked against the examples")
    run.refresh_from_db()
    summary = factory_run_summary(run=run)

    assert run.status == RunStatus.DEPLOYED, run.stop_reason
    assert [s["name"] for s in summary["stages"]][-2:] == ["approve", "deploy"]
    url = summary["deployment"]["url"]
    with urllib.request.urlopen(f"{url}/portfolio/karim?currency=AED", timeout=10) as response:  # noqa: S310
        portfolio = json.loads(response.read())
    aapl = next(h for h in portfolio["holdings"] if h["symbol"] == "AAPL")
    assert (portfolio["currency"], str(portfolio["portfolio_pnl"])) == ("AED", "8342.25")
    assert (str(aapl["total_pnl"]), str(aapl["kelly_fraction"])) == ("7345.00", "0.1333")
