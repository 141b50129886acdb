"""Deployers: a skill into its live domain pack (the registry imports it), a FastAPI product as a
supervised local process, or a signed webhook for a real pipeline. And the check that nothing
deploys at a commit that lacks a check or an approval its tier requires."""

import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from factory import git
from factory.models import Deployment, DeploymentStatus, FactoryRun, StageName, StageStatus
from factory.services import approvals_valid, deployment_record

HEALTH_TIMEOUT_SECONDS = 20
Log = Callable[[str], None]


class DeployError(RuntimeError):
    pass


# --- the check -------------------------------------------------------------------------------


def deploy_check(run: FactoryRun) -> list[str]:
    """Everything the run's tier requires, at the run's head commit; empty when it may deploy."""
    from factory.pipeline import worktree_path

    sha, tier = run.head_sha, run.tier
    if not sha or tier is None:
        return ["the run has no judged commit"]
    problems = []
    on_disk = git.head(worktree_path(run))
    if on_disk != sha:
        problems.append(f"the worktree is at {on_disk[:12]}, not at the judged {sha[:12]}")
    stages = {}
    for stage in run.stages.filter(sha=sha).order_by("started_at", "id"):
        stages[stage.name] = stage
    ok = {StageStatus.PASSED}
    if stages.get(StageName.GATE) is None or stages[StageName.GATE].status not in ok:
        problems.append(f"the risk gate has not passed {sha[:12]}")
    if stages.get(StageName.REVIEW) is None or stages[StageName.REVIEW].status not in ok:
        problems.append(f"review has not passed {sha[:12]}")
    test = stages.get(StageName.TEST)
    needs_test = tier.requires_evals if run.pack_domain else tier.requires_tests
    if needs_test and (test is None or test.status not in ok):
        problems.append(f"tests have not passed on {sha[:12]}")
    need = max(tier.required_approvals, 0 if tier.auto_deploy else 1)
    have = len(approvals_valid(run))
    if have < need:
        problems.append(f"{have} of {need} required approvals of {sha[:12]}")
    return problems


def deploy(*, run: FactoryRun, worktree: Path, log: Log) -> Deployment:
    if run.pack_domain is not None:
        return _skill_deploy(run=run, worktree=worktree, log=log)
    if settings.ASPORA_FACTORY_DEPLOY_WEBHOOK:
        return _webhook_deploy(run=run, log=log)
    return _product_deploy(run=run, log=log)


# --- skills ----------------------------------------------------------------------------------


def _skill_deploy(*, run: FactoryRun, worktree: Path, log: Log) -> Deployment:
    from factory.pipeline import repo_path, skills_touched
    from skills.models import Skill, Source
    from skills.registry import pack_sync

    live = Path(settings.ASPORA_DOMAINS_DIR) / run.pack_domain
    repo = repo_path(run)
    changed = git.changed_paths(repo, run.base_sha, run.head_sha)
    names = skills_touched(run, worktree, changed)
    before = {path: _read(live / path) for path in changed}
    _write_files(repo, run.head_sha, changed, live)
    log(f"wrote {', '.join(changed)} into {live}")
    report = pack_sync(path=live, source=Source.FACTORY, author=run.requester)
    imported = set(report.created + report.updated + report.unchanged)
    if not report.ok or not set(names) <= imported:
        _restore(live, before)
        pack_sync(path=live)
        missing = ", ".join(sorted(set(names) - imported))
        problems = "; ".join(str(p) for p in report.problems) or f"{missing} was not imported"
        raise DeployError(f"The registry refused the pack, so the live skills are unchanged: {problems}")
    merged = git.merge_to_main(repo, run.head_sha)
    log(f"main of {run.target_repo} is now {merged[:12]}; {', '.join(names)} imported")
    single = Skill.objects.select_related("current_version").get(name=names[0]) if len(names) == 1 else None
    return deployment_record(
        run=run,
        target=", ".join(names)[:200],
        deployer="skill",
        sha=run.head_sha,
        path=str(live),
        url=f"/console/?skill={names[0]}",
        skill_version=single.current_version if single else None,
    )


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _write_files(repo: Path, sha: str, paths: list[str], destination: Path) -> None:
    """Make `paths` under `destination` what they are in commit `sha` (absent there: removed)."""
    for path in paths:
        target = destination / path
        if not git.exists_at(repo, sha, path):
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(git.blob(repo, sha, path))


def _restore(live: Path, before: dict[str, str | None]) -> None:
    for path, content in before.items():
        if content is None:
            (live / path).unlink(missing_ok=True)
        else:
            (live / path).write_text(content, encoding="utf-8")


# --- products --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _product_deploy(*, run: FactoryRun, log: Log) -> Deployment:
    from factory.pipeline import repo_path, workspace

    target = run.target_repo
    folder = git.export_tree(repo_path(run), run.head_sha, workspace() / "deployments" / target / run.head_sha[:12])
    port = free_port()
    process = _product_start(folder=folder, port=port)
    url = f"http://127.0.0.1:{port}"
    log(f"started {target} (pid {process.pid}) on {url}")
    try:
        _wait_healthy(url, process)
    except DeployError:
        _terminate(process.pid)
        raise
    log(f"{url}/healthz answers 200")
    previous = Deployment.objects.filter(target=target, status=DeploymentStatus.LIVE).first()
    git.merge_to_main(repo_path(run), run.head_sha)
    deployment = deployment_record(
        run=run,
        target=target,
        deployer="product",
        sha=run.head_sha,
        url=url,
        port=port,
        pid=process.pid,
        path=str(folder),
    )
    if previous and previous.pid:
        _terminate(previous.pid)
        log(f"stopped the previous deployment (pid {previous.pid})")
    return deployment


