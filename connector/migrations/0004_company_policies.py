"""One Expensify policy, one company: policies get their own table with a unique key.

The old comma list moves into CompanyPolicy rows. Where two companies already listed the same
policy, the company created first keeps it; the other keeps its old list in `legacy_policy_ids`
so that `manage.py check` names the conflict (warning connector.W110) instead of this crashing.
Also adds the company fields the engine needs (include_archived, degraded_reason, failure_streak).
"""

import django.db.models.deletion
from django.db import migrations, models


def move_policies(apps, schema_editor):  # type: ignore[no-untyped-def]
    Company = apps.get_model("connector", "Company")
    CompanyPolicy = apps.get_model("connector", "CompanyPolicy")
    taken: dict[str, str] = {}
    for company in Company.objects.order_by("pk"):
        ids = list(dict.fromkeys(p.strip() for p in company.legacy_policy_ids.split(",") if p.strip()))
        position = 0
        lost = False
        for policy_id in ids:
            if policy_id in taken:
                lost = True
                print(  # migrate's output is where an upgrader looks
                    f"\n  Company {company.code} listed Expensify policy {policy_id}, which company "
                    f"{taken[policy_id]} also listed: kept for {taken[policy_id]} only "
                    "(see manage.py check)."
                )
                continue
            taken[policy_id] = company.code
            CompanyPolicy.objects.create(company=company, policy_id=policy_id[:100], position=position)
            position += 1
        if not lost:
            # Nothing to warn about: the rows say it all.
            Company.objects.filter(pk=company.pk).update(legacy_policy_ids="")


def restore_lists(apps, schema_editor):  # type: ignore[no-untyped-def]
    Company = apps.get_model("connector", "Company")
    CompanyPolicy = apps.get_model("connector", "CompanyPolicy")
    for company in Company.objects.all():
        if company.legacy_policy_ids:
            continue  # it still holds its own original list
        ids = CompanyPolicy.objects.filter(company=company).order_by("position", "pk")
        Company.objects.filter(pk=company.pk).update(
            legacy_policy_ids=",".join(ids.values_list("policy_id", flat=True))[:500]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("connector", "0003_roles"),
    ]

    operations = [
        migrations.RenameField(
            model_name="company",
            old_name="expensify_policy_ids",
            new_name="legacy_policy_ids",
        ),
        migrations.AlterField(
            model_name="company",
            name="legacy_policy_ids",
            field=models.CharField(blank=True, editable=False, max_length=500),
        ),
        migrations.CreateModel(
            name="CompanyPolicy",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "policy_id",
                    models.CharField(max_length=100, unique=True, verbose_name="Expensify policy ID"),
                ),
                ("position", models.PositiveSmallIntegerField(default=0)),
                (
                    "company",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="policies",
                        to="connector.company",
                    ),
                ),
            ],
            options={
                "verbose_name": "Expensify policy",
                "ordering": ["company", "position", "id"],
            },
        ),
        migrations.RunPython(move_policies, restore_lists),
        migrations.AddField(
            model_name="company",
            name="include_archived",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Workspace uses submit-and-close: also export ARCHIVED (Closed) reports. Leave off "
                    "when reports are approved."
                ),
            ),
        ),
        migrations.AddField(
            model_name="company",
            name="degraded_reason",
            field=models.TextField(
                blank=True, help_text="Why recent runs had trouble (runs go on); cleared by a clean run."
            ),
        ),
        migrations.AddField(
            model_name="company",
            name="failure_streak",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="Runs in a row that failed the same way."
            ),
        ),
        migrations.AlterField(
            model_name="company",
            name="export_start_date",
            field=models.DateField(
                blank=True,
                null=True,
                help_text=(
                    "Reports approved on or after this date (inclusive) are exported; the first run "
                    "starts here and no run ever narrows the window on its own. Required."
                ),
            ),
        ),
    ]
