"""Factory runs as the pipeline leaves them, built straight through the models and real git
repositories, for the portal's page, API, socket and browser tests (the pipeline is tested elsewhere).

`factory_world()` is a small organisation's factory: a high-tier product waiting for approval after
a remediation round, a skill in review, a queued run, a deployed change, a failed run, and a run of
another tenant that nobody here may see.
"""

import importlib
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from factory import git
from factory.models import (
    Approval,
    Decision,
    Deployment,
    DeploymentStatus,
    FactoryRun,
    FactoryStage,
    Finding,
    Kind,
    RiskRule,
    RiskTier,
    RunStatus,
    StageName,
    StageStatus,
)
from factory.pipeline import repo_path, worktree_path
from tenants.demo import demo_seed
from tenants.models import User

PRODUCT_SPEC = """\
---
kind: product
name: wealth-portfolio-checker
title: Wealth Portfolio Checker
endpoints:
  - method: GET
    path: /healthz-demo
    summary: Says it is up.
    response:
      fields: [status]
---
Holdings, P&L and Kelly-criterion position sizing in INR, USD and AED.
"""

BASE_FILES = {"README.md": "# wealth-portfolio-checker\n\nStarted by the factory.\n"}
GENERATED_FILES = {
    "README.md": (
        "# Wealth Portfolio Checker\n\n"
        "`GET /portfolio/{user_id}` answers holdings, P&L and <b>Kelly</b> sizing in INR, USD and AED.\n"
    ),
    "app/main.py": (
        "from fastapi import FastAPI\n"
        "import os\n\n"
        "from app.service import portfolio_for\n\n"
        "app = FastAPI(title='Wealth Portfolio Checker')\n"
        "API_KEY = 'sk-live-123'\n\n\n"
        "@app.get('/healthz')\n"
        "def healthz():\n"
        "    return {'status': 'ok'}\n\n\n"
        "@app.get('/portfolio/{user_id}')\n"
        "def portfolio(user_id: str, currency: str = 'INR'):\n"
        "    return portfolio_for(user_id, currency=currency)\n"
    ),
    "app/blocks/kelly.py": (
        "from decimal import Decimal\n\n\n"
        "def kelly_fraction(*, win_probability: Decimal, payoff_ratio: Decimal) -> Decimal:\n"
        '    """f* = p - (1 - p) / b, never below zero."""\n'
        "    fraction = win_probability - (1 - win_probability) / payoff_ratio\n"
        "    return max(fraction, Decimal(0))\n"
    ),
    "tests/test_portfolio.py": (
        "def test_portfolio_in_usd(client):\n"
        "    answer = client.get('/portfolio/asha?currency=USD').json()\n"
        "    assert answer['holdings'][0]['price'] == '39.84'\n"
    ),
}
REMEDIATED = {
    "app/main.py": GENERATED_FILES["app/main.py"]
    .replace("import os\n", "")
    .replace("API_KEY = 'sk-live-123'\n", "API_KEY = os.environ['PORTFOLIO_API_KEY']\n")
    .replace("from fastapi import FastAPI\n", "import os\n\nfrom fastapi import FastAPI\n")
}
PYTEST_OUTPUT = """\
$ python -m pytest -q
......                                                                   [100%]
6 passed in 0.41s
"""


@dataclass
class World:
    people: dict[str, User]
    waiting: FactoryRun
    reviewing: FactoryRun
    queued: FactoryRun
    deployed: FactoryRun
    failed: FactoryRun
    foreign: FactoryRun


def people_seed() -> dict[str, User]:
    """The demo's people (Paula the product manager, Olivia the ops manager, Theo of another tenant)."""
    demo_seed(password="demo-pw-for-tests")
    return {user.username: user for user in User.objects.all()}


