"""Append-only audit events: what happened to which expense, report and entry, and who did it."""

from __future__ import annotations

from typing import Any

from django.db import models


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("Audit events are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    company = models.ForeignKey(
        "connector.Company", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    report = models.ForeignKey(
        "sync.ExpenseReport", on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    expense = models.ForeignKey(
        "sync.Expense", on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    report_ref = models.CharField("Expensify report ID", max_length=64, blank=True, db_index=True)
    transaction_ref = models.CharField("Expensify transaction ID", max_length=64, blank=True)
    employee_email = models.CharField(max_length=254, blank=True)
    actor = models.CharField(max_length=200, help_text="schedule, command, admin:<user> ...")
    action = models.CharField(max_length=50, db_index=True)
    amount_cents = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    account = models.CharField(max_length=64, blank=True)
    sage_entry_no = models.CharField(max_length=20, blank=True)
    sage_batch_no = models.CharField(max_length=20, blank=True)
    message = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["company", "-id"]),
            models.Index(fields=["transaction_ref"]),
            models.Index(fields=["sage_entry_no"]),
            models.Index(fields=["employee_email"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.report_ref}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit events are append-only.")
