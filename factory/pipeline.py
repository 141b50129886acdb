"""The pipeline: spec → generate → risk gate → review ⇄ remediate (bounded) → test → approve → deploy.

`factory_run_drive` advances a run one stage at a time until it waits for people or ends. What to
do next is read from the stages already recorded, so a driver that died (a lost worker, a
restarted server) is replaced by one that resumes where it stopped; an interrupted stage is
redone from its commit, and a run interrupted too often fails with that reason instead of hanging.
"""

import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from factory import git
from factory.models import (
    SEVERITY_RANK,
    FactoryRun,
    FactoryStage,
    Finding,
    Kind,
    RiskTier,
    RunStatus,
    StageName,
    StageStatus,
)
from factory.services import (
    approvals_valid,
    run_fail,
    run_update,
    stage_finish,
    stage_log,
    stage_start,
)

logger = logging.getLogger(__name__)
MAX_INTERRUPTIONS = 3
POLICY_FILE = ".aspora/risk-policy.json"


class StageFailed(Exception):
    """A stage ended badly for a reason people should read."""


# --- where things live -----------------------------------------------------------------------


def workspace() -> Path:
    return Path(settings.ASPORA_FACTORY_DIR)


def repo_path(run: FactoryRun) -> Path:
    return workspace() / "repos" / run.target_repo


def worktree_path(run: FactoryRun) -> Path:
    # A domain pack's folder must carry the domain's name, so the worktree ends in it
    # ("pack-ecm" → …/ecm, "product-wealth-portfolio-checker" → …/wealth-portfolio-checker).
    return workspace() / "worktrees" / str(run.id) / run.target_repo.split("-", 1)[1]


def run_spec(run: FactoryRun):
    from factory.specs import spec_parse

    return spec_parse(run.spec, source=run.spec_name or "the spec")


# --- driving ---------------------------------------------------------------------------------


def factory_run_drive(*, run_id: str) -> FactoryRun | None:
    run = FactoryRun.objects.select_related("tier").filter(pk=run_id).first()
    if run is None:
        logger.warning("factory run %s no longer exists", run_id)
        return None
    while not run.is_finished and run.status != RunStatus.WAITING:
        step = _next_step(run)
        if step is None:
            break
        _run_step(run, step)
        run.refresh_from_db()
    return run


def _next_step(run: FactoryRun) -> str | None:
    interrupted = list(run.stages.filter(status=StageStatus.RUNNING))
    for stage in interrupted:
        stage_finish(stage=stage, status=StageStatus.FAILED, summary="Interrupted: the worker running it stopped.")
    if interrupted and run.stages.filter(summary__startswith="Interrupted").count() >= MAX_INTERRUPTIONS:
        run_fail(run=run, reason=f"The run was interrupted {MAX_INTERRUPTIONS} times and was stopped.")
        return None
    if run.status == RunStatus.QUEUED:
        run_update(run=run, status=RunStatus.RUNNING, started_at=run.started_at or timezone.now())
    if run.started_at and time.time() - run.started_at.timestamp() > settings.ASPORA_FACTORY_MAX_SECONDS:
        run_fail(run=run, reason=f"The run took longer than its {settings.ASPORA_FACTORY_MAX_SECONDS} s limit.")
        return None

    last = run.stages.exclude(summary__startswith="Interrupted").order_by("started_at", "id").last()
    if interrupted:
        return interrupted[-1].name
    if last is None:
        return StageName.GENERATE
    if last.status == StageStatus.FAILED and last.name != StageName.REVIEW:
        run_fail(run=run, reason=f"{last.get_name_display()} failed: {last.summary}")
        return None
    return {
        StageName.GENERATE: StageName.GATE,
        StageName.GATE: StageName.REVIEW,
        StageName.REVIEW: StageName.TEST if last.status == StageStatus.PASSED else StageName.REMEDIATE,
        StageName.REMEDIATE: StageName.GATE,
        StageName.TEST: StageName.APPROVE,
        StageName.APPROVE: StageName.DEPLOY,
        StageName.DEPLOY: None,
    }[last.name]


STEPS = {}


def _step(name):
    def register(function):
        STEPS[name] = function
        return function

    return register


def _run_step(run: FactoryRun, name: str) -> None:
    stage = stage_start(run=run, name=name)
    try:
        STEPS[name](run, stage)
    except StageFailed as exc:
        stage_finish(stage=stage, status=StageStatus.FAILED, summary=str(exc))
    except Exception as exc:  # a bug or a broken environment: recorded on the run, never dropped
        logger.exception("factory run %s: stage %s crashed", run.id, name)
        stage_finish(stage=stage, status=StageStatus.FAILED, summary=f"{type(exc).__name__}: {exc}")
    stage.refresh_from_db()
    if name == StageName.DEPLOY and stage.status == StageStatus.PASSED:
        run_update(run=run, status=RunStatus.DEPLOYED)


