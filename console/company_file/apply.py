"""Importing a company file: all or nothing, in one transaction, after the whole file was checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction

from connector.models import Company, PolicyTakenError
from console.company_file.keys import CompanyFileError
from console.company_file.plan import plan_import
from console.company_file.reading import parse_company_file
from mappings import services as mapping_services


@dataclass
class ImportOutcome:
    company: Company
    created: bool
    connections: list[str] = field(default_factory=list)
    mapping_counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        verb = "Created" if self.created else "Updated"
        parts = [f"{verb} company {self.company.code} ({self.company.name})"]
        parts += [f"{name} connection set" for name in self.connections]
        parts += [f"{count} {name} mapping(s)" for name, count in self.mapping_counts.items()]
        return "; ".join(parts) + "."


def import_company_data(*, data: Any, environ: Mapping[str, str], dry_run: bool = False) -> ImportOutcome:
    """Create or update one company from a parsed company file; all or nothing."""
    plan, problems = plan_import(data, environ)
    if plan is None:
        raise CompanyFileError(problems)
    outcome = ImportOutcome(company=plan.company, created=plan.created)
    outcome.connections = list(plan.connections)
    outcome.mapping_counts = {kind.name: len(rows) for kind, rows in plan.mappings.items()}
    if dry_run:
        return outcome
    try:
        with transaction.atomic():
            plan.company.save()
            for connection in plan.connections.values():
                connection.company = plan.company  # type: ignore[attr-defined]
                connection.save()
            mapping_services.replace_company_mappings(company=plan.company, mappings=plan.mappings)
    except PolicyTakenError as exc:
        # Another company took the policy between the check and the write.
        raise CompanyFileError([f"company.policy_ids: {m}" for m in exc.messages]) from None
    except IntegrityError:
        conflicts = plan.company.policy_conflicts()
        if not conflicts:
            raise
        raise CompanyFileError(
            [
                f"company.policy_ids: Expensify policy {policy_id} already belongs to company "
                f"{other.code} ({other.name}): a policy belongs to one company."
                for policy_id, other in sorted(conflicts.items())
            ]
        ) from None
    return outcome


def import_company_file(*, path: Path, environ: Mapping[str, str], dry_run: bool = False) -> ImportOutcome:
    """Read, validate and import a company file (.json or .toml)."""
    return import_company_data(data=parse_company_file(path), environ=environ, dry_run=dry_run)
