"""Runnable simulators of the outside systems (Expensify, Sage 100) for the demo and the tests."""
