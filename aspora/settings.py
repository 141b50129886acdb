"""Aspora settings, read from the environment.

Two modes, chosen by the environment alone (see docs/settings.md):

* embedded default (no DATABASE_URL / REDIS_URL): SQLite, the in-memory channel layer,
  Celery tasks executed in-process, DEBUG on, a generated secret key kept in `.secret_key`;
* production (DATABASE_URL and REDIS_URL set): PostgreSQL through psycopg 3, channels_redis,
  Redis as Celery broker and result backend, DEBUG off, secure cookies, and
  DJANGO_SECRET_KEY / DJANGO_ALLOWED_HOSTS required.
"""

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
PRODUCTION = bool(DATABASE_URL or REDIS_URL)


def _require(*names: str) -> None:
    missing = [name for name in names if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            "Production mode (DATABASE_URL or REDIS_URL is set) also needs "
            + ", ".join(missing)
            + ". Set them in the environment (see .env.example), or unset DATABASE_URL and "
            "REDIS_URL to run on the embedded default."
        )


def _local_secret_key() -> str:
    """The embedded default keeps a generated key in an ignored file, so sessions survive restarts."""
    key_file = BASE_DIR / ".secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


if PRODUCTION:
    _require("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS")
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
    DEBUG = env.bool("DJANGO_DEBUG", default=False)
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _local_secret_key()
    DEBUG = env.bool("DJANGO_DEBUG", default=True)
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "guardian",
    "axes",
    "ninja",
    "aspora",
    "tenants",
    "skills",
    "factory",
    "bridges",
    "identity",
    "usage",
    "domains.ecm",
    "domains.fincrime",
    "domains.fraud",
    "audit",
]

MIDDLEWARE = [
    # A span per request, continuing a caller's traceparent (docs/observability.md).
    "aspora.observability.tracing.TracingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise serves static files: collected and hashed in production, from the apps when embedded.
    "aspora.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Writes name the signed-in person (or API token holder) to the row-change triggers (docs/audit.md).
    "audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a sign-in refused by the lockout into the sign-in page saying so (identity/lockout.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "aspora.urls"
ASGI_APPLICATION = "aspora.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aspora.context_processors.portal",
            ],
        },
    },
]

