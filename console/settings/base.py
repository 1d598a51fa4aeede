"""Every setting, read from the environment (12-factor).

Environments differ only by environment variables; `test.py` changes speed knobs only.
Defaults are safe for a local demo: SQLite, a filesystem broker and the provider simulator.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from console.settings.environment import env, env_bool, env_secret

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


# --- Core -----------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    SECRET_KEY = "insecure-development-only-key"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "console",
    "provisioning",
    "routing",
    "messaging",
    "messaging.webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "console.middleware.ContentSecurityPolicyMiddleware",
    # Serves STATIC_ROOT (after collectstatic) when DEBUG is off; inside the CSP middleware
    # so static answers carry the same policy and security headers as pages.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "console.middleware.ApiJsonNotFoundMiddleware",
    "console.middleware.ApiServerErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "console.middleware.SessionIdleRefreshMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: turns a locked login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"
# The agent API never redirects: the SDK does not follow redirects.
APPEND_SLASH = False

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
            ],
            # The staff UI's filters; console.ui is a plain package, not an app.
            "libraries": {"console_tags": "console.ui.console_tags"},
            # Loaded in every template: `when` is how every page shows a time.
            "builtins": ["console.ui.console_tags"],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'bluewire.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# PostgreSQL binds parameters on the server and plans a statement once per connection
# after its fifth run (psycopg's prepared statements): planning was half of the database's
# time per request for the hot paths. Turn it off behind a pooler in transaction mode
# (PgBouncer before 1.21), which cannot keep a session's prepared statements.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "DATABASE_PREPARED_STATEMENTS", True
):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": 5}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Each web process listens for changes to the rows that authenticate requests (one more
# connection per process, `console.db.change_feed`), so it may remember them for longer
# than a second. Off: every process reads them again after a second. PostgreSQL only.
CREDENTIAL_CHANGE_FEED = env_bool("CREDENTIAL_CHANGE_FEED", True)

# --- Auth, sessions, security ---------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"

# Login throttling (django-axes) for the console and the admin alike: this many failures
# for one username, or from one address, within the lockout time lock it for that long.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
LOGIN_TRUST_X_FORWARDED_FOR = env_bool("LOGIN_TRUST_X_FORWARDED_FOR", False)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "console.login_throttle.client_ip"
AXES_LOCKOUT_CALLABLE = "console.login_throttle.lockout_response"
# Console sessions end after this long without a request; the next one logs in again and
# comes back (`next=`) to the page it asked for.
CONSOLE_IDLE_TIMEOUT_MINUTES = env.int("CONSOLE_IDLE_TIMEOUT_MINUTES", default=15)
SESSION_COOKIE_AGE = CONSOLE_IDLE_TIMEOUT_MINUTES * 60
# The most rows one console CSV export holds; the audit entry says when a file was cut.
CONSOLE_EXPORT_ROW_LIMIT = env.int("CONSOLE_EXPORT_ROW_LIMIT", default=10_000)
LOGOUT_REDIRECT_URL = "/console/login/"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Fernet keys for secrets at rest: comma-separated, newest first (it encrypts, all decrypt).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- I18N -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Gzip copies next to each file at collectstatic time; names stay unhashed so templates
    # render without a manifest (tests run with DEBUG off and no collectstatic).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
# Largest request body the server parses; media uploads have their own cap.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
MEDIA_MAX_BYTES = env.int("MEDIA_MAX_BYTES", default=10 * 1024 * 1024)
# Inbound media re-hosted from the provider CDN (iMessage allows large attachments).
INBOUND_MEDIA_MAX_BYTES = env.int("INBOUND_MEDIA_MAX_BYTES", default=100 * 1024 * 1024)
# Media URLs are signed and expire: agents' (API responses, webhooks) and the provider's
# (outbound media it fetches, possibly after send retries).
MEDIA_URL_TTL_SECONDS = env.int("MEDIA_URL_TTL_SECONDS", default=3600)
MEDIA_PROVIDER_URL_TTL_SECONDS = env.int("MEDIA_PROVIDER_URL_TTL_SECONDS", default=86400)

# --- Cache ----------------------------------------------------------------
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- Celery ---------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")


def broker_transport_for(url: str) -> str | None:
    """kombu's Redis transport with a reconnect fix (console/broker.py); None elsewhere."""
    return (
        "console.broker:Transport"
        if url.split("://", 1)[0].lower() in ("redis", "rediss")
        else None
    )


