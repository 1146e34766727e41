"""The partner secret never reaches a log record, an error message or an error repr."""

from __future__ import annotations

import logging
import traceback

import pytest

from connector.expensify import ExpensifyError
from tests.expensify.conftest import PARTNER_ID, SECRET, report, sim_control


def test_debug_logs_and_errors_never_carry_the_secret(sim, make_client, caplog):
    caplog.set_level(logging.DEBUG)  # root: httpx, httpcore, tenacity, ours
    for name in ("httpx", "httpcore", "connector.expensify", "tenacity"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    sim_control(sim, "/_sim/load", {"reports": [report("R1")]})
    sim_control(sim, "/_sim/faults", {"next": [
        {"kind": "503"},
        {"kind": "429", "retry_after": 0.05},
        {"kind": "drop"},
        {"kind": "json_error", "code": 500, "message": f"Internal error for {SECRET}"},
    ]})
    client = make_client()
    errors: list[ExpensifyError] = []
    assert [r.report_id for r in client.export_reports(label="L", policy_ids=["POL1"],
                                                                 report_ids=["R1"])] == ["R1"]
    client.mark_exported(["R1"], label="L")
    # Answers that echo the secret back must not carry it into our messages.
    sim_control(sim, "/_sim/faults", {"next": [
        {"kind": "garbage", "body": f"<html>secret={SECRET}</html>"},
        {"kind": "json_error", "code": 410, "message": f"Bad value {SECRET}"},
    ]})
    for _ in range(2):
        with pytest.raises(ExpensifyError) as caught:
            client.list_policies()
        errors.append(caught.value)
    bad = make_client(partner_user_secret=SECRET + "-wrong")
    with pytest.raises(ExpensifyError) as caught:
        bad.list_policies()
    errors.append(caught.value)
    logging.getLogger("test").exception("while handling", exc_info=errors[0])
    assert any(r.name.startswith("httpcore") for r in caplog.records), "httpcore DEBUG was captured"
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    for error in errors:
        assert SECRET not in str(error) and SECRET not in repr(error)
        assert SECRET not in "".join(traceback.format_exception(error))
    assert PARTNER_ID in str(errors[-1])
