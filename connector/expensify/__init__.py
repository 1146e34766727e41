"""Everything the connector says to Expensify goes through this package.

The engine calls `client_for_company(company)` and then `export_reports`, `mark_exported`
(returns the IDs Expensify confirms marked), `get_policy_data`; failures arrive as
ExpensifyError subclasses whose type (`kind`) says transient / permanent / auth / config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.expensify.client import (
    ELIGIBLE_STATES,
    REPORT_STATES,
    TEMPLATE,
    ExpensifyClient,
)
from connector.expensify.errors import (
    ExpensifyAnswerTooLarge,
    ExpensifyAuthError,
    ExpensifyConfigError,
    ExpensifyError,
    ExpensifyPermanentError,
    ExpensifyProtocolError,
    ExpensifyTransientError,
)
from connector.expensify.pacing import RateLimiter, shared_limiter
from connector.expensify.parsing import parse_export, split_tag
from connector.expensify.types import (
    ExpensifyExpense,
    ExpensifyReport,
    ExportStats,
    PolicyCategory,
    PolicyData,
    PolicyEmployee,
    PolicyTag,
    RejectedReport,
)

if TYPE_CHECKING:
    from connector.models import Company


def client_for_company(company: Company, **overrides: Any) -> ExpensifyClient:
    """An ExpensifyClient built from the company's ExpensifyCredential (decrypted secret)."""
    from connector.models import ExpensifyCredential

    try:
        credential = company.expensify
    except ExpensifyCredential.DoesNotExist:
        raise ExpensifyAuthError(
            f"Company {company.code} has no Expensify credentials: add them in the admin."
        ) from None
    options: dict[str, Any] = {
        "base_url": credential.base_url,
        "partner_user_id": credential.partner_user_id,
        "partner_user_secret": credential.partner_user_secret,
        "timeout": float(credential.timeout_seconds),
        "max_retry_seconds": company.max_retry_seconds,
    }
    options.update(overrides)
    return ExpensifyClient(**options)


__all__ = [
    "ELIGIBLE_STATES",
    "REPORT_STATES",
    "TEMPLATE",
    "ExpensifyAnswerTooLarge",
    "ExpensifyAuthError",
    "ExpensifyClient",
    "ExpensifyConfigError",
    "ExpensifyError",
    "ExpensifyExpense",
    "ExpensifyPermanentError",
    "ExpensifyProtocolError",
    "ExpensifyReport",
    "ExpensifyTransientError",
    "ExportStats",
    "PolicyCategory",
    "PolicyData",
    "PolicyEmployee",
    "PolicyTag",
    "RateLimiter",
    "RejectedReport",
    "client_for_company",
    "parse_export",
    "shared_limiter",
    "split_tag",
]
