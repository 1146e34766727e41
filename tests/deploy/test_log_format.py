"""LOG_FORMAT=json: one JSON object per line, with secrets blanked like the plain format."""

from __future__ import annotations

import io
import json
import logging

from connector.logs import RedactSecretsFilter, register_secret
from connector.ops.logformat import JsonLinesFormatter


def test_json_lines_carry_the_record_and_never_a_secret() -> None:
    register_secret("json-log-secret-Hb8")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("tests.deploy.jsonlog")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s refused", "json-log-secret-Hb8")
        try:
            raise ValueError("bad json-log-secret-Hb8")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "tests.deploy.jsonlog"
    assert first["message"] == "token ******** refused"
    assert "ValueError" in second["traceback"]
    assert "json-log-secret-Hb8" not in stream.getvalue()