if PRODUCTION:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    # Under ASGI every request may run on a different thread: no persistent connections, but a
    # psycopg 3 pool, so a request, a consumer call or a tool does not pay for a new backend.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A pooled connection is checked when it is handed out, so one PostgreSQL closed (a restart, an
    # idle timeout) is replaced rather than failing the request or the run that got it. Our backend
    # checks without a round trip unless the connection has something to say (aspora/postgresql).
    DATABASES["default"]["ENGINE"] = "aspora.postgresql"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=1),
        "max_size": env.int("DATABASE_POOL_MAX", default=10),
        "timeout": 10,
    }
    # Values travel as parameters and a statement a pooled connection has run twice is prepared, so
    # PostgreSQL plans it once per connection instead of on every request, task and event write
    # (half of its CPU per run in bench/executor_overhead.py). Django turns preparing off by default
    # for transaction-mode poolers; behind one, set DATABASE_PREPARE_THRESHOLD=off.
    prepare_threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="2").strip().lower()
    if prepare_threshold != "off" and not prepare_threshold.isdigit():
        raise ImproperlyConfigured(
            f"DATABASE_PREPARE_THRESHOLD must be a whole number or 'off', not {prepare_threshold!r}."
        )
    options["server_side_binding"] = True
    options["prepare_threshold"] = None if prepare_threshold == "off" else int(prepare_threshold)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": Path(env.str("ASPORA_SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3"))),
            # IMMEDIATE transactions and WAL: a run's writer thread and its readers never
            # fail with "database is locked" on the embedded default.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
            # A file, not shared-cache memory: tools run in their own threads, and shared-cache
            # table locks fail at once instead of waiting. One per process: suites may run side by side.
            "TEST": {"NAME": str(Path(tempfile.gettempdir()) / f"aspora-test-{os.getpid()}.sqlite3")},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username before any password is checked (docs/identity.md).
    "identity.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
    # Single sign-on through OpenID Connect; inert unless configured below (docs/identity.md).
    "identity.oidc.SsoBackend",
]
# Object permissions are granted to teams and people, never to an anonymous visitor.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Identity (docs/identity.md). Single sign-on through OpenID Connect: on when a client id and
# secret are set with either the issuer (endpoints from its discovery document) or all four endpoints.
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="SSO")
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email profile")
OIDC_USE_PKCE = env.bool("OIDC_USE_PKCE", default=True)
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT", default=10)
OIDC_VERIFY_SSL = True
OIDC_LEEWAY_SECONDS = env.int("OIDC_LEEWAY_SECONDS", default=60)
# Which claims name the person and carry the groups that SSO group rules (admin) map to teams and roles.
ASPORA_OIDC_USERNAME_CLAIM = env.str("ASPORA_OIDC_USERNAME_CLAIM", default="preferred_username")
ASPORA_OIDC_GROUPS_CLAIM = env.str("ASPORA_OIDC_GROUPS_CLAIM", default="groups")
# Login lockout (django-axes): this many failed passwords for one username from one address lock
# that pair out for the cool-off; SSO callbacks and API tokens are neither counted nor refused.
AXES_ENABLED = env.bool("ASPORA_LOGIN_LOCKOUT", default=True)
AXES_FAILURE_LIMIT = env.int("ASPORA_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ASPORA_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
AXES_WHITELIST_CALLABLE = "identity.lockout.not_a_password_attempt"
AXES_LOCKOUT_CALLABLE = "identity.lockout.lockout_response"
# Websockets re-check their session this often (seconds; 0: only on each incoming message) and
# close with 4440 once it was signed out, the account deactivated or the password changed.
ASPORA_WS_SESSION_RECHECK_SECONDS = env.float("ASPORA_WS_SESSION_RECHECK_SECONDS", default=30.0)
# A followed run that is quiet this long is re-read from its stored events: the channel layer may
# have lost its last event, which no later `seq` would reveal (bridges/consumers.py). 0: never.
ASPORA_WS_RUN_RESYNC_SECONDS = env.float("ASPORA_WS_RUN_RESYNC_SECONDS", default=2.0)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))) if PRODUCTION else None
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
    # Offline audit segments (docs/audit.md#archive); point this at another backend to move them off the host.
    "audit_archive": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(Path(env.str("ASPORA_AUDIT_ARCHIVE_DIR", default=str(BASE_DIR / "var" / "audit-archive"))))
        },
    },
}

# Realtime: one process in the embedded default, Redis across processes in production.
if PRODUCTION:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py's default 5 s read timeout equals channels_redis's blocking wait: under load the
            # timeout fired first and dropped idle websockets (close 1011). Give the wait room.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}], "prefix": "aspora"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery: eager in-process on the embedded default, so a run started from a websocket