# --- the stages ------------------------------------------------------------------------------


@_step(StageName.GENERATE)
def _generate(run: FactoryRun, stage: FactoryStage) -> None:
    from factory.generators import SpecIncomplete, generate
    from factory.generators.agent import AgentStopped

    spec = run_spec(run)
    with git.repo_lock(repo_path(run)):
        repo = _repo_prepare(run, spec)
        tree = git.worktree_add(repo, path=worktree_path(run), branch=f"factory/{str(run.id)[:8]}-{spec.name}")
    stage_log(stage=stage, line=f"branch {tree.branch} from main at {tree.base[:12]}")
    try:
        generation = generate(spec, worktree=tree.path)
    except SpecIncomplete as exc:
        raise StageFailed("The spec lacks what the generator needs: " + "; ".join(exc.missing)) from exc
    except AgentStopped as exc:
        raise StageFailed(f"The coding agent stopped: {exc.message}") from exc
    for path in generation.files:
        stage_log(stage=stage, line=f"wrote {path}")
    sha = git.commit_all(tree.path, f"Generate {spec.title}\n\nFactory run {run.id}")
    if sha is None:
        raise StageFailed("The generator changed nothing: the target already holds this change.")
    run_update(run=run, branch=tree.branch, base_sha=tree.base, head_sha=sha)
    stage_finish(
        stage=stage,
        status=StageStatus.PASSED,
        summary=generation.summary or f"{len(generation.files)} files",
        detail={"files": generation.files},
        sha=sha,
    )


def _repo_prepare(run: FactoryRun, spec) -> Path:
    """The target's repository, its main branch brought up to date with what is live."""
    repo = repo_path(run)
    if run.kind == Kind.CHANGE and not (repo / ".git").exists():
        raise StageFailed(
            f"There is no repository {run.target_repo!r} to change: a change targets a product the factory "
            "generated (product-<name>) or a domain pack (pack-<domain>)."
        )
    domain = run.pack_domain
    if domain is not None:
        live = Path(settings.ASPORA_DOMAINS_DIR) / domain
        if not live.is_dir():
            raise StageFailed(f"There is no domain pack {domain!r} in {settings.ASPORA_DOMAINS_DIR}.")
        git.repo_ensure(repo, seed_from=live)
        git.repo_sync_from(repo, live, message="Sync with the live pack")
    else:
        git.repo_ensure(repo)
    return repo


def skills_touched(run: FactoryRun, tree: Path, changed: list[str]) -> list[str]:
    """The skills of a pack a run changes: the spec's skill, or for a change every skill whose files
    it touched (all of the pack's skills when it touched the pack's configuration)."""
    from skills.packs import pack_read

    spec = run_spec(run)
    if spec.kind == Kind.SKILL:
        return [spec.name]
    listed = [parsed.entry.name for parsed in pack_read(tree).skills]
    if "aspora.config.yaml" in changed:
        return listed
    folders = {path.split("/")[1] for path in changed if path.startswith("skills/") and path.count("/") >= 2}
    return [name for name in listed if name in folders]


@_step(StageName.GATE)
def _gate(run: FactoryRun, stage: FactoryStage) -> None:
    from factory.policy import risk_tier_for
    from factory.selectors import tier_requirements

    tree = worktree_path(run)
    changed = git.changed_paths(tree, run.base_sha, run.head_sha)
    policy, sources = _effective_policy(run, tree)
    decision = risk_tier_for(policy=policy, changed_paths=changed, kind=run.kind)
    tier = RiskTier.objects.filter(name=decision.tier).first()
    if tier is None:
        raise StageFailed(f"The policy puts the change in tier {decision.tier!r}, which the database does not define.")
    run_update(run=run, tier=tier, tier_rule=decision.rule_id or "", tier_reason=decision.reason)
    stage_finish(
        stage=stage,
        status=StageStatus.PASSED,
        summary=decision.reason,
        detail={
            "tier": tier.name,
            "rule": decision.rule_id,
            "reason": decision.reason,
            "changed": changed,
            "policies": sources,
            "requires": tier_requirements(tier, run.kind),
        },
    )