CELERY_BROKER_TRANSPORT = broker_transport_for(CELERY_BROKER_URL)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("TASK_SOFT_TIME_LIMIT_SECONDS", default=60)
CELERY_TASK_TIME_LIMIT = env.int("TASK_TIME_LIMIT_SECONDS", default=90)
CELERY_TASK_IGNORE_RESULT = True
# Workers and beat reconnect for as long as the broker is away, backing off 2 s, 4 s, ...
# up to 30 s between attempts: a Redis restart must never end them. (Celery reads
# broker_connection_max_retries only for the worker's, beat's and `--purge`'s own
# connections; publishing never looks at it.)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Publishing from a request fails fast when the broker is down (one attempt, about two
# seconds to give up): the rows are already committed and the outbox sweep publishes them.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
SWEEP_INTERVAL_SECONDS = env.int("SWEEP_INTERVAL_SECONDS", default=30)
# Periodic jobs (`celery -A console beat`): every outbox sweep is scheduled here, and only here.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "webhooks-delivery-sweep": {
        "task": "webhooks.delivery_sweep",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
    },
    "messaging-send-sweep": {
        "task": "messaging.message_send_sweep",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
    },
    "routing-reply-sweep": {
        "task": "routing.router_reply_sweep",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
    },
    # Redacts messages past each organisation's retention window (03:15 UTC).
    "messaging-retention-run": {
        "task": "messaging.retention_run",
        "schedule": crontab(hour=3, minute=15),
    },
    # Deletes expired record exports and re-publishes builds lost with the broker.
    "messaging-person-exports-sweep": {
        "task": "messaging.person_exports_sweep",
        "schedule": 600.0,
    },
    # Scheduled and held sends go out within a minute of their time.
    "messaging-scheduled-sends": {
        "task": "messaging.scheduled_due_publish",
        "schedule": float(env.int("SCHEDULED_SEND_INTERVAL_SECONDS", default=30)),
    },
    # Hands idle staff takeovers back (organisations with handoff_idle_minutes set).
    "messaging-handoff-idle-sweep": {
        "task": "messaging.handoff_idle_sweep",
        "schedule": 60.0,
    },
    # Catches up on `line_assigned` webhooks the provider failed to deliver.
    "provisioning-reconcile-lines": {
        "task": "provisioning.setups_reconcile_all",
        "schedule": float(env.int("LINE_RECONCILE_INTERVAL_SECONDS", default=300)),
    },
}

# --- REST framework -------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["console.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["console.api.parsers.JsonParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "console.api.negotiation.RememberedContentNegotiation",
    "EXCEPTION_HANDLER": "console.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Bluewire API",
    "DESCRIPTION": "iMessage channel platform for AI agents (inkbox SDK 0.7.20 compatible).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {"ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    },
    "SECURITY": [{"ApiKeyAuth": []}],
    # One schema entry per route (api_path registers a slash twin) + the X-API-Key scheme.
    "PREPROCESSING_HOOKS": ["console.api.schema.drop_slash_duplicates"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "console.api.schema.document_common_errors",
    ],
    # Shared choice sets get one component name instead of one per field.
    "ENUM_NAME_OVERRIDES": {
        "FilterModeEnum": ["blacklist", "whitelist"],
        "AssignmentStatusEnum": ["active", "released"],
        "RuleStatusEnum": "routing.models.RuleStatus",
        "NumberStatusEnum": ["active", "paused"],
        "DeliveryAttemptStatusEnum": ["pending", "succeeded", "failed"],
        "SetupStatusEnum": "provisioning.models.SetupStatus",
    },
}

# --- Provider -------------------------------------------------------------
# "simulator" talks to `manage.py run_simulator`; "sendblue" to the real upstream.
PROVIDER_NAME = env.str("PROVIDER_NAME", default="simulator")
PROVIDER_BASE_URL = env.str("PROVIDER_BASE_URL", default="http://127.0.0.1:8001")
PROVIDER_AGENCY_KEY_ID = env_secret("PROVIDER_AGENCY_KEY_ID", default="sim-agency-key")
PROVIDER_AGENCY_SECRET = env_secret("PROVIDER_AGENCY_SECRET", default="sim-agency-secret")
PROVIDER_TIMEOUT_SECONDS = env.float("PROVIDER_TIMEOUT_SECONDS", default=10.0)
PROVIDER_MAX_RETRIES = env.int("PROVIDER_MAX_RETRIES", default=2)
PROVIDER_CHILD_ACCOUNT_PATH = env.str(
    "PROVIDER_CHILD_ACCOUNT_PATH", default="/accounts/lines/request-child-account"
)
PROVIDER_ADD_LINE_PATH = env.str("PROVIDER_ADD_LINE_PATH", default="/accounts/lines/add-line")
PROVIDER_PRIMARY_EMAIL_DOMAIN = env.str("PROVIDER_PRIMARY_EMAIL_DOMAIN", default="bluewire.test")
# Largest provider webhook body we accept; refused with 413 before it is read.
PROVIDER_WEBHOOK_MAX_BYTES = env.int("PROVIDER_WEBHOOK_MAX_BYTES", default=256 * 1024)
# Simulator knobs (only read by `run_simulator`).
SIMULATOR_ASSIGN_IMMEDIATELY = env_bool("SIMULATOR_ASSIGN_IMMEDIATELY", False)
SIMULATOR_ASSIGN_DELAY_SECONDS = env.float("SIMULATOR_ASSIGN_DELAY_SECONDS", default=0)
SIMULATOR_STATUS_DELAY_SECONDS = env.float("SIMULATOR_STATUS_DELAY_SECONDS", default=0.5)