# still streams back in the same server; a Redis broker in production.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not PRODUCTION
CELERY_TASK_EAGER_PROPAGATES = not PRODUCTION
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
# A task not acknowledged within this window is redelivered: sized above the longest run.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queueing a run rides out a broker restart of a few seconds (0 + 0.5 + 1 + 1.5 + 2 s) instead of
# failing the request after a committed run that then waits for nobody (docs/drills.md).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 5, "interval_start": 0, "interval_step": 0.5, "interval_max": 2}
# Celery's Django fixup closes every connection around each task and, in a prefork child, the whole
# connection pool with them (celery/celery#10554): every run paid for a new PostgreSQL backend.
# With a reuse count it leaves the pool alone and only recycles it every this many tasks, while
# aspora/celery.py hands connections back to the pool around each task, as Django does per request.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# Workers log through LOGGING below (JSON with trace ids in production), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The run sweeper: a `running` run with no activity for its skill's time limit plus this grace, or a
# `pending` one older than the timeout, is failed with a message saying why (skills_runs_sweep).
ASPORA_RUN_SWEEP_GRACE = env.int("ASPORA_RUN_SWEEP_GRACE", default=60)
ASPORA_RUN_PENDING_TIMEOUT = env.int("ASPORA_RUN_PENDING_TIMEOUT", default=900)
# Periodic tasks (run `celery -A aspora beat`): the retention purge, nightly (docs/audit.md#retention).
CELERY_BEAT_SCHEDULE = {
    "audit-retention-purge": {"task": "audit.retention_purge", "schedule": 24 * 60 * 60},
    # Audit rows past the online months move to offline segments (docs/audit.md#archive).
    "audit-archive": {"task": "audit.archive", "schedule": 24 * 60 * 60},
    # Runs no worker will finish (a lost worker, a lost queued task) fail clearly (docs/drills.md).
    "skills-runs-sweep": {
        "task": "skills.skill_runs_sweep",
        "schedule": env.float("ASPORA_RUN_SWEEP_SECONDS", default=60),
    },
    # Run transcripts past their domain's retention (docs/security.md#retention).
    "skills-transcripts-purge": {"task": "skills.transcripts_purge", "schedule": 24 * 60 * 60},
}

