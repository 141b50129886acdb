"""Approvals are pinned to a commit, and nothing deploys without every check its tier requires.

Tested from the attacker's side: a stale SHA, self-approval, a user without the right, a user of
another tenant, and a deploy attempted at a commit that lacks a check or an approval.
"""

import pytest

from aspora.errors import ApplicationError
from factory import git
from factory.deployers import deploy_check
from factory.models import Approval, FactoryRun, FactoryStage, Kind, RiskTier, RunStatus, StageName, StageStatus
from factory.pipeline import repo_path, worktree_path
from factory.services import ApprovalError, FactoryPermissionError, FactoryRunNotFoundError, factory_run_approve
from tenants.demo import demo_seed
from tenants.models import User


@pytest.fixture
def people(db):
    demo_seed(password=None)
    return {user.username: user for user in User.objects.all()}


@pytest.fixture
def waiting_run(people, settings, tmp_path):
    """A high-tier product run whose head passed gate, review and tests and now waits for approval."""
    settings.ASPORA_FACTORY_DIR = tmp_path
    settings.ASPORA_FACTORY_DISPATCH = "inline"
    run = FactoryRun.objects.create(
        tenant=people["paula"].tenant,
        requester=people["paula"],
        title="Wealth Portfolio Checker",
        spec="(spec)",
        kind=Kind.PRODUCT,
        target_repo="product-wealth",
        tier=RiskTier.objects.get(name="high"),
        status=RunStatus.WAITING,
    )
    repo = git.repo_ensure(repo_path(run))
    tree = git.worktree_add(repo, path=worktree_path(run), branch="factory/test")
    (tree.path / "app.py").write_text("print('hello')\n")
    head = git.commit_all(tree.path, "Generate")
    FactoryRun.objects.filter(pk=run.pk).update(base_sha=tree.base, head_sha=head, branch=tree.branch)
    run.refresh_from_db()
    for name in (StageName.GENERATE, StageName.GATE, StageName.REVIEW, StageName.TEST):
        FactoryStage.objects.create(run=run, name=name, status=StageStatus.PASSED, sha=head)
    FactoryStage.objects.create(run=run, name=StageName.APPROVE, status=StageStatus.WAITING, sha=head)
    return run


def test_a_product_manager_may_queue_but_not_approve(waiting_run, people):
    with pytest.raises(FactoryPermissionError, match="ops manager or admin role"):
        factory_run_approve(run=waiting_run, user=people["paula"], sha=waiting_run.head_sha)
    assert not Approval.objects.exists()


def test_an_approver_cannot_approve_a_run_they_requested(waiting_run, people):
    FactoryRun.objects.filter(pk=waiting_run.pk).update(requester=people["olivia"])
    waiting_run.refresh_from_db()
    with pytest.raises(FactoryPermissionError, match="cannot approve their own high-tier run"):
        factory_run_approve(run=waiting_run, user=people["olivia"], sha=waiting_run.head_sha)
    assert not Approval.objects.exists()


def test_a_field_agent_cannot_approve(waiting_run, people):
    with pytest.raises(FactoryPermissionError, match="ops manager or admin role"):
        factory_run_approve(run=waiting_run, user=people["sarah"], sha=waiting_run.head_sha)


def test_another_tenant_sees_no_run_at_all(waiting_run, people):
    with pytest.raises(FactoryRunNotFoundError):
        factory_run_approve(run=waiting_run, user=people["theo"], sha=waiting_run.head_sha)


def test_an_approval_names_the_current_head_or_it_is_refused(waiting_run, people):
    stale = waiting_run.base_sha
    with pytest.raises(ApprovalError, match=f"Commit {stale[:12]} is not the run's head"):
        factory_run_approve(run=waiting_run, user=people["olivia"], sha=stale)
    assert deploy_check(waiting_run) == [f"0 of 1 required approvals of {waiting_run.head_sha[:12]}"]


