"""A runnable Sage 100 simulator serving the agent API (/v1/...) and the SOAP service.

In tests: ``sim = SageSimulator().start()`` (127.0.0.1, a free port), ``sim.base_url``,
``sim.soap_url``, ``sim.book`` (the state), ``sim.stop()``. As a process:
``python -m simulators.sage100 --port 8100 --demo``.

Controls (POST, JSON): ``/_sim/reset``; ``/_sim/config`` (a whole configuration, see
``demo.demo()``); ``/_sim/faults`` with any of
``{"faults": [{"fault": NAME, "ops": "post"|"read"|"all", "times": 1 (null = for ever),
"company": "ABC", "retryAfter": 2, "latency": 0.5, "html": false}], "lockStorm": {"fraction":
0.3, "seed": 1}, "writeLatency": 0.05, "maxConcurrentWrites": {"ABC": 1}}``. Fault names:
``record_locked``, ``unavailable``, ``auth``, ``timeout_before`` (504, nothing written),
``timeout_after`` (written, then 504), ``drop_after`` (written, then the connection closes),
``slow`` (latency only), ``dtd`` (SOAP: a DTD-carrying answer); ``html`` answers an IIS-style
page instead of the contract's error. A proxy's answer: ``answer`` (before anything ran) and
``answer_after`` (after the operation ran, a post committed) with ``"status": 502`` and
``"body": "html"|"empty"|"text"|"json"|"cut"`` (``json`` carries ``"code"``, default
``NOT_FOUND``; ``cut`` promises more bytes than it sends). Answers shaped after the operation
ran: ``trickle`` (``chunk`` bytes every ``every`` s, or pieces sized to last ``duration`` s;
cut off after ``seconds``) and ``huge`` (``size`` bytes, ``"length": false`` for no
Content-Length, at most ``seconds`` of writing). A post counts as in flight until its answer
has been written. GET ``/_sim/stats`` gives ``maxInFlight``, ``inFlight``,
``overLimit``, ``entries``, ``referenceCounts``, ``counts`` and ``hugeSent`` (bytes each huge
answer got out); GET ``/_sim/entries/<CODE>``. The agent also answers
``/v1/gl/journal-entries/search`` (paged by ``pageSize``) and SOAP ``SearchGLJournalEntries``.
"""

from simulators.sage100.server import SOAP_PATH, SageSimulator

__all__ = ["SOAP_PATH", "SageSimulator"]
