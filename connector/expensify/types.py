"""What an Expensify export and a policy look like once parsed (plain frozen dataclasses), and
what one export cost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ExpensifyExpense:
    """One expense (Expensify "transaction"), amounts in integer cents."""

    transaction_id: str
    merchant: str
    category: str
    category_gl_code: str
    tag: str  # raw, levels joined by ':' (a ':' inside a level arrives as '\:')
    tag_levels: tuple[str, ...]  # split on plain ':', each level unescaped and stripped
    amount_cents: int  # in the REPORT currency; negative = refund/credit
    original_amount_cents: int  # in original_currency, as the employee entered it
    original_currency: str
    reimbursable: bool
    billable: bool
    created: date | None  # modifiedCreated if present, else created
    comment: str
    expense_type: str  # expense / distance / time
    receipt_id: str


@dataclass(frozen=True)
class ExpensifyReport:
    """One approved expense report and its expenses."""

    report_id: str
    report_name: str
    status: str
    employee_email: str
    policy_id: str
    policy_name: str
    currency: str
    total_cents: int  # as Expensify states it; its sign is undocumented, compare abs values
    created: date | None
    submitted: date | None
    approved: date | None
    expenses: tuple[ExpensifyExpense, ...]


@dataclass(frozen=True)
class RejectedReport:
    """A report whose data cannot be used; `reason` names the report, transaction and field."""

    report_id: str
    report_name: str
    employee_email: str
    reason: str


@dataclass(frozen=True)
class PolicyCategory:
    name: str
    gl_code: str
    enabled: bool


@dataclass(frozen=True)
class PolicyTag:
    level: int  # 1-based, as mappings.TagMapping.tag_level
    level_name: str  # e.g. "Department"; "" when Expensify sent flat "A:B" tags
    name: str  # the value at that level, unescaped
    gl_code: str


@dataclass(frozen=True)
class PolicyEmployee:
    email: str
    role: str


@dataclass(frozen=True)
class PolicyData:
    """A policy's (workspace's) categories, tags and employees."""

    policy_id: str
    name: str
    categories: tuple[PolicyCategory, ...]
    tags: tuple[PolicyTag, ...]
    employees: tuple[PolicyEmployee, ...]


@dataclass
class ExportStats:
    """What one export_reports call cost (filled in as the iterator runs)."""

    renders: int = 0
    downloads: int = 0
    windows_split: int = 0
    reports: int = 0
    duplicates: int = 0


__all__ = [
    "ExpensifyExpense",
    "ExpensifyReport",
    "ExportStats",
    "PolicyCategory",
    "PolicyData",
    "PolicyEmployee",
    "PolicyTag",
    "RejectedReport",
]
