"""Companies and their connections to Expensify and Sage 100; leases shared by all workers."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from connector.fields import SecretField
from connector.sage100.mask import AccountFormatError, AccountMask, MaskError, parse_mask

COMPANY_CODE_PATTERN = r"^[A-Z0-9]{3}$"


class EntryShape(models.TextChoices):
    SUMMARY = "summary", "Summary: one line per account"
    DETAIL = "detail", "Detail: one line per expense"


class PostingDateRule(models.TextChoices):
    APPROVED = "approved", "Approval date"
    EXPORTED = "exported", "Export date"
    LAST_EXPENSE = "last_expense", "Date of the last expense"


class ClosedPeriodRule(models.TextChoices):
    FAIL = "fail", "Fail the report (period closed)"
    NEXT_OPEN = "next_open", "Post on the first day of the next open period"


class ScheduleKind(models.TextChoices):
    MANUAL = "manual", "Manual only"
    DAILY = "daily", "Daily at a time"
    WEEKLY = "weekly", "Weekly on a day at a time"
    CRON = "cron", "Cron expression"


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
    expensify_policy_ids = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated Expensify policy IDs; blank = all."
    )
    export_label = models.CharField(max_length=50, default="ml-connector")
    export_start_date = models.DateField(
        null=True, blank=True, help_text="Look for reports approved on or after this date."
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
    chart_refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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

    @property
    def mask(self) -> AccountMask:
        return parse_mask(self.account_mask, self.segment_names or ())

    @property
    def policy_ids(self) -> list[str]:
        return [p.strip() for p in self.expensify_policy_ids.split(",") if p.strip()]

    def clean(self) -> None:
        errors: dict[str, str] = {}
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


class ExpensifyCredential(models.Model):
    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="expensify")
    base_url = models.URLField(
        default="https://integrations.expensify.com/Integration-Server/ExpensifyIntegrations"
    )
    partner_user_id = models.CharField(max_length=200)
    partner_user_secret = SecretField()
    timeout_seconds = models.PositiveSmallIntegerField(default=60)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Expensify credential"

    def __str__(self) -> str:
        return f"Expensify for {self.company.code}"

    def clean(self) -> None:
        from connector.expensify.client import check_base_url
        from connector.expensify.errors import ExpensifyError

        try:
            check_base_url(self.base_url or "")
        except ExpensifyError as exc:
            raise ValidationError({"base_url": str(exc)}) from None


class SageTransport(models.TextChoices):
    AGENT = "agent", "Windows agent (HTTP JSON)"
    SOAP = "soap", "SOAP service"


class SageConnection(models.Model):
    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="sage")
    transport = models.CharField(max_length=10, choices=SageTransport.choices, default=SageTransport.AGENT)
    base_url = models.URLField(help_text="Agent: https://host:port ; SOAP: the masservice.svc URL.")
    agent_api_key = SecretField(help_text="Agent transport only.")
    sage_username = models.CharField(max_length=100)
    sage_password = SecretField()
    connect_timeout = models.PositiveSmallIntegerField(default=10)
    read_timeout = models.PositiveSmallIntegerField(default=60)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Sage 100 connection"

    def __str__(self) -> str:
        return f"Sage 100 ({self.get_transport_display()}) for {self.company.code}"

    def clean(self) -> None:
        from connector.sage100.errors import SageError
        from connector.sage100.gateway import check_url

        try:
            check_url(self.base_url or "", company_code=self.company.code if self.company_id else "")
        except SageError as exc:
            raise ValidationError({"base_url": str(exc)}) from None
        if self.transport == SageTransport.AGENT and not self.agent_api_key and self.pk is None:
            raise ValidationError({"agent_api_key": "The agent transport needs the agent's API key."})


class GLAccount(models.Model):
    """The company's Sage chart of accounts, cached; refreshed on demand and before runs."""

    class Status(models.TextChoices):
        ACTIVE = "A", "Active"
        INACTIVE = "I", "Inactive"
        DELETED = "D", "Deleted"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="gl_accounts")
    account = models.CharField(max_length=64, help_text="Formatted account, exactly as Sage returns it.")
    account_key = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=200, blank=True)
    main_account_code = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=1, choices=Status.choices, default=Status.ACTIVE)
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = "GL account"
        ordering = ["company", "account"]
        constraints = [
            models.UniqueConstraint(fields=["company", "account"], name="one_gl_account_per_company"),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.description}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Lease(models.Model):
    """A named lease held by one worker until it expires (run leases, write slots)."""

    key = models.CharField(max_length=200, unique=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.key


class ThrottleEvent(models.Model):
    """One request sent under a rate limit, when no Redis is configured."""

    key = models.CharField(max_length=200)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["key", "at"])]

    def __str__(self) -> str:
        return f"{self.key} at {self.at:%H:%M:%S.%f}"
