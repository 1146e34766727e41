"""A runnable Sage 100 simulator serving the agent API and the SOAP service (see README)."""

from simulators.sage100.server import SOAP_PATH, SageSimulator

__all__ = ["SOAP_PATH", "SageSimulator"]
