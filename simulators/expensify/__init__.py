"""Expensify Integration Server simulator (`python -m simulators.expensify --port N [--demo]`)."""

from simulators.expensify.demo import demo_data
from simulators.expensify.render import render_export
from simulators.expensify.server import API_PATH, ExpensifySimulator, SimulatorState

__all__ = ["API_PATH", "ExpensifySimulator", "SimulatorState", "demo_data", "render_export"]