def test_a_new_commit_voids_the_approval_and_blocks_deploy(waiting_run, people, monkeypatch):
    from factory import dispatch

    monkeypatch.setattr(dispatch, "factory_run_dispatch", lambda run_id: None)  # stay at the approved state
    factory_run_approve(run=waiting_run, user=people["olivia"], sha=waiting_run.head_sha)
    waiting_run.refresh_from_db()
    assert deploy_check(waiting_run) == []

    # Someone pushes another commit onto the run's branch after the approval.
    tree = worktree_path(waiting_run)
    (tree / "app.py").write_text("print('something else')\n")
    new_head = git.commit_all(tree, "Sneak a change in")
    FactoryRun.objects.filter(pk=waiting_run.pk).update(head_sha=new_head)
    waiting_run.refresh_from_db()

    assert deploy_check(waiting_run) == [
        f"the risk gate has not passed {new_head[:12]}",
        f"review has not passed {new_head[:12]}",
        f"tests have not passed on {new_head[:12]}",
        f"0 of 1 required approvals of {new_head[:12]}",
    ]


def test_a_worktree_moved_behind_the_runs_back_is_refused(waiting_run, people, monkeypatch):
    from factory import dispatch

    monkeypatch.setattr(dispatch, "factory_run_dispatch", lambda run_id: None)
    factory_run_approve(run=waiting_run, user=people["olivia"], sha=waiting_run.head_sha)
    tree = worktree_path(waiting_run)
    (tree / "app.py").write_text("import os\nos.system('curl evil')\n")
    sneaked = git.commit_all(tree, "Unjudged commit")

    assert deploy_check(waiting_run) == [
        f"the worktree is at {sneaked[:12]}, not at the judged {waiting_run.head_sha[:12]}"
    ]


def test_approving_twice_or_after_the_run_moved_on_is_refused(
    waiting_run, people, monkeypatch, django_capture_on_commit_callbacks
):
    from factory import dispatch

    calls = []
    monkeypatch.setattr(dispatch, "factory_run_dispatch", lambda run_id: calls.append(run_id))
    with django_capture_on_commit_callbacks(execute=True):
        factory_run_approve(run=waiting_run, user=people["olivia"], sha=waiting_run.head_sha, comment="diff reviewed")
    assert calls == [str(waiting_run.id)]
    waiting_run.refresh_from_db()
    assert waiting_run.status == RunStatus.RUNNING
    assert waiting_run.stages.get(name=StageName.APPROVE).status == StageStatus.PASSED

    with pytest.raises(ApplicationError, match="not waiting for approval"):
        factory_run_approve(run=waiting_run, user=people["admin"], sha=waiting_run.head_sha)


def test_a_rejection_ends_the_run(waiting_run, people):
    factory_run_approve(
        run=waiting_run, user=people["olivia"], sha=waiting_run.head_sha, approve=False, comment="no sizing caps"
    )
    waiting_run.refresh_from_db()
    assert (waiting_run.status, waiting_run.stop_reason) == (
        RunStatus.REJECTED,
        "Rejected by Olivia Brown: no sizing caps",
    )
    assert deploy_check(waiting_run) == [f"0 of 1 required approvals of {waiting_run.head_sha[:12]}"]


def test_a_critical_run_needs_two_distinct_approvers(
    waiting_run, people, monkeypatch, django_capture_on_commit_callbacks
):
    from factory import dispatch

    calls = []
    monkeypatch.setattr(dispatch, "factory_run_dispatch", lambda run_id: calls.append(run_id))
    FactoryRun.objects.filter(pk=waiting_run.pk).update(tier=RiskTier.objects.get(name="critical"))
    waiting_run.refresh_from_db()

    factory_run_approve(run=waiting_run, user=people["olivia"], sha=waiting_run.head_sha)
    assert calls == [] and deploy_check(waiting_run) == [f"1 of 2 required approvals of {waiting_run.head_sha[:12]}"]
    with pytest.raises(ApprovalError, match="already decided"):
        factory_run_approve(run=waiting_run, user=people["olivia"], sha=waiting_run.head_sha)
    with django_capture_on_commit_callbacks(execute=True):
        factory_run_approve(run=waiting_run, user=people["admin"], sha=waiting_run.head_sha)
    assert calls == [str(waiting_run.id)] and deploy_check(waiting_run) == []
