"""Indexes for the operator's pages (issue 12): failures per week on the dashboard, and partial
search on report ID, transaction ID and employee (trigram indexes, PostgreSQL only).

Raw SQL so the model state is unchanged: these expression indexes are for reading only.
"""

from django.db import migrations

BOTH = [
    (
        "audit_company_action_at",
        "CREATE INDEX IF NOT EXISTS audit_company_action_at ON audit_auditevent (company_id, action, at)",
    ),
]
TRIGRAM = [
    ("audit_report_ref_trgm", "report_ref"),
    ("audit_transaction_ref_trgm", "transaction_ref"),
    ("audit_employee_email_trgm", "employee_email"),
]


def create(apps, schema_editor):
    # pg_trgm is created by sync's 0008 (a dependency) where the database user may.
    for _, sql in BOTH:
        schema_editor.execute(sql)
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if not cursor.fetchone():
            return
    for name, column in TRIGRAM:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON audit_auditevent USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    names = [name for name, _ in BOTH]
    if schema_editor.connection.vendor == "postgresql":
        names += [name for name, _ in TRIGRAM]
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_auditevent_audit_audit_transac_e75b94_idx_and_more"),
        ("sync", "0008_cockpit_indexes"),
    ]
    operations = [migrations.RunPython(create, drop, elidable=False)]
