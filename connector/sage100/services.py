"""Sage 100 services for the admin and the commands: test the connection, refresh the chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from connector.mask import MaskError, parse_mask
from connector.models import Company, GLAccount
from connector.sage100.gateway import open_gateway, settings_for_company
from connector.sage100.types import AccountStructure, GLAccountInfo


@dataclass(frozen=True)
class ChartRefresh:
    added: int
    updated: int
    deactivated: int
    total: int
    mask_ok: bool
    message: str


def _mask_matches(company: Company, structure: AccountStructure) -> bool:
    try:
        ours = parse_mask(company.account_mask)
    except MaskError:
        return False
    return ours.text == structure.derived_mask and (
        len(ours.segments) == 1 or ours.separator == structure.separator
    )


def test_sage_connection(company: Company) -> str:
    """One line for the operator: who answered and what structure; raises SageError on failure."""
    settings = settings_for_company(company)
    gateway = open_gateway(settings)
    try:
        if settings.transport == "agent":
            ping = gateway.ping()
            structure = gateway.account_structure()
            limit = ping.max_concurrent_writes
            return (
                f"Connected to Sage 100 company {company.code} through agent {ping.agent_version} "
                f"({ping.sage_version}); account mask {structure.derived_mask}; "
                f"agent write limit {limit if limit is not None else 'not set'}."
            )
        structure = gateway.account_structure()
        return (
            f"Connected to Sage 100 company {company.code} through the SOAP service; "
            f"account mask {structure.derived_mask}."
        )
    finally:
        gateway.close()


@transaction.atomic
def _store_chart(
    company: Company, accounts: list[GLAccountInfo], now: datetime
) -> tuple[int, int, int]:
    existing = {a.account: a for a in GLAccount.objects.select_for_update().filter(company=company)}
    added = updated = deactivated = 0
    seen: set[str] = set()
    for info in accounts:
        seen.add(info.account)
        row = existing.get(info.account)
        values = {
            "account_key": info.account_key[:64],
            "description": info.description[:200],
            "main_account_code": info.main_account_code[:32],
            "status": info.status if info.status in ("A", "I", "D") else "I",
        }
        if row is None:
            GLAccount.objects.create(company=company, account=info.account, refreshed_at=now, **values)
            added += 1
            continue
        changed = any(getattr(row, k) != v for k, v in values.items())
        for k, v in values.items():
            setattr(row, k, v)
        row.refreshed_at = now
        row.save()
        updated += int(changed)
    for account, row in existing.items():
        if account not in seen and row.status != GLAccount.Status.DELETED:
            row.status = GLAccount.Status.DELETED
            row.refreshed_at = now
            row.save(update_fields=["status", "refreshed_at"])
            deactivated += 1
    company.chart_refreshed_at = now
    company.save(update_fields=["chart_refreshed_at", "updated_at"])
    return added, updated, deactivated


def refresh_chart(company: Company) -> ChartRefresh:
    """Fetch every account (all statuses) into GLAccount; missing ones become 'D'.

    Also compares the company's account mask with the structure Sage reports.
    Raises SageError when Sage cannot be asked; nothing is stored then.
    """
    gateway = open_gateway(settings_for_company(company))
    try:
        structure = gateway.account_structure()
        accounts = list(gateway.accounts(status=None))
    finally:
        gateway.close()
    now = timezone.now()
    added, updated, deactivated = _store_chart(company, accounts, now)
    mask_ok = _mask_matches(company, structure)
    counts = (
        f"{len(accounts)} accounts from Sage 100 for {company.code}: {added} added, "
        f"{updated} updated, {deactivated} marked deleted."
    )
    if mask_ok:
        message = counts
    else:
        message = (
            f"{counts} The account mask differs: the company is set to {company.account_mask!r} "
            f"but Sage 100 reports {structure.derived_mask!r} (segments "
            f"{', '.join(structure.segment_names)}). Fix the company's mask."
        )
    return ChartRefresh(
        added=added,
        updated=updated,
        deactivated=deactivated,
        total=len(accounts),
        mask_ok=mask_ok,
        message=message,
    )
