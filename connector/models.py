"""Companies and their connections to Expensify and Sage 100; leases shared by all workers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.checks import CheckMessage, Warning, register
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import DatabaseError, models, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save

from connector.fields import SecretField
from connector.mask import AccountFormatError, AccountMask, MaskError, parse_mask

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


class CompanyPolicy(models.Model):
    """One Expensify policy (workspace) of a company: the unique key keeps it to one company."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="policies")
    policy_id = models.CharField("Expensify policy ID", max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = "Expensify policy"
        ordering = ["company", "position", "id"]

    def __str__(self) -> str:
        return f"{self.policy_id} ({self.company.code})"


class PolicyTakenError(ValidationError):
    """A policy ID is already listed by another company."""


def replace_company_policies(*, company: Company, policy_ids: Sequence[str]) -> None:
    """Make the company's policy rows exactly `policy_ids` (in order); the caller holds a transaction.

    Raises PolicyTakenError naming the other company when one already lists a policy (checked
    here for a clear message; the unique constraint holds it under concurrent saves too).
    """
    ids = list(dict.fromkeys(p.strip() for p in policy_ids if p.strip()))
    taken = CompanyPolicy.objects.filter(policy_id__in=ids).exclude(company=company).select_related("company")
    for other in taken:
        raise PolicyTakenError(
            {
                "expensify_policy_ids": (
                    f"Expensify policy {other.policy_id} already belongs to company "
                    f"{other.company.code} ({other.company.name}): a policy belongs to one company."
                )
            }
        )
    CompanyPolicy.objects.filter(company=company).exclude(policy_id__in=ids).delete()
    existing = {row.policy_id: row for row in CompanyPolicy.objects.filter(company=company)}
    for position, policy_id in enumerate(ids):
        row = existing.get(policy_id)
        if row is None:
            CompanyPolicy.objects.create(company=company, policy_id=policy_id, position=position)
        elif row.position != position:
            CompanyPolicy.objects.filter(pk=row.pk).update(position=position)


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
        from connector.hosts import url_refused

        refused = url_refused(self.base_url or "")
        if refused is not None:
            raise ValidationError({"base_url": f"The Expensify URL {self.base_url!r} {refused}."})


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
    agent_certificate = models.TextField(
        blank=True,
        help_text=(
            "Agent transport: the agent's certificate (PEM), when it is self-signed "
            "(python -m mlc_agent cert prints it). Blank: the system's trusted authorities. "
            "See docs/agent.md."
        ),
    )
    connect_timeout = models.PositiveSmallIntegerField(default=10)
    read_timeout = models.PositiveSmallIntegerField(default=60)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Sage 100 connection"

    def __str__(self) -> str:
        return f"Sage 100 ({self.get_transport_display()}) for {self.company.code}"

    def clean(self) -> None:
        from connector.hosts import url_refused
        from connector.limits import MAX_CONNECT_TIMEOUT_SECONDS, MAX_READ_TIMEOUT_SECONDS

        # A call must end well within the write slot's and the run's leases.
        too_long = {
            name: f"At most {limit} seconds (a Sage 100 call may not stay open longer)."
            for name, limit in (
                ("connect_timeout", MAX_CONNECT_TIMEOUT_SECONDS),
                ("read_timeout", MAX_READ_TIMEOUT_SECONDS),
            )
            if getattr(self, name) is not None and getattr(self, name) > limit
        }
        if too_long:
            raise ValidationError(too_long)
        refused = url_refused(self.base_url or "")
        if refused is not None:
            code = self.company.code if self.company_id else ""
            raise ValidationError(
                {"base_url": f"The Sage 100 URL {self.base_url!r} for company {code} {refused}."}
            )
        if self.agent_certificate.strip():
            from connector.certificates import CertificateError, check_pem_certificate

            try:
                check_pem_certificate(self.agent_certificate)
            except CertificateError as exc:
                raise ValidationError({"agent_certificate": str(exc)}) from None
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


def policies_lost_in_upgrade() -> list[str]:
    """Sentences naming each policy the upgrade kept for one company and took from another."""
    problems: list[str] = []
    for company in Company.objects.exclude(legacy_policy_ids="").prefetch_related("policies"):
        mine = set(company.policy_ids)
        for policy_id in (p.strip() for p in company.legacy_policy_ids.split(",")):
            if not policy_id or policy_id in mine:
                continue
            owner = CompanyPolicy.objects.filter(policy_id=policy_id).select_related("company").first()
            holder = f"company {owner.company.code} ({owner.company.name})" if owner else "no company"
            problems.append(
                f"Company {company.code} ({company.name}) listed Expensify policy {policy_id}, "
                f"which {holder} also listed; the upgrade kept it for {holder} only."
            )
    return problems


@register()
def check_shared_policies(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn about policies two companies listed before one policy could belong to one company."""
    try:
        problems = policies_lost_in_upgrade()
    except DatabaseError:
        return []  # no tables yet (before migrate) or no database
    return [
        Warning(
            problem,
            hint="Decide which company owns the policy and save that company's page (or import "
            "its company file); saving clears this warning.",
            id="connector.W110",
        )
        for problem in problems
    ]


def _credential_changed(sender: Any, **kwargs: Any) -> None:
    from connector.logs import forget_stored_secrets

    forget_stored_secrets()


# redact() caches every company's credentials: a saved or deleted one must be re-read.
for _model in (ExpensifyCredential, SageConnection):
    post_save.connect(_credential_changed, sender=_model, dispatch_uid=f"mlc-redact-save-{_model.__name__}")
    post_delete.connect(_credential_changed, sender=_model, dispatch_uid=f"mlc-redact-del-{_model.__name__}")
