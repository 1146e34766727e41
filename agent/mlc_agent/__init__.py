"""The ml-connector Sage 100 agent: the agent contract (HTTP JSON over TLS) on top of BOI."""

__version__ = "1.0.0"
