"""gunicorn for the ml-connector admin: `gunicorn -c deploy/gunicorn.conf.py` (deploy/systemd runs it).

Every value can be changed from the environment file; the defaults suit one host behind
deploy/nginx/ml-connector.conf. `kill -HUP <master pid>` (systemctl reload) starts new workers on
the new code and lets the old ones finish their requests.
"""

from __future__ import annotations

import os


def cores() -> int:
    """Cores this process may run on (a cgroup or taskset may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def env_int(name: str, default: int) -> int:
    """A whole number from the environment, or the default when unset or blank."""
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


wsgi_app = "connector.wsgi:application"
bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",") if b.strip()]
# The admin is the only web traffic: 2 per core + 1 (gunicorn's rule), capped; background work is qcluster's.
workers = env_int("GUNICORN_WORKERS", min(2 * cores() + 1, 9))
worker_class = "sync"
# A 5 MB mapping spreadsheet import is the slowest request; the proxy waits a little longer (75 s).
timeout = env_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Recycle workers now and then so a slow leak never grows; jitter keeps them from restarting together.
max_requests = 1000
max_requests_jitter = 100
# Trust X-Forwarded-* only from the proxy on this host (Django reads the scheme via SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "ml-connector-web"
# systemd (reload = SIGHUP) is the control interface; gunicorn's socket would land in the user's home.
control_socket_disable = True
