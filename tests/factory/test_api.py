"""The factory API at /api/factory/: queueing, reading and approving runs, and its permission
matrix (anonymous 401, another tenant 404, no role 403, stale commit 409, self-approval 403)."""

import pytest

from factory.models import Approval, FactoryRun, RunStatus
from tenants.services import api_token_create
from tests.factory.builders import PRODUCT_SPEC, factory_world

PROBLEM = "application/problem+json"


@pytest.fixture
def world(db, settings, tmp_path):
    settings.ASPORA_FACTORY_DIR = tmp_path
    return factory_world()


def _as(world, username: str) -> dict:
    _, raw = api_token_create(user=world.people[username], name="test")
    return {"Authorization": f"Bearer {raw}"}


def _approve(client, world, username: str, sha: str, approve: bool = True, run=None):
    run = run or world.waiting
    return client.post(
        f"/api/factory/runs/{run.id}/approvals",
        {"sha": sha, "approve": approve, "comment": "checked"},
        content_type="application/json",
        headers=_as(world, username),
    )


def test_a_product_manager_queues_a_run_from_a_spec(client, world):
    response = client.post(
        "/api/factory/runs",
        {"spec": PRODUCT_SPEC, "spec_name": "wealth.md"},
        content_type="application/json",
        headers=_as(world, "paula"),
    )

    assert response.status_code == 201
    body = response.json()
    run = FactoryRun.objects.get(pk=body["id"])
    assert (run.requester.username, run.spec_name, run.status) == ("paula", "wealth.md", RunStatus.QUEUED)
    assert {key: body[key] for key in ("title", "kind", "status", "requester", "tier", "stages", "deployment")} == {
        "title": "Wealth Portfolio Checker",
        "kind": "product",
        "status": "queued",
        "requester": "paula",
        "tier": None,
        "stages": [],
        "deployment": None,
    }


def test_a_spec_that_does_not_parse_is_a_problem_naming_its_line_and_field(client, world):
    response = client.post(
        "/api/factory/runs",
        {"spec": PRODUCT_SPEC.replace("title: Wealth Portfolio Checker\n", ""), "spec_name": "wealth.md"},
        content_type="application/json",
        headers=_as(world, "paula"),
    )

    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "SpecInvalidError",
        "status": 422,
        "detail": "wealth.md:2: title: is required",
    }
    assert FactoryRun.objects.count() == 6


def test_queueing_without_a_role_that_may_is_forbidden(client, world):
    response = client.post(
        "/api/factory/runs", {"spec": PRODUCT_SPEC}, content_type="application/json", headers=_as(world, "sarah")
    )

    assert response.status_code == 403
    assert response.json()["detail"] == "Only product managers, ops managers and admins may queue factory runs."
    assert FactoryRun.objects.count() == 6


def test_the_list_is_the_callers_organisations_runs_newest_first_and_filters_by_status(client, world):
    everything = client.get("/api/factory/runs", headers=_as(world, "sarah")).json()
    waiting = client.get("/api/factory/runs?status=waiting_approval", headers=_as(world, "paula")).json()
    theirs = client.get("/api/factory/runs", headers=_as(world, "theo")).json()

    assert [run["title"] for run in everything["items"]] == [
        "FX quote service",
        "ECM stale escalations",
        "Wealth Portfolio Checker",
        "Remittance fee calculator",
        "Sanctions screening export",
    ]
    assert [(run["title"], run["tier"], run["requester"]) for run in waiting["items"]] == [
        ("Wealth Portfolio Checker", "high", "paula")
    ]
    assert [run["title"] for run in theirs["items"]] == ["Northwind payout reconciler"]


def test_a_run_in_full(client, world):
    run = world.waiting

    body = client.get(f"/api/factory/runs/{run.id}", headers=_as(world, "olivia")).json()

    assert (body["tier"], body["tier_rule"], body["head_sha"], body["iterations"]) == (
        "high",
        "money-logic",
        run.head_sha,
        1,
    )
    assert [(s["name"], s["iteration"], s["status"]) for s in body["stages"]] == [
        ("generate", 0, "passed"),
        ("gate", 0, "passed"),
        ("review", 0, "failed"),
        ("remediate", 0, "passed"),
        ("gate", 1, "passed"),
        ("review", 1, "passed"),
        ("test", 1, "passed"),
        ("approve", 1, "waiting"),
    ]
    assert sorted((f["rule_id"], f["fixed_in_sha"] == run.head_sha) for f in body["findings"]) == [
        ("I001", True),
        ("S105", True),
        ("aspora-float-money", False),
    ]
    assert body["approvals"] == [
        {"approver": "olivia", "sha": run.stages.get(name="generate").sha, "decision": "approve", "counts": False}
    ]