def _product_start(*, folder: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env["PRODUCT_DB_PATH"] = str(folder / "product.sqlite3")
    logfile = open(folder / "server.log", "ab")  # noqa: SIM115 - handed to the child process
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(  # noqa: S603 - our interpreter and a fixed command
        command, cwd=folder, env=env, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_healthy(url: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise DeployError(f"The product exited with code {process.returncode} before it became healthy.")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 - our loopback URL
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise DeployError(f"{url}/healthz did not answer 200 within {HEALTH_TIMEOUT_SECONDS} s ({last}).")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError):  # our own child: reap it if it exited
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 - our loopback URL
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _terminate(pid: int | None) -> None:
    if not _alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not _alive(pid):
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


def deployment_stop(*, deployment: Deployment) -> Deployment:
    _terminate(deployment.pid)
    deployment.status = DeploymentStatus.STOPPED
    deployment.stopped_at = timezone.now()
    deployment.save(update_fields=["status", "stopped_at"])
    return deployment


def deployment_restart(*, deployment: Deployment) -> Deployment:
    """Start a product's deployed folder again on its port (or a free one if that is taken)."""
    if deployment.deployer != "product":
        raise DeployError("Only products run as processes; a skill is live as long as it is current.")
    _terminate(deployment.pid)
    port = deployment.port or free_port()
    try:
        process = _product_start(folder=Path(deployment.path), port=port)
        _wait_healthy(f"http://127.0.0.1:{port}", process)
    except DeployError:
        port = free_port()
        process = _product_start(folder=Path(deployment.path), port=port)
        _wait_healthy(f"http://127.0.0.1:{port}", process)
    deployment.pid, deployment.port, deployment.url = process.pid, port, f"http://127.0.0.1:{port}"
    deployment.status, deployment.stopped_at = DeploymentStatus.LIVE, None
    deployment.save(update_fields=["pid", "port", "url", "status", "stopped_at"])
    return deployment


def products_supervise() -> int:
    """Restart live products whose process died or stopped answering; returns how many were restarted."""
    restarted = 0
    for deployment in Deployment.objects.filter(deployer="product", status=DeploymentStatus.LIVE):
        if not (_alive(deployment.pid) and _healthy(deployment.url)):
            deployment_restart(deployment=deployment)
            restarted += 1
    return restarted


# --- rollback --------------------------------------------------------------------------------


@transaction.atomic
def deployment_rollback(*, deployment: Deployment) -> Deployment | None:
    """Return the target to the deployment before this one (a new skill: take it out of service)."""
    from skills.models import Skill
    from skills.registry import pack_sync

    if deployment.status != DeploymentStatus.LIVE:
        raise DeployError(f"Only the live deployment can be rolled back; this one is {deployment.status}.")
    previous = deployment.previous
    run = deployment.run
    if deployment.deployer == "skill":
        from factory.pipeline import repo_path

        # The pack's files go back to what they were before the run; skills the run added leave service.
        repo, live = repo_path(run), Path(deployment.path)
        with git.repo_lock(repo):
            changed = git.changed_paths(repo, run.base_sha, run.head_sha)
            _write_files(repo, run.base_sha, changed, live)
            report = pack_sync(path=live)
        if not report.ok:
            raise DeployError(
                "The pack as it was before the run no longer imports: " + "; ".join(map(str, report.problems))
            )
        for name in deployment.target.split(", "):
            if not git.exists_at(repo, run.base_sha, f"skills/{name}/SKILL.md"):
                Skill.objects.filter(name=name).update(is_active=False)
    elif deployment.deployer == "product":
        _terminate(deployment.pid)
        if previous is not None:
            deployment_restart(deployment=previous)
    deployment.status = DeploymentStatus.ROLLED_BACK
    deployment.stopped_at = timezone.now()
    deployment.save(update_fields=["status", "stopped_at"])
    if previous is not None:
        previous.status = DeploymentStatus.LIVE
        previous.stopped_at = None
        previous.save(update_fields=["status", "stopped_at"])
    return previous


# --- webhook ---------------------------------------------------------------------------------


def webhook_signature(body: bytes) -> str:
    secret = settings.ASPORA_FACTORY_WEBHOOK_SECRET.encode()
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _webhook_deploy(*, run: FactoryRun, log: Log) -> Deployment:
    from factory.pipeline import repo_path

    body = json.dumps(
        {
            "run_id": str(run.id),
            "target": run.target_repo,
            "kind": run.kind,
            "sha": run.head_sha,
            "branch": run.branch,
            "tier": run.tier.name,
            "approvals": [a.approver.username for a in approvals_valid(run)],
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - an operator-configured URL
        settings.ASPORA_FACTORY_DEPLOY_WEBHOOK,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Aspora-Signature-256": webhook_signature(body)},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        answer = exc.read()[:300].decode(errors="replace")
        raise DeployError(f"The deploy webhook answered HTTP {exc.code}: {answer}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DeployError(f"The deploy webhook could not be reached: {exc}") from exc
    log(f"deploy webhook accepted {run.head_sha[:12]}")
    git.merge_to_main(repo_path(run), run.head_sha)
    return deployment_record(
        run=run, target=run.target_repo, deployer="webhook", sha=run.head_sha, url=str(answer.get("url", ""))
    )