def tiers_ensure() -> dict[str, RiskTier]:
    """The four default tiers; a transactional test's flush removes what the migration seeded."""
    tiers = importlib.import_module("factory.migrations.0002_default_risk_tiers").TIERS
    for name, rank, description, tests, evals, severity, approvals, auto in tiers:
        RiskTier.objects.update_or_create(
            name=name,
            defaults={
                "rank": rank,
                "description": description,
                "requires_tests": tests,
                "requires_evals": evals,
                "blocking_severity": severity,
                "required_approvals": approvals,
                "requester_may_approve": False,
                "auto_deploy": auto,
            },
        )
    return {tier.name: tier for tier in RiskTier.objects.all()}


def rules_ensure(tiers: dict[str, RiskTier]) -> None:
    rules = [
        ("money-logic", "high", ["app/blocks/**", "app/service.py"], [], "Changes how money is computed."),
        ("executor-core", "critical", ["skills/executor.py", "factory/policy.py"], [], "The executor and the gate."),
        ("new-skill", "medium", ["skills/*/SKILL.md"], ["skill"], "A new skill only reads until reviewed."),
        ("docs", "low", ["**/*.md"], [], "Documentation only."),
    ]
    for position, (rule_id, tier, paths, kinds, reason) in enumerate(rules):
        RiskRule.objects.update_or_create(
            rule_id=rule_id,
            defaults={"tier": tiers[tier], "paths": paths, "kinds": kinds, "reason": reason, "position": position},
        )


def run_make(
    *,
    requester: User,
    title: str,
    kind: str = Kind.PRODUCT,
    status: str = RunStatus.RUNNING,
    target_repo: str = "product-wealth-portfolio-checker",
    tier: RiskTier | None = None,
    ago: timedelta = timedelta(minutes=5),
    **fields,
) -> FactoryRun:
    run = FactoryRun.objects.create(
        tenant_id=requester.tenant_id,
        requester=requester,
        title=title,
        spec=fields.pop("spec", PRODUCT_SPEC),
        spec_name=fields.pop("spec_name", "wealth-portfolio-checker.md"),
        kind=kind,
        target_repo=target_repo,
        status=status,
        tier=tier,
        **fields,
    )
    created = timezone.now() - ago
    FactoryRun.objects.filter(pk=run.pk).update(created_at=created, started_at=created + timedelta(seconds=2))
    run.refresh_from_db()
    return run


def commits_make(run: FactoryRun, *rounds: dict[str, str]) -> list[str]:
    """A real repository for the run's target, a worktree on its branch, one commit per round of files."""
    repo = git.repo_ensure(repo_path(run))
    for path, text in BASE_FILES.items():
        (repo / path).write_text(text)
    git.commit_all(repo, "Seed")
    tree = git.worktree_add(repo, path=worktree_path(run), branch=f"factory/{str(run.id)[:8]}")
    shas = []
    for files in rounds:
        for path, text in files.items():
            (tree.path / path).parent.mkdir(parents=True, exist_ok=True)
            (tree.path / path).write_text(text)
        shas.append(git.commit_all(tree.path, f"Round {len(shas) + 1}"))
    FactoryRun.objects.filter(pk=run.pk).update(base_sha=tree.base, head_sha=shas[-1], branch=tree.branch)
    run.refresh_from_db()
    return shas


def stage_make(
    run: FactoryRun,
    name: str,
    status: str = StageStatus.PASSED,
    *,
    sha: str = "",
    summary: str = "",
    log: str = "",
    detail: dict | None = None,
    iteration: int = 0,
    at: float = 0,
    seconds: float | None = 1.0,
) -> FactoryStage:
    """A stage `at` seconds after the run started, lasting `seconds` (None: still going)."""
    stage = FactoryStage.objects.create(
        run=run, name=name, status=status, sha=sha, summary=summary, log=log, detail=detail or {}, iteration=iteration
    )
    started = run.started_at + timedelta(seconds=at)
    finished = None if seconds is None else started + timedelta(seconds=seconds)
    FactoryStage.objects.filter(pk=stage.pk).update(started_at=started, finished_at=finished)
    stage.refresh_from_db()
    return stage


