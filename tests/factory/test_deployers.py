"""Deployers: a product runs as a supervised local process (health-checked, restarted, rolled
back), and a real pipeline is told through a signed webhook that refuses to pass silently."""

import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from factory import git
from factory.deployers import DeployError, deploy, deployment_rollback, products_supervise
from factory.models import Deployment, DeploymentStatus, FactoryRun, Kind, RiskTier, RunStatus
from factory.pipeline import repo_path, worktree_path
from tenants.demo import demo_seed
from tenants.models import User

APP = """from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
def healthz():
    return {{"status": "ok"}}


@app.get("/version")
def version():
    return {{"version": "{version}"}}
"""


@pytest.fixture
def product_run(db, settings, tmp_path):
    """A product run whose branch holds a tiny FastAPI app; `commit(version)` moves it on."""
    demo_seed(password=None)
    settings.ASPORA_FACTORY_DIR = tmp_path / "factory"
    paula = User.objects.get(username="paula")
    run = FactoryRun.objects.create(
        tenant=paula.tenant, requester=paula, title="Hello product", spec="(spec)", kind=Kind.PRODUCT,
        target_repo="product-hello", tier=RiskTier.objects.get(name="medium"), status=RunStatus.RUNNING,
    )  # fmt: skip
    repo = git.repo_ensure(repo_path(run))
    tree = git.worktree_add(repo, path=worktree_path(run), branch="factory/hello")
    (tree.path / "app").mkdir()
    (tree.path / "app" / "__init__.py").write_text("")

    def commit(version: str) -> FactoryRun:
        (tree.path / "app" / "main.py").write_text(APP.format(version=version))
        sha = git.commit_all(tree.path, f"version {version}")
        FactoryRun.objects.filter(pk=run.pk).update(base_sha=tree.base, head_sha=sha)
        run.refresh_from_db()
        return run

    yield commit
    for deployment in Deployment.objects.exclude(pid=None):
        with contextlib.suppress(OSError):
            os.killpg(deployment.pid, signal.SIGKILL)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def test_a_product_is_served_restarted_when_it_dies_and_rolled_back(product_run):
    lines = []
    first = deploy(run=product_run("1"), worktree=None, log=lines.append)
    assert _get(f"{first.url}/version") == {"version": "1"}
    assert any(line.endswith("/healthz answers 200") for line in lines)

    second = deploy(run=product_run("2"), worktree=None, log=lines.append)
    first.refresh_from_db()
    assert _get(f"{second.url}/version") == {"version": "2"}
    assert (first.status, second.previous_id) == (DeploymentStatus.SUPERSEDED, first.pk)

    os.killpg(second.pid, signal.SIGKILL)  # the product crashes
    time.sleep(0.2)
    assert products_supervise() == 1
    second.refresh_from_db()
    assert _get(f"{second.url}/version") == {"version": "2"}

    restored = deployment_rollback(deployment=second)
    second.refresh_from_db()
    assert (restored.pk, restored.status, second.status) == (
        first.pk,
        DeploymentStatus.LIVE,
        DeploymentStatus.ROLLED_BACK,
    )
    assert _get(f"{restored.url}/version") == {"version": "1"}


def test_a_product_that_never_gets_healthy_fails_the_deploy_and_is_stopped(product_run, tmp_path):
    run = product_run("1")
    tree = worktree_path(run)
    (tree / "app" / "main.py").write_text("raise SystemExit('missing settings')\n")
    run.head_sha = git.commit_all(tree, "broken")
    with pytest.raises(DeployError, match="exited with code"):
        deploy(run=run, worktree=tree, log=lambda line: None)
    assert not Deployment.objects.exists()


class _Pipeline(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(self.headers.get("X-Aspora-Signature-256", ""), expected)
        type(self).received.append((signed, json.loads(body)))
        status = self.status if signed else 401
        answer = json.dumps({"url": "https://deploy.example.test/hello"} if status == 200 else {"error": "no"})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def pipeline_server(settings):
    _Pipeline.received, _Pipeline.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pipeline)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.ASPORA_FACTORY_DEPLOY_WEBHOOK = f"http://127.0.0.1:{server.server_address[1]}/deploy"
    settings.ASPORA_FACTORY_WEBHOOK_SECRET = "hook-secret"
    yield _Pipeline
    server.shutdown()


def test_the_webhook_deployer_sends_a_signed_request_naming_the_exact_commit(product_run, pipeline_server):
    run = product_run("1")
    deployment = deploy(run=run, worktree=None, log=lambda line: None)

    [(signed, body)] = pipeline_server.received
    assert signed is True
    assert (body["sha"], body["target"], body["tier"]) == (run.head_sha, "product-hello", "medium")
    assert (deployment.deployer, deployment.url) == ("webhook", "https://deploy.example.test/hello")


def test_a_webhook_that_refuses_fails_the_deploy_with_its_answer(product_run, pipeline_server, settings):
    pipeline_server.status = 503
    with pytest.raises(DeployError, match=re.escape('answered HTTP 503: {"error": "no"}')):
        deploy(run=product_run("1"), worktree=None, log=lambda line: None)
    settings.ASPORA_FACTORY_WEBHOOK_SECRET = "wrong"
    pipeline_server.status = 200
    with pytest.raises(DeployError, match="answered HTTP 401"):
        deploy(run=product_run("2"), worktree=None, log=lambda line: None)
    assert not Deployment.objects.exists()
