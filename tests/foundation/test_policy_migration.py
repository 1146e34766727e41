"""The data migration to CompanyPolicy rows survives two companies that already share a policy."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("connector", "0003_roles")]
AFTER = [("connector", "0004_company_policies")]


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_shared_policies_stay_with_the_first_company_and_are_warned_about() -> None:
    from django.core import checks

    migrate(BEFORE)
    try:
        old_apps = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        OldCompany = old_apps.get_model("connector", "Company")
        common = {"reimbursable_offset_account": "2100-00-000", "card_offset_account": "2150-00-000"}
        OldCompany.objects.create(code="AAA", name="First", expensify_policy_ids="POL1, POL2", **common)
        OldCompany.objects.create(code="BBB", name="Second", expensify_policy_ids="POL2,POL3", **common)
        OldCompany.objects.create(code="CCC", name="Third", expensify_policy_ids="", **common)
        output = io.StringIO()
        with redirect_stdout(output):
            migrate(AFTER)
    finally:
        # Every app back at its latest migration, as the rest of the suite expects.
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    from connector.models import Company

    companies = {c.code: c for c in Company.objects.all()}
    assert companies["AAA"].policy_ids == ["POL1", "POL2"]
    assert companies["BBB"].policy_ids == ["POL3"]
    assert companies["CCC"].policy_ids == []
    assert (companies["AAA"].legacy_policy_ids, companies["BBB"].legacy_policy_ids) == ("", "POL2,POL3")
    assert "Company BBB listed Expensify policy POL2, which company AAA also listed" in output.getvalue()
    warnings = [m for m in checks.run_checks() if m.id == "connector.W110"]
    assert [w.msg for w in warnings] == [
        "Company BBB (Second) listed Expensify policy POL2, which company AAA (First) also listed; "
        "the upgrade kept it for company AAA (First) only."]