# Retention (docs/audit.md#retention): the floors are FATF R.11's 5 years after closure for alerts and
# cases, 12 months of audit with the last 3 online; values here and per jurisdiction may only raise them.
ASPORA_RETENTION = {
    "default": {"case_years": 5, "audit_months": 12, "audit_online_months": 3},
    # e.g. "jurisdictions": {"AE": {"case_years": 8}}, "tenants": {"acme": "AE"}
    "jurisdictions": {},
    "tenants": {},
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Logs (docs/observability.md): one JSON object a line with the active trace and span ids (the
# production default: what a log pipeline reads), or plain lines (embedded, for a person at a console).
ASPORA_LOG_FORMAT = env.str("ASPORA_LOG_FORMAT", default="json" if PRODUCTION else "text")
if ASPORA_LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"ASPORA_LOG_FORMAT must be 'json' or 'text', not {ASPORA_LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "aspora.observability.logs.JsonFormatter"},
    },
    # PII is redacted on every handler, before the trace ids are added (docs/security.md#pii-redaction).
    "filters": {
        "redact": {"()": "aspora.redaction.RedactingFilter"},
        "trace": {"()": "aspora.observability.logs.TraceContextFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if ASPORA_LOG_FORMAT == "json" else "plain",
            "filters": ["redact", "trace"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own handlers (a second console, admin emails, runserver's request lines) would
        # write unredacted: its loggers go through the console handler like every other.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # One line per model request adds nothing to a run's own record.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        # In-process (eager) task logs would interleave with answers on the embedded default.
        "celery.app.trace": {"level": "INFO" if PRODUCTION else "WARNING"},
    },
}

ASPORA_MODE = "production" if PRODUCTION else "embedded"

# Observability (docs/observability.md). A Prometheus scraper sends this as a bearer token to
# /metrics; staff may also read it signed in. Empty: only staff sessions.
ASPORA_METRICS_TOKEN = env.str("ASPORA_METRICS_TOKEN", default="")
# Traces go over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT when it is set, nowhere otherwise; prompts,
# answers and tool arguments are put on spans only when this is true.
ASPORA_TRACE_CONTENT = env.bool("ASPORA_TRACE_CONTENT", default=False)

# Skills Executor.
ASPORA_DOMAINS_DIR = Path(env.str("ASPORA_DOMAINS_DIR", default=str(BASE_DIR / "domains")))
# Watch the packs and import edits as they happen (on for `make run`; `manage.py watch_domains` elsewhere).
ASPORA_WATCH_DOMAINS = env.bool("ASPORA_WATCH_DOMAINS", default=False)
# Model used by skills that name none; a skill's model without its provider's key runs offline.
ASPORA_DEFAULT_MODEL = env.str("ASPORA_DEFAULT_MODEL", default="anthropic:claude-haiku-4-5")
# Force one model for every skill (e.g. a local OpenAI-compatible server), and an optional fallback.
ASPORA_MODEL = env.str("ASPORA_MODEL", default="")
ASPORA_FALLBACK_MODEL = env.str("ASPORA_FALLBACK_MODEL", default="")
# Retries of a model request that failed with a timeout or a 5xx before the run fails.
ASPORA_MODEL_RETRIES = env.int("ASPORA_MODEL_RETRIES", default=2)
ASPORA_MODEL_RETRY_BACKOFF = env.float("ASPORA_MODEL_RETRY_BACKOFF", default=1.0)

# Money and limits (docs/usage.md). The cache holds rate-limit windows: Redis in production, so
# every process counts the same asks; process memory on the embedded default.
if PRODUCTION:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
# Asks per person per minute on each front door; 0 turns a door's limit off. `manage.py ask` is not limited.
ASPORA_RATE_LIMIT_PER_MINUTE = env.int("ASPORA_RATE_LIMIT_PER_MINUTE", default=20)
ASPORA_RATE_LIMITS = {
    channel: env.int(f"ASPORA_RATE_LIMIT_PER_MINUTE_{channel.upper()}", default=ASPORA_RATE_LIMIT_PER_MINUTE)
    for channel in ("web", "api", "slack", "whatsapp")
}
# Data governance (docs/security.md): hosts a final answer may link to besides ALLOWED_HOSTS, and
# how long transcripts of runs without a domain (refused before a skill was chosen) are kept.
ASPORA_LINK_ALLOW_HOSTS = env.list("ASPORA_LINK_ALLOW_HOSTS", default=[])
ASPORA_TRANSCRIPT_RETENTION_DAYS = env.int("ASPORA_TRANSCRIPT_RETENTION_DAYS", default=90)

# Code Factory.
# Where target repositories, run worktrees and deployed products live.
ASPORA_FACTORY_DIR = Path(env.str("ASPORA_FACTORY_DIR", default=str(BASE_DIR / "var" / "factory")))
# How pipeline stages run: Celery tasks (production), a background thread (embedded), or inline (tests).
ASPORA_FACTORY_DISPATCH = env.str("ASPORA_FACTORY_DISPATCH", default="celery" if PRODUCTION else "thread")
# Bounds of the review → remediation loop, and of one run's test stage.
ASPORA_FACTORY_MAX_ITERATIONS = env.int("ASPORA_FACTORY_MAX_ITERATIONS", default=3)
ASPORA_FACTORY_MAX_SECONDS = env.int("ASPORA_FACTORY_MAX_SECONDS", default=900)
ASPORA_FACTORY_TEST_TIMEOUT = env.int("ASPORA_FACTORY_TEST_TIMEOUT", default=300)
# A deployment webhook for real pipelines (signed with the secret), used instead of local products.
ASPORA_FACTORY_DEPLOY_WEBHOOK = env.str("ASPORA_FACTORY_DEPLOY_WEBHOOK", default="")
ASPORA_FACTORY_WEBHOOK_SECRET = env.str("ASPORA_FACTORY_WEBHOOK_SECRET", default="")
# The factory's model for the coding agent, LLM review and remediation (else ASPORA_MODEL; none: offline).
ASPORA_FACTORY_MODEL = env.str("ASPORA_FACTORY_MODEL", default="")
ASPORA_FACTORY_REVIEW_MAX_CHARS = env.int("ASPORA_FACTORY_REVIEW_MAX_CHARS", default=60_000)
ASPORA_FACTORY_REVIEW_MAX_TOKENS = env.int("ASPORA_FACTORY_REVIEW_MAX_TOKENS", default=60_000)
ASPORA_FACTORY_REMEDIATE_MAX_TOKENS = env.int("ASPORA_FACTORY_REMEDIATE_MAX_TOKENS", default=100_000)
# Active users over 30 days past which a domain is proposed for graduation into a product.
ASPORA_GRADUATION_THRESHOLD = env.int("ASPORA_GRADUATION_THRESHOLD", default=100)
