"""The choices a company's settings pick from (entry shape, dates, schedules)."""

from __future__ import annotations

from django.db import models


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
