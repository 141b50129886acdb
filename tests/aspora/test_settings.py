"""Settings are read once per process, so each mode is checked in a fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DATABASE_URL": "postgres://aspora@127.0.0.1:5432/aspora",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DJANGO_SECRET_KEY": "x" * 64 + "-production-key-for-the-settings-test",
    "DJANGO_ALLOWED_HOSTS": "ops.example.com",
}
PROBE = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "mode": s.ASPORA_MODE, "debug": s.DEBUG, "engine": s.DATABASES["default"]["ENGINE"],
    "layer": s.CHANNEL_LAYERS["default"]["BACKEND"], "eager": s.CELERY_TASK_ALWAYS_EAGER,
    "broker": s.CELERY_BROKER_URL, "acks_late": s.CELERY_TASK_ACKS_LATE,
    "reject_on_lost": s.CELERY_TASK_REJECT_ON_WORKER_LOST, "prefetch": s.CELERY_WORKER_PREFETCH_MULTIPLIER,
    "secure_cookies": getattr(s, "SESSION_COOKIE_SECURE", False) and getattr(s, "CSRF_COOKIE_SECURE", False),
    "conn_max_age": s.DATABASES["default"].get("CONN_MAX_AGE"),
}))
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    return {**env, "DJANGO_SETTINGS_MODULE": "aspora.settings", **extra}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _settings_in(env: dict[str, str]) -> dict:
    result = _run(["-c", PROBE], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_embedded_default_needs_no_environment(tmp_path):
    settings = _settings_in(_clean_env(ASPORA_SQLITE_PATH=str(tmp_path / "db.sqlite3")))

    assert settings["mode"] == "embedded"
    assert settings["debug"] is True
    assert settings["engine"] == "django.db.backends.sqlite3"
    assert settings["layer"] == "channels.layers.InMemoryChannelLayer"
    assert settings["eager"] is True


def test_production_mode_uses_postgresql_redis_and_a_careful_celery():
    settings = _settings_in(_clean_env(**PRODUCTION_ENV))

    assert settings == {
        "mode": "production",
        "debug": False,
        "engine": "aspora.postgresql",  # Django's PostgreSQL backend, with a cheaper pool check
        "layer": "channels_redis.core.RedisChannelLayer",
        "eager": False,
        "broker": "redis://127.0.0.1:6379/0",
        "acks_late": True,
        "reject_on_lost": True,
        "prefetch": 1,
        "secure_cookies": True,
        "conn_max_age": 0,
    }


def test_production_mode_names_every_missing_variable_at_start_up():
    env = _clean_env(DATABASE_URL=PRODUCTION_ENV["DATABASE_URL"], REDIS_URL=PRODUCTION_ENV["REDIS_URL"])

    result = _run(["-c", PROBE], env)

    assert result.returncode != 0
    assert "Production mode (DATABASE_URL or REDIS_URL is set) also needs DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS" in (
        result.stderr
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _clean_env(**PRODUCTION_ENV))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
