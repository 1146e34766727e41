"""Reports, expenses, journal entries and lines, sync runs: the ledger that makes posting exactly-once."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from connector.models import Company


class ReportState(models.TextChoices):
    NEW = "new", "New"
    READY = "ready", "Ready to post"
    POSTING = "posting", "Posting"
    POSTED = "posted", "Posted"
    EXPORTED = "exported", "Posted and marked exported"
    NEEDS_MAPPING = "needs_mapping", "Needs mapping"
    FAILED = "failed", "Failed"
    RETRY_WAIT = "retry_wait", "Waiting to retry"
    UNKNOWN = "unknown", "Outcome unknown (settled before anything else)"
    CHANGED = "changed", "Changed after posting"
    WITHDRAWN = "withdrawn", "No longer approved in Expensify"
    CONFLICT = "conflict", "Held: another company's ledger has it"


class ExpenseReport(models.Model):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="reports")
    report_id = models.CharField("Expensify report ID", max_length=64)
    report_name = models.CharField(max_length=500, blank=True)
    employee_email = models.CharField(max_length=254, blank=True, db_index=True)
    policy_id = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3)
    total_cents = models.BigIntegerField(help_text="Report total in cents, as Expensify gave it.")
    approved_on = models.DateField(null=True, blank=True)
    submitted_on = models.DateField(null=True, blank=True)
    fingerprint = models.CharField(max_length=64, help_text="Hash of the approved revision's content.")
    posted_fingerprint = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=20, choices=ReportState.choices, default=ReportState.NEW)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    change_summary = models.TextField(blank=True, help_text="What changed after posting.")
    changed_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="The revision seen after posting (flagged once, or accepted)."
    )
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-approved_on", "-id"]
        permissions = [("replay_expensereport", "Can replay failed reports")]
        constraints = [
            models.UniqueConstraint(fields=["company", "report_id"], name="one_report_per_company"),
            models.CheckConstraint(condition=~Q(report_id=""), name="report_id_not_empty"),
        ]
        indexes = [
            models.Index(fields=["company", "state"]),
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["-approved_on", "-id"], name="report_list_order"),
        ]

    def __str__(self) -> str:
        return f"{self.company.code} report {self.report_id}"


class Expense(models.Model):
    report = models.ForeignKey(ExpenseReport, on_delete=models.CASCADE, related_name="expenses")
    transaction_id = models.CharField(max_length=64)
    merchant = models.CharField(max_length=500, blank=True)
    category = models.CharField(max_length=200, blank=True)
    category_gl_code = models.CharField(max_length=64, blank=True)
    tag = models.CharField(max_length=500, blank=True)
    tag_levels = models.JSONField(default=list, blank=True, help_text="The tag split into its levels.")
    amount_cents = models.BigIntegerField(help_text="Amount in the report currency; negative = refund.")
    original_amount_cents = models.BigIntegerField()
    original_currency = models.CharField(max_length=3)
    reimbursable = models.BooleanField(default=True)
    billable = models.BooleanField(default=False)
    spent_on = models.DateField(null=True, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["report", "id"]
        constraints = [
            models.UniqueConstraint(fields=["report", "transaction_id"], name="one_expense_per_transaction"),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id} {self.merchant}"


class EntryState(models.TextChoices):
    BUILT = "built", "Built, not sent"
    OPEN = "open", "Sent, outcome open (only this key and body may be sent)"
    POSTED = "posted", "Posted"
    REFUSED = "refused", "Refused by Sage (nothing written)"
    SUPERSEDED = "superseded", "Superseded by a later revision"


class JournalEntry(models.Model):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="journal_entries")
    report = models.ForeignKey(ExpenseReport, on_delete=models.PROTECT, related_name="entries")
    idempotency_key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="Hash of the entry body sent to Sage.")
    state = models.CharField(max_length=20, choices=EntryState.choices, default=EntryState.BUILT)
    source_journal = models.CharField(max_length=2, default="GJ")
    posting_date = models.DateField()
    reference = models.CharField(max_length=30)
    comment = models.CharField(max_length=2048, blank=True)
    correction_no = models.PositiveSmallIntegerField(
        default=0, help_text="0: the report's entry; 1, 2 ...: adjusting entries after a change."
    )
    sage_entry_no = models.CharField(max_length=20, blank=True, db_index=True)
    sage_batch_no = models.CharField(max_length=20, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "journal entries"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "idempotency_key"], name="one_entry_per_key"),
            # A report keeps its key while an outcome is open: no second key can be opened.
            models.UniqueConstraint(
                fields=["report"], condition=Q(state="open"), name="one_open_entry_per_report"
            ),
            models.UniqueConstraint(
                fields=["report", "correction_no"],
                condition=Q(state="posted"),
                name="one_posted_entry_per_report",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.sage_entry_no or self.get_state_display()})"


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField()
    account = models.CharField(max_length=64)
    debit_cents = models.BigIntegerField(default=0)
    credit_cents = models.BigIntegerField(default=0)
    comment = models.CharField(max_length=60, blank=True)
    source_transactions = models.JSONField(default=list, blank=True)
    mapping_source = models.CharField(max_length=200, blank=True, help_text="Which mapping made this line.")

    class Meta:
        ordering = ["entry", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "line_no"], name="one_line_number_per_entry"),
            models.CheckConstraint(
                condition=(Q(debit_cents__gt=0) & Q(credit_cents=0))
                | (Q(credit_cents__gt=0) & Q(debit_cents=0)),
                name="line_exactly_one_positive_side",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} Dr {self.debit_cents} Cr {self.credit_cents}"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    COMMAND = "command", "Command"
    ADMIN = "admin", "Admin"
    REPLAY = "replay", "Replay"
    RETRY = "retry", "Due retries"


class RunOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    PARTIAL = "partial", "Finished with report failures"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (another run holds the lease)"
    INTERRUPTED = "interrupted", "Interrupted (its worker stopped)"


class SyncRun(models.Model):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="runs")
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    actor = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=RunOutcome.choices, default=RunOutcome.RUNNING)
    message = models.TextField(blank=True)
    reports_seen = models.PositiveIntegerField(default=0)
    reports_posted = models.PositiveIntegerField(default=0)
    reports_exported = models.PositiveIntegerField(default=0)
    reports_failed = models.PositiveIntegerField(default=0)
    reports_needing_mapping = models.PositiveIntegerField(default=0)
    reports_retrying = models.PositiveIntegerField(default=0)
    reports_changed = models.PositiveIntegerField(default=0)
    expensify_calls = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=F("started_at")),
                name="run_finishes_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company.code} run {self.pk} ({self.outcome})"


class ReportOwner(models.Model):
    """One report, one ledger: the company whose ledger an Expensify report ID went into, ever.

    Written before a report's first post; the unique report ID is what stops a second company
    (one policy moved between companies) from posting it too."""

    report_id = models.CharField("Expensify report ID", max_length=64, unique=True)
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    claimed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.report_id} → {self.company_id}"


class OutsideSystem(models.TextChoices):
    EXPENSIFY = "expensify", "Expensify"
    SAGE = "sage", "Sage"


class ConnectionHealth(models.Model):
    """One company's contact with one outside system: the last success and the last error.

    Written by sync.services.contact once per run per system (and by the admin's connection
    tests), never per report. `trouble` is a few words ("unreachable", "password rejected");
    `last_error` the operator's sentence, redacted; `failing_since` when the current trouble
    began (empty while the last call went well)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="connection_health")
    system = models.CharField(max_length=10, choices=OutsideSystem.choices)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    trouble = models.CharField(max_length=80, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "connection health"
        constraints = [
            models.UniqueConstraint(fields=["company", "system"], name="one_health_row_per_system"),
        ]

    def __str__(self) -> str:
        return f"{self.company_id} {self.system}"
