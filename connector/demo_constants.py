"""The demo's shared names and (public, demo-only) credentials: the product's side of the demo.

The bundled simulators import these, so the demo company (`console/demo.py`) and the simulators
agree without the product importing the simulators.
"""

from __future__ import annotations

# Expensify
DEMO_PARTNER_USER_ID = "aa_demo_connector_acmefield_com"
DEMO_PARTNER_USER_SECRET = "demo-partner-secret-7Hq2"
DEMO_POLICY_ID = "F1E2D3C4B5A69788"
DEMO_POLICY_NAME = "Acme Field Services"
DEMO_LABEL = "ml-connector"

# Sage 100
DEMO_AGENT_API_KEY = "demo-agent-key-7Hq2"
DEMO_USERNAME = "connector"
DEMO_PASSWORD = "demo-sage-password-K3v9"
DEMO_READONLY_USERNAME = "viewer"
DEMO_READONLY_PASSWORD = "demo-viewer-password-P8s1"
