"""The skills API: what a caller may list, start, read and decide, and how refusals read."""

from skills.models import RunStatus, SkillRun
from tenants.models import User
from tenants.services import api_token_create


def _bearer(username: str) -> dict:
    _, raw = api_token_create(user=User.objects.get(username=username), name="test")
    return {"Authorization": f"Bearer {raw}"}


def test_list_shows_only_the_skills_the_caller_may_run(client, demo):
    sarah = client.get("/api/skills", headers=_bearer("sarah")).json()
    raj = client.get("/api/skills", headers=_bearer("raj")).json()
    theo = client.get("/api/skills", headers=_bearer("theo")).json()

    by_name = {skill["name"]: skill for skill in sarah}
    assert sorted(by_name) == [
        "add-note",
        "escalate-shipment",
        "my-tickets",
        "reassign-ticket",
        "resolve-ticket",
        "ticket-detail",
    ]
    assert by_name["my-tickets"]["examples"][0] == "show my tickets"
    assert by_name["escalate-shipment"]["confirm"] == ["escalate_ticket"]
    assert {skill["domain"] for skill in raj} == {"fincrime"}
    assert theo == []


def test_start_a_run_then_read_it_with_its_events(client, demo):
    headers = _bearer("sarah")

    started = client.post("/api/runs", {"message": "show my tickets"}, content_type="application/json", headers=headers)
    run_id = started.json()["id"]
    detail = client.get(f"/api/runs/{run_id}", headers=headers).json()
    later = client.get(f"/api/runs/{run_id}?after=3", headers=headers).json()

    assert started.status_code == 202
    assert started.json()["skill"] == "my-tickets"
    assert (detail["status"], detail["channel"], detail["offline"]) == ("succeeded", "api", True)
    assert detail["events"][0]["type"] == "run.started"
    assert detail["events"][-1]["type"] == "run.final"
    assert [e["seq"] for e in later["events"]] == [e["seq"] for e in detail["events"]][3:]
    assert detail["answer"].startswith("4 found:")


def test_confirm_a_pending_tool_call_over_the_api(client, demo):
    headers = _bearer("sarah")
    run_id = client.post(
        "/api/runs",
        {"message": "escalate ticket 1043 because customs", "skill": "escalate-shipment"},
        content_type="application/json",
        headers=headers,
    ).json()["id"]
    waiting = client.get(f"/api/runs/{run_id}", headers=headers).json()

    decided = client.post(
        f"/api/runs/{run_id}/decision", {"approve": True}, content_type="application/json", headers=headers
    )
    again = client.post(
        f"/api/runs/{run_id}/decision", {"approve": True}, content_type="application/json", headers=headers
    )

    assert waiting["status"] == "awaiting_confirmation"
    assert waiting["pending_tool_calls"][0]["name"] == "escalate_ticket"
    assert decided.status_code == 202
    assert SkillRun.objects.get(pk=run_id).status == RunStatus.SUCCEEDED
    assert again.status_code == 409
    assert again.json()["detail"] == "This run is not waiting for a confirmation (it is succeeded)."


def test_someone_elses_run_is_not_found_and_cannot_be_decided(client, demo):
    run_id = client.post(
        "/api/runs",
        {"message": "escalate ticket 1043 because customs"},
        content_type="application/json",
        headers=_bearer("sarah"),
    ).json()["id"]
    omar = _bearer("omar")

    read = client.get(f"/api/runs/{run_id}", headers=omar)
    decide = client.post(
        f"/api/runs/{run_id}/decision", {"approve": True}, content_type="application/json", headers=omar
    )

    assert (read.status_code, decide.status_code) == (404, 404)
    assert read.json() == {
        "type": "about:blank",
        "title": "SkillNotFoundError",
        "status": 404,
        "detail": "No such run.",
    }
    assert SkillRun.objects.get(pk=run_id).status == RunStatus.AWAITING_CONFIRMATION


def test_a_refusal_is_a_problem_document_naming_the_recorded_run(client, demo):
    response = client.post(
        "/api/runs",
        {"message": "show my tickets", "skill": "my-tickets"},
        content_type="application/json",
        headers=_bearer("raj"),
    )

    body = response.json()
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert body["detail"].startswith("There is no skill named 'my-tickets' that you can run.")
    assert SkillRun.objects.get(pk=body["run_id"]).status == RunStatus.REFUSED


def test_bad_input_names_the_field(client, demo):
    response = client.post("/api/runs", {"message": ""}, content_type="application/json", headers=_bearer("sarah"))

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "payload", "message"]


def test_my_runs_are_listed_newest_first_and_only_mine(client, demo):
    headers = _bearer("sarah")
    for message in ("show my tickets", "my escalated tickets"):
        client.post("/api/runs", {"message": message}, content_type="application/json", headers=headers)

    mine = client.get("/api/runs", headers=headers).json()
    omars = client.get("/api/runs", headers=_bearer("omar")).json()

    assert [run["message"] for run in mine["items"]] == ["my escalated tickets", "show my tickets"]
    assert omars["count"] == 0


def test_openapi_documents_every_skills_endpoint_and_its_errors(client, db):
    paths = client.get("/api/openapi.json").json()["paths"]

    assert paths["/api/runs"]["post"]["operationId"] == "runs_create"
    assert set(paths["/api/runs/{run_id}/decision"]["post"]["responses"]) >= {"202", "404", "409", "422"}
    assert paths["/api/skills"]["get"]["operationId"] == "skills_list"


def test_a_token_caller_posts_without_any_csrf_cookie(demo):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)

    response = strict.post(
        "/api/runs", {"message": "show my tickets"}, content_type="application/json", headers=_bearer("sarah")
    )

    assert response.status_code == 202


def test_a_session_caller_still_needs_the_csrf_token(demo):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get(username="sarah"))

    response = strict.post("/api/runs", {"message": "show my tickets"}, content_type="application/json")

    assert response.status_code == 403
