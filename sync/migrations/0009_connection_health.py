"""Connection health per company and outside system (issue 12): last contact, last error."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connector", "0005_agent_certificate_and_contacts"),
        ("sync", "0008_cockpit_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConnectionHealth",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "system",
                    models.CharField(choices=[("expensify", "Expensify"), ("sage", "Sage")], max_length=10),
                ),
                ("last_ok_at", models.DateTimeField(blank=True, null=True)),
                ("last_error_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.CharField(blank=True, max_length=300)),
                ("trouble", models.CharField(blank=True, max_length=80)),
                ("failing_since", models.DateTimeField(blank=True, null=True)),
                (
                    "company",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="connection_health",
                        to="connector.company",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "connection health",
                "constraints": [
                    models.UniqueConstraint(fields=("company", "system"), name="one_health_row_per_system")
                ],
            },
        ),
    ]