def test_approving_the_head_commit_counts_and_lets_the_run_go_on(client, world):
    response = _approve(client, world, "olivia", world.waiting.head_sha)

    assert response.status_code == 201
    assert response.json() == {
        "approver": "olivia",
        "sha": world.waiting.head_sha,
        "decision": "approve",
        "counts": True,
        "run_status": "running",
    }


def test_rejecting_stops_the_run(client, world):
    response = _approve(client, world, "admin", world.waiting.head_sha, approve=False)

    assert response.status_code == 201
    assert (response.json()["decision"], response.json()["run_status"]) == ("reject", "rejected")


def test_anonymous_callers_get_401_on_every_endpoint(client, world):
    run = world.waiting
    calls = [
        client.get("/api/factory/runs"),
        client.get(f"/api/factory/runs/{run.id}"),
        client.post("/api/factory/runs", {"spec": PRODUCT_SPEC}, content_type="application/json"),
        client.post(f"/api/factory/runs/{run.id}/approvals", {"sha": run.head_sha}, content_type="application/json"),
    ]

    assert [(r.status_code, r["Content-Type"]) for r in calls] == [(401, PROBLEM)] * 4
    assert not Approval.objects.filter(sha=run.head_sha).exists()


def test_another_tenants_run_is_not_found(client, world):
    read = client.get(f"/api/factory/runs/{world.waiting.id}", headers=_as(world, "theo"))
    approve = _approve(client, world, "theo", world.waiting.head_sha)
    missing = client.get("/api/factory/runs/00000000-0000-0000-0000-000000000000", headers=_as(world, "paula"))

    assert [(r.status_code, r.json()["detail"]) for r in (read, approve, missing)] == [
        (404, "No such factory run.")
    ] * 3


def test_approving_without_the_role_is_forbidden(client, world):
    response = _approve(client, world, "sarah", world.waiting.head_sha)

    assert response.status_code == 403
    assert response.json()["detail"] == "Approving factory runs needs the ops manager or admin role."
    assert not Approval.objects.filter(sha=world.waiting.head_sha).exists()


def test_approving_a_stale_commit_is_a_conflict(client, world):
    stale = world.waiting.stages.get(name="generate").sha

    response = _approve(client, world, "admin", stale)

    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"Commit {stale[:12]} is not the run's head ({world.waiting.head_sha[:12]}): review the current diff and "
        "approve that commit."
    )
    assert not Approval.objects.filter(approver=world.people["admin"]).exists()


def test_approving_ones_own_run_is_forbidden(client, world):
    FactoryRun.objects.filter(pk=world.waiting.pk).update(requester=world.people["olivia"])

    response = _approve(client, world, "olivia", world.waiting.head_sha)

    assert response.status_code == 403
    assert response.json()["detail"] == "The requester cannot approve their own high-tier run."
    assert not Approval.objects.filter(sha=world.waiting.head_sha).exists()


def test_approving_a_run_that_is_not_waiting_is_a_conflict(client, world):
    response = _approve(client, world, "olivia", world.reviewing.head_sha, run=world.reviewing)

    assert response.status_code == 409
    assert response.json()["detail"] == "This run is not waiting for approval (it is running)."


def test_openapi_documents_every_factory_endpoint_and_its_errors(client, db):
    paths = client.get("/api/openapi.json").json()["paths"]

    assert paths["/api/factory/runs"]["post"]["operationId"] == "factory_runs_create"
    assert paths["/api/factory/runs"]["get"]["operationId"] == "factory_runs_list"
    assert paths["/api/factory/runs/{run_id}"]["get"]["operationId"] == "factory_runs_get"
    approvals = paths["/api/factory/runs/{run_id}/approvals"]["post"]
    assert approvals["operationId"] == "factory_runs_approve"
    assert set(approvals["responses"]) >= {"201", "401", "403", "404", "409", "422"}
