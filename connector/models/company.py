"""The company: one Sage 100 company code, its ledger rules, schedule, policies and health."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import Q

from connector.mask import AccountFormatError, AccountMask, MaskError, parse_mask
from connector.models.choices import ClosedPeriodRule, EntryShape, PostingDateRule, ScheduleKind
from connector.models.policies import CompanyPolicy, replace_company_policies

COMPANY_CODE_PATTERN = r"^[A-Z0-9]{3}$"


class Company(models.Model):
    name = models.CharField(max_length=200)
    code = models.CharField(
        "Sage company code",
        max_length=3,
        unique=True,
        validators=[RegexValidator(COMPANY_CODE_PATTERN, "Exactly 3 uppercase letters or digits.")],
    )
    enabled = models.BooleanField(default=True)
    account_mask = models.CharField(
        max_length=64, default="####-##-###", help_text="Sage account mask, e.g. ####-##-###."
    )
    segment_names = models.JSONField(
        default=list, blank=True, help_text='Segment names in order, e.g. ["Main", "Department"].'
    )
    required_segments = models.JSONField(
        default=list,
        blank=True,
        help_text="Segments a tag must set; an unmapped tag value there fails the report.",
    )
    home_currency = models.CharField(max_length=3, default="USD")
    allow_foreign_currency = models.BooleanField(
        default=False, help_text="Post reports whose currency differs from the home currency."
    )
    reimbursable_offset_account = models.CharField(
        max_length=64, help_text="Employee reimbursement liability account (reimbursable expenses)."
    )
    card_offset_account = models.CharField(
        max_length=64, help_text="Company card clearing account (non-reimbursable expenses)."
    )
    entry_shape = models.CharField(max_length=10, choices=EntryShape.choices, default=EntryShape.SUMMARY)
    posting_date_rule = models.CharField(
        max_length=20, choices=PostingDateRule.choices, default=PostingDateRule.APPROVED
    )
    closed_period_rule = models.CharField(
        max_length=20, choices=ClosedPeriodRule.choices, default=ClosedPeriodRule.FAIL
    )
    source_journal = models.CharField(max_length=2, default="GJ")
    # The comma list the column held before policies got their own table; kept until the company
    # is saved again, so `manage.py check` can name a policy the upgrade gave to another company.
    legacy_policy_ids = models.CharField(max_length=500, blank=True, editable=False)
    export_label = models.CharField(max_length=50, default="ml-connector")
    # Nullable only for rows older than the rule; clean() requires it of an enabled company.
    export_start_date = models.DateField(
        null=True,
        blank=True,
        help_text=(
            "Reports approved on or after this date (inclusive) are exported; the first run "
            "starts here and no run ever narrows the window on its own. Required."
        ),
    )
    include_archived = models.BooleanField(
        default=False,
        help_text=(
            "Workspace uses submit-and-close: also export ARCHIVED (Closed) reports. Leave off "
            "when reports are approved."
        ),
    )
    schedule_kind = models.CharField(max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.DAILY)
    schedule_time = models.TimeField(null=True, blank=True, help_text="Daily/weekly: time of day.")
    schedule_weekday = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(6)], help_text="Weekly: 0 = Monday."
    )
    schedule_cron = models.CharField(max_length=100, blank=True, help_text="Cron: e.g. 15 6 * * 1-5.")
    max_concurrent_writes = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(16)]
    )
    max_post_attempts = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    max_retry_seconds = models.PositiveIntegerField(
        default=120, help_text="Total time one post may spend retrying within a run."
    )
    blocked_reason = models.TextField(
        blank=True, help_text="Set when a company-level failure (e.g. bad credentials) stops its runs."
    )
    contact_emails = models.TextField(
        blank=True,
        help_text="Who is told when a run leaves reports needing a person or the company stops (comma list).",
    )
    daily_digest = models.BooleanField(
        default=False, help_text="Send one summary a day instead of one email per run that needs a person."
    )
    degraded_reason = models.TextField(
        blank=True, help_text="Why recent runs had trouble (runs go on); cleared by a clean run."
    )
    failure_streak = models.PositiveSmallIntegerField(
        default=0, help_text="Runs in a row that failed the same way."
    )
    chart_refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Policy IDs set on this object and not saved yet (see policy_ids); not a column.
    _pending_policy_ids: list[str] | None = None

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "companies"
        permissions = [
            ("sync_company", "Can start a sync run"),
            ("test_connection_company", "Can test connections and refresh the chart"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=COMPANY_CODE_PATTERN), name="company_code_format"),
            models.CheckConstraint(condition=Q(max_concurrent_writes__gte=1), name="company_writes_min_1"),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the row and, when policy IDs were set, its CompanyPolicy rows (all or nothing)."""
        pending = self._pending_policy_ids
        if pending is None:
            super().save(*args, **kwargs)
            return
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)
            replace_company_policies(company=self, policy_ids=pending)
            if self.legacy_policy_ids:
                # Policies set by a person now: the upgrade's leftover list has been decided.
                Company.objects.filter(pk=self.pk).update(legacy_policy_ids="")
                self.legacy_policy_ids = ""
        self._pending_policy_ids = None
        getattr(self, "_prefetched_objects_cache", {}).pop("policies", None)

    @property
    def mask(self) -> AccountMask:
        return parse_mask(self.account_mask, self.segment_names or ())

    @property
    def policy_ids(self) -> list[str]:
        """The company's Expensify policy IDs, in order (unsaved changes included)."""
        if self._pending_policy_ids is not None:
            return list(self._pending_policy_ids)
        if self.pk is None:
            return []
        cache = getattr(self, "_prefetched_objects_cache", {})
        rows = cache["policies"] if "policies" in cache else self.policies.all()
        return [row.policy_id for row in sorted(rows, key=lambda r: (r.position, r.pk))]

    @policy_ids.setter
    def policy_ids(self, value: Iterable[str]) -> None:
        # Written to CompanyPolicy rows by save(), in the same transaction.
        self._pending_policy_ids = list(dict.fromkeys(p.strip() for p in value if p.strip()))

    @property
    def expensify_policy_ids(self) -> str:
        """The policy IDs as one comma list (the form and older callers use this shape)."""
        return ",".join(self.policy_ids)

    @expensify_policy_ids.setter
    def expensify_policy_ids(self, value: str) -> None:
        self.policy_ids = (value or "").split(",")

    def policy_conflicts(self) -> dict[str, Company]:
        """Policy IDs of this company that another company already lists, with that company."""
        ids = self.policy_ids
        if not ids:
            return {}
        taken = CompanyPolicy.objects.filter(policy_id__in=ids).select_related("company")
        if self.pk is not None:
            taken = taken.exclude(company_id=self.pk)
        return {row.policy_id: row.company for row in taken}

    def clean(self) -> None:
        errors: dict[str, str] = {}
        conflicts = self.policy_conflicts()
        if conflicts:
            errors["expensify_policy_ids"] = " ".join(
                f"Expensify policy {policy_id} already belongs to company {other.code} "
                f"({other.name}): a policy belongs to one company."
                for policy_id, other in sorted(conflicts.items())
            )
        if self.enabled and self.export_start_date is None:
            errors["export_start_date"] = (
                "An enabled company needs an export start date: the first run exports reports "
                "approved on or after it."
            )
        try:
            mask = self.mask
        except MaskError as exc:
            raise ValidationError({"account_mask": str(exc)}) from None
        for field in ("reimbursable_offset_account", "card_offset_account"):
            value = getattr(self, field)
            if value:
                try:
                    setattr(self, field, mask.format(value))
                except AccountFormatError as exc:
                    errors[field] = str(exc)
        for name in self.required_segments or []:
            try:
                mask.segment_index(str(name))
            except AccountFormatError as exc:
                errors["required_segments"] = str(exc)
        if self.schedule_kind in (ScheduleKind.DAILY, ScheduleKind.WEEKLY) and self.schedule_time is None:
            errors["schedule_time"] = "Daily and weekly schedules need a time of day."
        if self.schedule_kind == ScheduleKind.WEEKLY and self.schedule_weekday is None:
            errors["schedule_weekday"] = "Weekly schedules need a day (0 = Monday)."
        if self.schedule_kind == ScheduleKind.CRON:
            from croniter import croniter

            if not self.schedule_cron or not croniter.is_valid(self.schedule_cron):
                errors["schedule_cron"] = f"Not a valid cron expression: {self.schedule_cron!r}."
        if errors:
            raise ValidationError(errors)
