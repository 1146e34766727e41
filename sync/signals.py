"""Keep each company's django-q2 schedule in step when the company is saved or deleted."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from connector.models import Company


@receiver(post_save, sender=Company, dispatch_uid="sync-company-schedule")
def company_saved(sender: type[Company], instance: Company, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    from sync.schedules import ensure_retry_schedule, ensure_schedule

    def keep_in_step() -> None:
        ensure_schedule(instance)
        ensure_retry_schedule()  # due retries run at their time for every company

    transaction.on_commit(keep_in_step)


@receiver(post_delete, sender=Company, dispatch_uid="sync-company-schedule-delete")
def company_deleted(sender: type[Company], instance: Company, **kwargs: Any) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(func="sync.tasks.sync_company", args=repr(instance.pk)).delete()


def _credentials_changed(sender: type[models.Model], instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """New credentials may fix what stopped the company: let its scheduled runs try again."""
    if raw:
        return
    company = instance.company
    if company.blocked_reason:
        Company.objects.filter(pk=company.pk).update(blocked_reason="")
        from audit.services import record

        record(
            action="company_resumed",
            actor="credentials",
            company=company,
            message=f"{sender._meta.verbose_name} changed; runs resume (was: {company.blocked_reason})",
        )


def _connect_credential_signals() -> None:
    from connector.models import ExpensifyCredential, SageConnection

    for model in (ExpensifyCredential, SageConnection):
        post_save.connect(_credentials_changed, sender=model, dispatch_uid=f"resume-{model.__name__}")


_connect_credential_signals()