def _effective_policy(run: FactoryRun, tree: Path):
    """The database policy plus the target repo's own, as it was on main and as the change has it.

    Rules only add up (the highest tier touched wins), so a change cannot lower its own tier by
    editing its repo's policy; what each tier requires always comes from the database.
    """
    from factory.policy import risk_policy_from_db, risk_policy_merge, risk_policy_parse

    policy, sources = risk_policy_from_db(), ["database"]
    for label, ref in (("main", run.base_sha), ("this change", run.head_sha)):
        if not git.exists_at(tree, ref, POLICY_FILE):
            continue
        text = git.blob(tree, ref, POLICY_FILE).decode("utf-8", errors="replace")
        try:
            policy = risk_policy_merge(policy, risk_policy_parse(text, source=f"{POLICY_FILE} on {label}"))
        except ValueError as exc:  # RiskPolicyError names the file and the field
            raise StageFailed(str(exc)) from exc
        sources.append(f"{POLICY_FILE} on {label}")
    return policy, sources


@_step(StageName.REVIEW)
def _review(run: FactoryRun, stage: FactoryStage) -> None:
    from factory.reviewers import ReviewerError, reviewers_configured

    tree = worktree_path(run)
    changed = [p for p in git.changed_paths(tree, run.base_sha, run.head_sha) if (tree / p).exists()]
    found = []
    for reviewer in reviewers_configured():
        stage_log(stage=stage, line=f"{reviewer.name}: reviewing {len(changed)} files")
        try:
            found.extend(reviewer.review(worktree=tree, paths=changed))
        except ReviewerError as exc:
            raise StageFailed(f"The {reviewer.name} reviewer failed, so nothing was reviewed: {exc}") from exc
        usage = getattr(reviewer, "usage", None)  # a model-backed reviewer says what it spent
        if usage is not None and usage.total_tokens:
            run_update(run=run, tokens=run.tokens + usage.total_tokens)
    rows = [
        Finding(
            run=run,
            stage=stage,
            reviewer=f.reviewer,
            rule_id=f.rule_id,
            severity=f.severity,
            path=f.path,
            line=f.line,
            message=f.message,
            sha=run.head_sha,
        )
        for f in found
    ]
    Finding.objects.bulk_create(rows)
    _mark_fixed(run, current=rows)
    threshold = SEVERITY_RANK[run.tier.blocking_severity]
    blocking = [f for f in rows if SEVERITY_RANK[f.severity] >= threshold]
    summary = f"{len(rows)} findings, {len(blocking)} at or above {run.tier.blocking_severity}"
    stage_finish(
        stage=stage,
        status=StageStatus.FAILED if blocking else StageStatus.PASSED,
        summary=summary,
        detail={"findings": len(rows), "blocking": len(blocking)},
    )


def _key(finding: Finding) -> tuple:
    return (finding.reviewer, finding.rule_id, finding.path, finding.message)


def _mark_fixed(run: FactoryRun, *, current: list[Finding]) -> None:
    """Findings of earlier rounds that this round no longer reports were fixed by its commit."""
    still = {_key(f) for f in current}
    earlier = run.findings.exclude(sha=run.head_sha).filter(fixed_in_sha="")
    for finding in earlier:
        if _key(finding) not in still:
            finding.fixed_in_sha = run.head_sha
            finding.save(update_fields=["fixed_in_sha"])


@_step(StageName.REMEDIATE)
def _remediate(run: FactoryRun, stage: FactoryStage) -> None:
    from factory.remediation import remediate

    if run.iterations + 1 > settings.ASPORA_FACTORY_MAX_ITERATIONS:
        blocking = _blocking_findings(run)
        raise StageFailed(
            f"{len(blocking)} blocking findings remain after {run.iterations} remediation rounds "
            f"(limit {settings.ASPORA_FACTORY_MAX_ITERATIONS}): " + "; ".join(_finding_line(f) for f in blocking[:5])
        )
    tree = worktree_path(run)
    blocking = _blocking_findings(run)
    result = remediate(worktree=tree, findings=blocking)
    for line in getattr(result, "log", []) or []:
        stage_log(stage=stage, line=line)
    sha = git.commit_all(tree, f"Remediate {len(blocking)} findings\n\nFactory run {run.id}")
    if sha is None:
        raise StageFailed(
            "Remediation could not fix the blocking findings: " + "; ".join(_finding_line(f) for f in blocking[:5])
        )
    run_update(run=run, head_sha=sha, iterations=run.iterations + 1, tokens=run.tokens + result.tokens)
    stage_finish(stage=stage, status=StageStatus.PASSED, summary=f"commit {sha[:12]}; reviewing again", sha=sha)