def waiting_run_make(people: dict[str, User], tiers: dict[str, RiskTier], *, tier: str = "high") -> FactoryRun:
    """Paula's Wealth Portfolio Checker: found a hard-coded key, fixed it in a second round, passed
    its tests, and waits for an approver of the exact head commit."""
    run = run_make(
        requester=people["paula"],
        title="Wealth Portfolio Checker",
        status=RunStatus.WAITING,
        tier=tiers[tier],
        tier_rule="money-logic",
        tier_reason="Changes how money is computed: app/blocks/kelly.py matches app/blocks/**.",
        iterations=1,
        ago=timedelta(minutes=7),
    )
    first, second = commits_make(run, GENERATED_FILES, REMEDIATED)
    requires = [
        "tests pass",
        f"no review finding at or above {tiers[tier].blocking_severity}",
        f"{tiers[tier].required_approvals} approval(s) of the exact commit",
        "the requester may not approve",
        "deploys only after approval",
    ]
    gate = {
        "tier": tier,
        "rule": "money-logic",
        "reason": run.tier_reason,
        "changed": sorted(GENERATED_FILES),
        "policies": ["database", ".aspora/risk-policy.json on this change"],
        "requires": requires,
    }
    stage_make(
        run,
        StageName.GENERATE,
        sha=first,
        summary="FastAPI product: 4 files from 2 blocks",
        log="branch factory/wealth from main\nwrote app/main.py\nwrote app/blocks/kelly.py\n",
        seconds=3.2,
    )
    stage_make(run, StageName.GATE, sha=first, summary=run.tier_reason, detail=gate, at=3.3, seconds=0.1)
    review = stage_make(
        run,
        StageName.REVIEW,
        StageStatus.FAILED,
        sha=first,
        summary="2 findings, 1 at or above medium",
        log="static: reviewing 4 files\n",
        at=3.5,
        seconds=2.4,
    )
    stage_make(
        run,
        StageName.REMEDIATE,
        sha=second,
        summary=f"commit {second[:12]}; reviewing again",
        log="moved the API key to PORTFOLIO_API_KEY\n",
        at=6,
        seconds=1.1,
    )
    stage_make(run, StageName.GATE, sha=second, summary=run.tier_reason, detail=gate, iteration=1, at=7.2, seconds=0.1)
    review_2 = stage_make(
        run,
        StageName.REVIEW,
        sha=second,
        summary="1 finding, 0 at or above medium",
        log="static: reviewing 4 files\n",
        iteration=1,
        at=7.4,
        seconds=2.2,
    )
    stage_make(
        run,
        StageName.TEST,
        sha=second,
        summary="6 passed in 0.41s",
        log=PYTEST_OUTPUT,
        detail={"counts": {"passed": 6}},
        iteration=1,
        at=9.7,
        seconds=4.3,
    )
    stage_make(
        run,
        StageName.APPROVE,
        StageStatus.WAITING,
        sha=second,
        summary=f"waiting for {tiers[tier].required_approvals} approval(s) of {second[:12]} ({tier} tier)",
        iteration=1,
        at=14.1,
        seconds=None,
    )
    finding = {"run": run, "reviewer": "static"}
    Finding.objects.create(
        **finding,
        stage=review,
        rule_id="S105",
        severity="high",
        path="app/main.py",
        line=6,
        message="Possible hardcoded password assigned to: 'API_KEY'",
        sha=first,
        fixed_in_sha=second,
    )
    Finding.objects.create(
        **finding,
        stage=review,
        rule_id="I001",
        severity="low",
        path="app/main.py",
        line=1,
        message="Import block is un-sorted or un-formatted",
        sha=first,
        fixed_in_sha=second,
    )
    Finding.objects.create(
        **finding,
        stage=review_2,
        rule_id="aspora-float-money",
        severity="info",
        path="app/blocks/kelly.py",
        line=6,
        message="Compare money with Decimal, not <float>",
        sha=second,
    )
    # Olivia approved the first commit; remediation moved the head, so her approval no longer counts.
    Approval.objects.create(
        run=run, approver=people["olivia"], sha=first, decision=Decision.APPROVE, comment="Looks right."
    )
    return run


