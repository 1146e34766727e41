"""Settings for the child processes of the chaos tests: connector.settings plus two test knobs.

CHAOS_QUEUE names the django-q2 queue (``cluster_name``), so parallel runs on one Redis never take
each other's tasks; the signing prefix (``name``) stays the product's, so tasks the test process
queues decrypt. CHAOS_EXPENSIFY_RATES ("5/1,20/6") scales Expensify's rate limits the way the
simulator's --rates does: connector.settings has no environment variable for them.
"""

import os

from connector.settings import *  # noqa: F403
from connector.settings import Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "cluster_name": os.environ.get("CHAOS_QUEUE", "ml-connector")}
if os.environ.get("CHAOS_EXPENSIFY_RATES"):
    EXPENSIFY_RATE_RULES = [
        (int(n), float(w)) for n, w in (r.split("/") for r in os.environ["CHAOS_EXPENSIFY_RATES"].split(","))
    ]
    EXPENSIFY_RATE_MARGIN = float(os.environ.get("CHAOS_EXPENSIFY_MARGIN", "0.05"))
