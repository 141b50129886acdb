from tenants.services import api_token_create, api_token_revoke


def test_me_over_the_session(client, analyst):
    client.force_login(analyst)

    response = client.get("/api/me")

    assert response.status_code == 200
    assert response.json() == {
        "username": "ana",
        "display_name": "ana",
        "tenant": "Acme",
        "memberships": [{"team": "Ecm Field", "team_slug": "ecm-field", "role": "analyst", "is_primary": True}],
    }


def test_me_with_a_bearer_token_or_an_api_key_header(client, analyst):
    _, raw = api_token_create(user=analyst, name="cli")

    assert client.get("/api/me", headers={"Authorization": f"Bearer {raw}"}).json()["username"] == "ana"
    assert client.get("/api/me", headers={"X-API-Key": raw}).json()["username"] == "ana"


def test_anonymous_and_revoked_callers_get_a_problem_document(client, analyst):
    token, raw = api_token_create(user=analyst, name="cli")
    api_token_revoke(token=token)

    for headers in ({}, {"Authorization": f"Bearer {raw}"}, {"Authorization": "Bearer asp_00000000_forged"}):
        response = client.get("/api/me", headers=headers)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["detail"] == "Sign in, or send a personal API token as 'Authorization: Bearer asp_…'."


def test_openapi_documents_the_api(client):
    schema = client.get("/api/openapi.json").json()

    assert schema["info"]["title"] == "Aspora API"
    assert schema["paths"]["/api/me"]["get"]["operationId"] == "me_get"
    assert client.get("/api/docs").status_code == 200
