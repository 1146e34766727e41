"""The HTTPS server: cheroot (pure-Python, threaded) with the standard library's ssl."""

from __future__ import annotations

import logging
import signal
import ssl
import threading
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from mlc_agent import logs
from mlc_agent.api import App
from mlc_agent.boi import load_provider
from mlc_agent.config import Config
from mlc_agent.service import Agent
from mlc_agent.store import Store

log = logging.getLogger("mlc_agent.server")


def build_agent(config: Config) -> Agent:
    """The agent for a configuration: BOI provider, store, pool."""
    provider = load_provider(config.sage_mode, fake_data=config.fake_data)
    provider.test_mode = config.test_mode
    return Agent(config, provider, Store(config.store_path))


def make_server(config: Config, agent: Agent) -> wsgi.Server:
    """A cheroot server on the configured address, TLS 1.2+ only (there is no plain-HTTP mode)."""
    server = wsgi.Server(
        (config.listen_host, config.listen_port),
        App(agent),
        numthreads=16,
        server_name="mlc-agent",
        timeout=max(30, int(config.boi_timeout) + 30),
        shutdown_timeout=5,
    )
    adapter = BuiltinSSLAdapter(str(config.cert), str(config.key))
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    server.ssl_adapter = adapter
    return server


def serve(
    config: Config, *, ready: threading.Event | None = None, stop: threading.Event | None = None
) -> None:
    """Serve until SIGTERM/SIGINT (foreground) or until `stop` is set (the Windows service)."""
    agent = build_agent(config)
    server = make_server(config, agent)
    server.prepare()
    host, port = server.bind_addr[:2]
    logs.event_log(f"mlc-agent listening on https://{host}:{port} (BOI mode {config.sage_mode})")
    print(f"mlc-agent listening on https://{host}:{port}", flush=True)

    def shutdown(*_: Any) -> None:
        threading.Thread(target=server.stop, daemon=True).start()

    if stop is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
    if stop is not None:

        def watch() -> None:
            stop.wait()
            server.stop()

        threading.Thread(target=watch, daemon=True).start()
    if ready is not None:
        ready.set()
    try:
        server.serve()
    finally:
        agent.close()
        logs.event_log("mlc-agent stopped")
