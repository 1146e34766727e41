"""The Windows service wrapper (pywin32): Windows only, imported only by `service ...` commands."""

from __future__ import annotations

import os
import sys
import threading

import servicemanager  # type: ignore[import-not-found]
import win32service  # type: ignore[import-not-found]
import win32serviceutil  # type: ignore[import-not-found]

from mlc_agent import config as config_module
from mlc_agent import logs
from mlc_agent.server import serve

SERVICE_NAME = "MlcSageAgent"
CONFIG_ENV = "MLC_AGENT_CONFIG"


class AgentService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
    """Runs `serve` until the service manager says stop."""

    _svc_name_ = SERVICE_NAME
    _svc_display_name_ = "ml-connector Sage 100 agent"
    _svc_description_ = "Posts Expensify journal entries into Sage 100 through BOI for ml-connector."

    def __init__(self, args: list[str]) -> None:
        super().__init__(args)
        self._stop = threading.Event()

    def SvcStop(self) -> None:
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
        self._stop.set()

    def SvcDoRun(self) -> None:
        try:
            path = win32serviceutil.GetServiceCustomOption(SERVICE_NAME, "config") or os.environ.get(
                CONFIG_ENV
            )
            config = config_module.load(path or "agent.toml")
            logs.setup(config.log_path)
            serve(config, stop=self._stop)
        except Exception as exc:
            logs.event_log(f"mlc-agent failed: {type(exc).__name__}: {exc}", error=True)
            raise


def command(action: str, config_path: str) -> int:
    """install | start | stop | remove; install sets automatic start and restart on failure."""
    if action == "install":
        python = sys.executable
        win32serviceutil.InstallService(
            f"{AgentService.__module__}.{AgentService.__name__}",
            SERVICE_NAME,
            AgentService._svc_display_name_,
            startType=win32service.SERVICE_AUTO_START,
            description=AgentService._svc_description_,
            exeName=python,
        )
        win32serviceutil.SetServiceCustomOption(SERVICE_NAME, "config", os.path.abspath(config_path))
        # Restart after 5 s, 5 s, then 60 s on failure (sc failure), counter reset daily.
        os.system(  # noqa: S605 - fixed command, no user input
            f"sc failure {SERVICE_NAME} reset= 86400 actions= restart/5000/restart/5000/restart/60000"
        )
    elif action == "start":
        win32serviceutil.StartService(SERVICE_NAME)
    elif action == "stop":
        win32serviceutil.StopService(SERVICE_NAME)
    elif action == "remove":
        win32serviceutil.RemoveService(SERVICE_NAME)
    else:
        raise ValueError(action)
    servicemanager.LogInfoMsg(f"{SERVICE_NAME}: {action} done")
    return 0
