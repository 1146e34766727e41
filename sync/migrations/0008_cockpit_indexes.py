"""Indexes for the operator's pages (issue 12): the dashboard's posted totals and last runs, and
partial search on reports and expenses (trigram indexes, PostgreSQL only).

Raw SQL so the model state is unchanged: the partial and expression indexes are for reading only.
"""

from django.db import migrations

BOTH = [
    (
        "sync_entry_posted_at",
        "CREATE INDEX IF NOT EXISTS sync_entry_posted_at ON sync_journalentry (company_id, posted_at) "
        "WHERE state = 'posted'",
    ),
    ("sync_run_company_started", "CREATE INDEX IF NOT EXISTS sync_run_company_started ON sync_syncrun (company_id, started_at)"),
]
TRIGRAM = [
    ("sync_report_id_trgm", "sync_expensereport", "report_id"),
    ("sync_report_email_trgm", "sync_expensereport", "employee_email"),
    ("sync_expense_txn_trgm", "sync_expense", "transaction_id"),
    ("sync_expense_merchant_trgm", "sync_expense", "merchant"),
]


def trigram_available(schema_editor):
    """pg_trgm, created if this database user may; without it partial search still works, slower."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone():
            return True
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if not cursor.fetchone():
            return False
        cursor.execute("SAVEPOINT mlc_trgm")
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception:
            cursor.execute("ROLLBACK TO SAVEPOINT mlc_trgm")
            return False
        cursor.execute("RELEASE SAVEPOINT mlc_trgm")
        return True


def create(apps, schema_editor):
    for _, sql in BOTH:
        schema_editor.execute(sql)
    if schema_editor.connection.vendor == "postgresql" and trigram_available(schema_editor):
        for name, table, column in TRIGRAM:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ((UPPER({column}::text)) gin_trgm_ops)"
            )


def drop(apps, schema_editor):
    names = [name for name, _ in BOTH]
    if schema_editor.connection.vendor == "postgresql":
        names += [name for name, _, _ in TRIGRAM]
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("sync", "0007_correction_entries")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