# --- Product limits -------------------------------------------------------
SEND_CAP_PER_24H = env.int("SEND_CAP_PER_24H", default=100)
# The loop guard: agent sends into one conversation per 60 s without a reply from the person.
CONVERSATION_BURST_LIMIT = env.int("CONVERSATION_BURST_LIMIT", default=10)
MESSAGE_TEXT_MAX_CHARS = env.int("MESSAGE_TEXT_MAX_CHARS", default=10000)
# Retention for new organisations (operators change it per organisation): message text,
# media, tapback emoji and the copies of them in events are redacted after this many days;
# 0 keeps them forever. The nightly run works in batches of RETENTION_BATCH_SIZE rows.
MESSAGE_RETENTION_DAYS = env.int("MESSAGE_RETENTION_DAYS", default=0)
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=1000)
# How long a person's record export stays downloadable before its file is deleted.
PERSON_EXPORT_TTL_HOURS = env.int("PERSON_EXPORT_TTL_HOURS", default=24)
# Identity-key reads are tallied in memory and written this often per process (0: in the
# request). A process killed outright loses at most this many seconds of those counts.
ACCESS_TALLY_FLUSH_SECONDS = env.float("ACCESS_TALLY_FLUSH_SECONDS", default=5.0)
# With a Redis URL, each process's flush pushes its counts there instead, and beat writes
# the platform's counts every ACCESS_TALLY_DRAIN_SECONDS (`console/access_tally_queue.py`).
ACCESS_TALLY_REDIS_URL = env.str("ACCESS_TALLY_REDIS_URL", default="")
ACCESS_TALLY_DRAIN_SECONDS = env.float("ACCESS_TALLY_DRAIN_SECONDS", default=60.0)
if ACCESS_TALLY_REDIS_URL:
    CELERY_BEAT_SCHEDULE["console-access-tally-drain"] = {
        "task": "console.access_tally_drain",
        "schedule": ACCESS_TALLY_DRAIN_SECONDS,
    }
POOL_LINE_NEW_CONTACTS_PER_HOUR = env.int("POOL_LINE_NEW_CONTACTS_PER_HOUR", default=15)
POOL_LINE_NEW_CONTACTS_PER_DAY = env.int("POOL_LINE_NEW_CONTACTS_PER_DAY", default=50)
# How old a process's count of active connections per pool line may be when a connect
# picks the least loaded line (`routing.line_loads`); 0 counts on every connect.
POOL_LOAD_SNAPSHOT_SECONDS = env.float("POOL_LOAD_SNAPSHOT_SECONDS", default=1.0)
# The console marks a line still waiting for the provider after this long as overdue.
PENDING_LINE_OVERDUE_HOURS = env.int("PENDING_LINE_OVERDUE_HOURS", default=24)
# Dedicated lines an organisation may hold (claims beyond it answer 402).
DEDICATED_NUMBERS_PER_ORG = env.int("DEDICATED_NUMBERS_PER_ORG", default=5)
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=48)

# --- Message sends, agent webhooks and their retry policies ----------------
from console.settings.outbound import *  # noqa: E402, F403

# --- Outboxes (console/outbox.py) ------------------------------------------
# Outboxes whose jobs claim in batches (webhook deliveries) publish one drain job per burst
# instead of one job per row, coordinated through this Redis (console/outbox_wake.py): the
# broker's when the broker is Redis; empty turns it off. A drain job that never ran holds
# its token at most OUTBOX_WAKE_TTL_SECONDS (the sweeps stay the backstop).
OUTBOX_WAKE_REDIS_URL = env.str(
    "OUTBOX_WAKE_REDIS_URL", default=CELERY_BROKER_URL if CELERY_BROKER_TRANSPORT else ""
)
OUTBOX_WAKE_TTL_SECONDS = env.float("OUTBOX_WAKE_TTL_SECONDS", default=10.0)
# A commit hands its wake-up to the process's wake-up thread instead of waiting on Redis.
OUTBOX_WAKE_IN_BACKGROUND = env_bool("OUTBOX_WAKE_IN_BACKGROUND", True)
# How long the wake-up thread gathers asks into one round: the most a drain job starts
# later than without it.
OUTBOX_WAKE_LINGER_SECONDS = env.float("OUTBOX_WAKE_LINGER_SECONDS", default=0.02)
# Deployments that share one Redis keep their tokens apart by prefix.
OUTBOX_WAKE_KEY_PREFIX = env.str("OUTBOX_WAKE_KEY_PREFIX", default="bluewire:outbox-wake:")
# --- Benchmarks -----------------------------------------------------------
BENCH_ENDPOINTS_ENABLED = env_bool("BENCH_ENDPOINTS_ENABLED", False)

# --- Logging: ids, never patient message bodies --------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"scrub_query": {"()": "console.access_log.RunserverQueryFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # runserver's access log (`make run`): query-string values scrubbed.
        "django.server": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["scrub_query"],
        },
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
