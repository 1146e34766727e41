"""Django settings for ml-connector, read from the environment (see README: Configuration)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from connector.env import envbool, envint, envlist, envstr, load_dotenv, required
from connector.logs import register_secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
load_dotenv(BASE_DIR / ".env")

DEBUG = envbool("DEBUG", False)

# Only for local use; a production start without SECRET_KEY stops with a clear sentence.
SECRET_KEY = required("SECRET_KEY", debug=DEBUG, local_default="local-dev-only-not-secret")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

# Behind a TLS proxy (deploy/nginx/ml-connector.conf): the header that proxy sets to "https".
_PROXY_SSL_HEADER = envstr("SECURE_PROXY_SSL_HEADER", "").strip()
if _PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
# Load balancers and monitors may probe the health page over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG)

# First key encrypts, every key decrypts (rotation: put the new key first, run rotate_encryption_key).
_LOCAL_FERNET_KEY = "bG9jYWwtZGV2LW9ubHkta2V5LW5vdC1zZWNyZXQhISE="
FIELD_ENCRYPTION_KEY = envlist(
    "FIELD_ENCRYPTION_KEY",
    [],
) or ([_LOCAL_FERNET_KEY] if DEBUG else [])
if not FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY is not set: set the environment variable FIELD_ENCRYPTION_KEY "
        "to one or more comma-separated Fernet keys (required when DEBUG is off)."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "encrypted_model_fields",
    "import_export",
    "django_q",
    "connector",
    "mappings",
    "sync",
    "audit",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "connector.urls"

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
        },
    },
]

WSGI_APPLICATION = "connector.wsgi.application"

DATABASE_URL = envstr("DATABASE_URL", "")
if not DATABASE_URL:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DATABASE_URL is not set: set the environment variable DATABASE_URL "
            "(e.g. postgres://user@host:5432/db; required when DEBUG is off)."
        )
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (runserver, qcluster, commands) share one SQLite file.
    DATABASES["default"].setdefault("OPTIONS", {})
    # WAL: readers (the admin) never wait for the writer (a sync run); one flush per commit is cheaper.
    DATABASES["default"]["OPTIONS"].update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

REDIS_URL = envstr("REDIS_URL", "")
# Every coordination key in Redis (run leases, write slots, pacing) starts with this: two
# installations, or two test workers, sharing one Redis never hold each other's leases.
COORDINATION_PREFIX = envstr("COORDINATION_PREFIX", "ml-connector:")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-q2: a task is never handed out again while it still runs (timeout < retry), and is
# tried once; the engine itself is idempotent and the next scheduled run continues the work.
Q_TIMEOUT = envint("Q_TIMEOUT", 1800)
Q_CLUSTER: dict[str, object] = {
    "name": "ml-connector",
    "workers": envint("Q_WORKERS", 2),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 120,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("STATIC_ROOT", "") or VAR_DIR / "static")
# Production: whitenoise serves compressed files under hashed names (collectstatic writes them);
# local use and tests keep Django's plain storage, which needs no collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Locally whitenoise reads files as they change; in production once, at start.
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND", f"django.core.mail.backends.{'console' if DEBUG else 'smtp'}.EmailBackend"
)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "")
register_secret(EMAIL_HOST_PASSWORD)
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "ml-connector@localhost")
SERVER_EMAIL = envstr("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: set at most one of them.")

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
# Spreadsheets over this size are refused before they are read.
MAPPING_IMPORT_MAX_BYTES = envint("MAPPING_IMPORT_MAX_BYTES", 5 * 1024 * 1024)

LOG_LEVEL = envstr("LOG_LEVEL", "INFO")
LOG_FORMAT = envstr("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "connector.logs.RedactSecretsFilter"},
        "forbidden": {"()": "connector.logs.ForbiddenWithoutTraceback"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "connector.ops.logformat.JsonLinesFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django_q": {"level": envstr("Q_LOG_LEVEL", "INFO"), "propagate": True},
        # One line per HTTP request is noise at INFO; LOG_LEVEL=DEBUG still shows them.
        "httpx": {"level": envstr("HTTPX_LOG_LEVEL", "WARNING"), "propagate": True},
        "django.request": {"filters": ["forbidden"], "propagate": True},
    },
}

# Sage 100: the largest answer read from the agent or SOAP service; over it reading stops.
SAGE_MAX_ANSWER_BYTES = envint("SAGE_MAX_ANSWER_BYTES", 10 * 1024 * 1024)

# Largest answer body read from Expensify, in bytes: beyond it a call fails naming this setting.
EXPENSIFY_MAX_ANSWER_BYTES = envint("EXPENSIFY_MAX_ANSWER_BYTES", 50 * 1024 * 1024)

# Where the admin is reached, for links in emails (e.g. https://connector.example.com); blank:
# the first CSRF trusted origin or allowed host.
ADMIN_BASE_URL = envstr("ADMIN_BASE_URL", "").rstrip("/")