def factory_world() -> World:
    people = people_seed()
    tiers = tiers_ensure()
    rules_ensure(tiers)
    waiting = waiting_run_make(people, tiers)

    reviewing = run_make(
        requester=people["paula"],
        title="ECM stale escalations",
        kind=Kind.SKILL,
        target_repo="pack-ecm",
        spec_name="ecm-stale-escalations.md",
        tier=tiers["medium"],
        tier_rule="new-skill",
        tier_reason="A new skill only reads until reviewed.",
        head_sha="4b1f0c2d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c",
        base_sha="0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        ago=timedelta(minutes=2),
    )
    stage_make(reviewing, StageName.GENERATE, sha=reviewing.head_sha, summary="skills/stale-escalations/SKILL.md")
    stage_make(reviewing, StageName.GATE, sha=reviewing.head_sha, summary=reviewing.tier_reason, at=1.2, seconds=0.1)
    stage_make(
        reviewing,
        StageName.REVIEW,
        StageStatus.RUNNING,
        sha=reviewing.head_sha,
        log="static: reviewing 2 files\n",
        at=1.4,
        seconds=None,
    )

    queued = run_make(
        requester=people["admin"],
        title="FX quote service",
        status=RunStatus.QUEUED,
        target_repo="product-fx-quote",
        ago=timedelta(seconds=20),
    )
    FactoryRun.objects.filter(pk=queued.pk).update(started_at=None)

    deployed = run_make(
        requester=people["paula"],
        title="Remittance fee calculator",
        status=RunStatus.DEPLOYED,
        target_repo="product-fee-calculator",
        tier=tiers["low"],
        tier_rule="docs",
        tier_reason="Documentation only: README.md matches **/*.md.",
        ago=timedelta(hours=3),
        finished_at=timezone.now() - timedelta(hours=3) + timedelta(seconds=48),
        cost_usd=Decimal("0"),
    )
    (sha,) = commits_make(deployed, {"README.md": "# Remittance fee calculator\n\nFees per corridor, in AED.\n"})
    steps = [
        (StageName.GENERATE, StageStatus.PASSED, "README.md rewritten", "wrote README.md\n"),
        (StageName.GATE, StageStatus.PASSED, deployed.tier_reason, ""),
        (StageName.REVIEW, StageStatus.PASSED, "0 findings, 0 at or above high", "static: reviewing 1 file\n"),
        (StageName.TEST, StageStatus.PASSED, "3 passed in 0.22s", "$ python -m pytest -q\n...\n3 passed in 0.22s\n"),
        (StageName.APPROVE, StageStatus.SKIPPED, "the low tier deploys on its own", ""),
        (StageName.DEPLOY, StageStatus.PASSED, "product-fee-calculator live at http://127.0.0.1:8766", "started\n"),
    ]
    for at, (name, status, summary, log) in enumerate(steps):
        stage_make(deployed, name, status, sha=sha, summary=summary, log=log, at=at * 6, seconds=5.5)
    Deployment.objects.create(
        run=deployed,
        target="product-fee-calculator",
        deployer="product",
        sha=sha,
        status=DeploymentStatus.LIVE,
        url="http://127.0.0.1:8766",
        port=8766,
        path="/nonexistent/deployments/product-fee-calculator",
    )

    failed = run_make(
        requester=people["paula"],
        title="Sanctions screening export",
        status=RunStatus.FAILED,
        target_repo="product-sanctions-export",
        stop_reason="Generate failed: The spec lacks what the generator needs: how a match's score is computed.",
        ago=timedelta(days=1),
        finished_at=timezone.now() - timedelta(days=1) + timedelta(seconds=3),
    )
    stage_make(
        failed,
        StageName.GENERATE,
        StageStatus.FAILED,
        summary="The spec lacks what the generator needs: how a match's score is computed.",
    )

    foreign = run_make(
        requester=people["theo"],
        title="Northwind payout reconciler",
        target_repo="product-northwind-payouts",
        ago=timedelta(minutes=1),
    )
    return World(people, waiting, reviewing, queued, deployed, failed, foreign)
