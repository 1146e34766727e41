"""Companies and their connections to Expensify and Sage 100; leases shared by all workers.

One module per concern; every public name is re-exported here, so `from connector.models
import X` is the one way in. Importing the package imports `credentials` (which connects the
redaction receivers) and `checks` (which registers the system check), each exactly once.
"""

from connector.models.chart import GLAccount
from connector.models.checks import check_shared_policies, policies_lost_in_upgrade
from connector.models.choices import ClosedPeriodRule, EntryShape, PostingDateRule, ScheduleKind
from connector.models.company import COMPANY_CODE_PATTERN, Company
from connector.models.coordination import Lease, ThrottleEvent
from connector.models.credentials import ExpensifyCredential, SageConnection, SageTransport
from connector.models.policies import CompanyPolicy, PolicyTakenError, replace_company_policies

__all__ = [
    "COMPANY_CODE_PATTERN",
    "ClosedPeriodRule",
    "Company",
    "CompanyPolicy",
    "EntryShape",
    "ExpensifyCredential",
    "GLAccount",
    "Lease",
    "PolicyTakenError",
    "PostingDateRule",
    "SageConnection",
    "SageTransport",
    "ScheduleKind",
    "ThrottleEvent",
    "check_shared_policies",
    "policies_lost_in_upgrade",
    "replace_company_policies",
]