def _blocking_findings(run: FactoryRun) -> list[Finding]:
    threshold = SEVERITY_RANK[run.tier.blocking_severity]
    return [f for f in run.findings.filter(sha=run.head_sha) if SEVERITY_RANK[f.severity] >= threshold]


def _finding_line(finding: Finding) -> str:
    return f"{finding.rule_id} at {finding.path}:{finding.line or '?'} ({finding.severity})"


@_step(StageName.TEST)
def _test(run: FactoryRun, stage: FactoryStage) -> None:
    tree = worktree_path(run)
    if run.pack_domain is not None:
        _test_skills(run, stage, tree)
    else:
        _test_product(run, stage, tree)


def _test_skills(run: FactoryRun, stage: FactoryStage, tree: Path) -> None:
    from skills.evals import skill_candidate_evaluate

    if not run.tier.requires_evals:
        stage_finish(stage=stage, status=StageStatus.SKIPPED, summary=f"the {run.tier.name} tier needs no evals")
        return
    names = skills_touched(run, tree, git.changed_paths(tree, run.base_sha, run.head_sha))
    if not names:
        raise StageFailed("The change touches no skill of the pack, so there is nothing to evaluate.")
    results = []
    for name in names:
        results += skill_candidate_evaluate(pack=tree, skill_name=name, author=run.requester, note=f"factory {run.id}")
    for result in results:
        verdict = "passed" if result.passed else "FAILED: " + "; ".join(result.problems)
        stage_log(stage=stage, line=f"{result.skill}: eval {result.ask!r} as {result.user or '?'}: {verdict}")
    failed = [r for r in results if not r.passed]
    summary = f"{len(results) - len(failed)} of {len(results)} evals passed"
    detail = {"passed": len(results) - len(failed), "failed": len(failed), "skills": names}
    stage_finish(
        stage=stage, status=StageStatus.FAILED if failed else StageStatus.PASSED, summary=summary, detail=detail
    )


def _test_product(run: FactoryRun, stage: FactoryStage, tree: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "PYTEST_"))}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django"]
    stage_log(stage=stage, line="$ python -m pytest -q")
    try:
        result = subprocess.run(  # noqa: S603 - our interpreter, in the run's own worktree
            command, cwd=tree, env=env, capture_output=True, text=True, timeout=settings.ASPORA_FACTORY_TEST_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise StageFailed(f"The tests took longer than {settings.ASPORA_FACTORY_TEST_TIMEOUT} s.") from exc
    output = (result.stdout + result.stderr).strip()
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?|skipped)", output)}
    tail = output.splitlines()[-1] if output else "no output"
    passed = result.returncode == 0 and counts.get("passed", 0) > 0
    stage_finish(
        stage=stage,
        status=StageStatus.PASSED if passed else StageStatus.FAILED,
        summary=tail if passed else f"tests failed (exit {result.returncode}): {tail}",
        log=output[-20_000:] + "\n",
        detail={"counts": counts, "exit_code": result.returncode},
    )


@_step(StageName.APPROVE)
def _approve(run: FactoryRun, stage: FactoryStage) -> None:
    tier = run.tier
    if tier.required_approvals == 0 and tier.auto_deploy:
        stage_finish(stage=stage, status=StageStatus.SKIPPED, summary=f"the {tier.name} tier deploys on its own")
        return
    need = max(tier.required_approvals, 1)
    if len(approvals_valid(run)) >= need:
        stage_finish(stage=stage, status=StageStatus.PASSED, summary=f"already approved at {run.head_sha[:12]}")
        return
    with transaction.atomic():
        stage_finish(
            stage=stage,
            status=StageStatus.WAITING,
            summary=f"waiting for {need} approval(s) of {run.head_sha[:12]} ({tier.name} tier)",
        )
        run_update(run=run, status=RunStatus.WAITING)


@_step(StageName.DEPLOY)
def _deploy(run: FactoryRun, stage: FactoryStage) -> None:
    from factory.deployers import deploy, deploy_check

    problems = deploy_check(run)
    if problems:
        raise StageFailed("Refusing to deploy " + run.head_sha[:12] + ": " + "; ".join(problems))
    with git.repo_lock(repo_path(run)):
        deployment = deploy(run=run, worktree=worktree_path(run), log=lambda line: stage_log(stage=stage, line=line))
    where = deployment.url or deployment.target
    stage_finish(
        stage=stage,
        status=StageStatus.PASSED,
        summary=f"{deployment.target} live at {where}",
        detail={"deployment": deployment.pk, "url": deployment.url},
    )
