def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_every_dependency_ok(client, db):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "channel_layer": "ok", "broker": "ok"},
    }


def test_readyz_is_503_and_names_what_is_down_when_redis_is_unreachable(client, db, settings):
    unreachable = "redis://127.0.0.1:1/0"
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [unreachable]}}
    }
    settings.CELERY_BROKER_URL = unreachable
    settings.CELERY_TASK_ALWAYS_EAGER = False

    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["down"] == ["broker", "channel_layer"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("broker unreachable (")
    assert body["checks"]["channel_layer"].startswith("channel layer unreachable (")
    assert "127.0.0.1:1" not in response.content.decode()
