"""Review and remediation loop on a run: a blocking finding is fixed by a new commit, the finding
is marked fixed in that commit, and a finding remediation cannot fix stops the run with a reason."""

import pytest

from factory import git
from factory.models import FactoryRun, Kind, RiskTier, RunStatus, StageName, StageStatus
from factory.pipeline import _next_step, _run_step, repo_path, worktree_path
from tenants.demo import demo_seed
from tenants.models import User


@pytest.fixture
def critical_run(db, settings, tmp_path):
    """A critical-tier run (blocks at low) whose head holds the given module."""
    demo_seed(password=None)
    settings.ASPORA_FACTORY_DIR = tmp_path / "factory"
    settings.ASPORA_FACTORY_MAX_ITERATIONS = 2
    paula = User.objects.get(username="paula")

    def make(source: str) -> FactoryRun:
        run = FactoryRun.objects.create(
            tenant=paula.tenant, requester=paula, title="Loop", spec="(spec)", kind=Kind.PRODUCT,
            target_repo="product-loop", tier=RiskTier.objects.get(name="critical"), status=RunStatus.RUNNING,
        )  # fmt: skip
        repo = git.repo_ensure(repo_path(run))
        tree = git.worktree_add(repo, path=worktree_path(run), branch="factory/loop")
        (tree.path / "service.py").write_text(source)
        sha = git.commit_all(tree.path, "Generate")
        FactoryRun.objects.filter(pk=run.pk).update(base_sha=tree.base, head_sha=sha)
        run.refresh_from_db()
        return run

    return make


def test_a_fixable_finding_is_remediated_in_a_new_commit_and_marked_fixed(critical_run):
    run = critical_run("import os\n\n\ndef total(values):\n    return sum(values)\n")
    first_head = run.head_sha

    _run_step(run, StageName.REVIEW)
    run.refresh_from_db()
    finding = run.findings.get()
    assert (finding.rule_id, finding.path, finding.line, finding.sha) == ("F401", "service.py", 1, first_head)
    assert _next_step(run) == StageName.REMEDIATE

    _run_step(run, StageName.REMEDIATE)
    run.refresh_from_db()
    assert run.head_sha != first_head and run.iterations == 1
    assert "import os" not in (worktree_path(run) / "service.py").read_text()
    assert _next_step(run) == StageName.GATE

    _run_step(run, StageName.REVIEW)
    run.refresh_from_db()
    assert run.stages.filter(name=StageName.REVIEW).last().status == StageStatus.PASSED
    finding.refresh_from_db()
    assert finding.fixed_in_sha == run.head_sha


def test_a_finding_remediation_cannot_fix_stops_the_run_with_the_reason(critical_run):
    run = critical_run("import subprocess\n\n\ndef go(cmd):\n    return subprocess.call(cmd, shell=True)\n")

    _run_step(run, StageName.REVIEW)
    _run_step(run, StageName.REMEDIATE)
    run.refresh_from_db()

    stage = run.stages.get(name=StageName.REMEDIATE)
    assert stage.status == StageStatus.FAILED
    assert stage.summary.startswith("Remediation could not fix the blocking findings: B602 at service.py:5 (high)")
    assert _next_step(run) is None
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.stop_reason.startswith("Remediate failed: Remediation could not fix")
