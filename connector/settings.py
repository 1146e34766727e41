"""Django settings for ml-connector, read from the environment (see README: Configuration)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from connector.env import envbool, envint, envlist, envstr, load_dotenv, required

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
load_dotenv(BASE_DIR / ".env")

DEBUG = envbool("DEBUG", False)

# Only for local use; a production start without SECRET_KEY stops with a clear sentence.
SECRET_KEY = required("SECRET_KEY", debug=DEBUG, local_default="local-dev-only-not-secret")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
STATIC_ROOT = VAR_DIR / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
# Spreadsheets over this size are refused before they are read.
MAPPING_IMPORT_MAX_BYTES = envint("MAPPING_IMPORT_MAX_BYTES", 5 * 1024 * 1024)

LOG_LEVEL = envstr("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "connector.logs.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django_q": {"level": envstr("Q_LOG_LEVEL", "INFO"), "propagate": True},
        # One line per HTTP request is noise at INFO; LOG_LEVEL=DEBUG still shows them.
        "httpx": {"level": envstr("HTTPX_LOG_LEVEL", "WARNING"), "propagate": True},
    },
}
