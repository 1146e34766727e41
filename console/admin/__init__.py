"""Every admin page of the product, one module per screen; importing this package registers them."""

from console.admin import audit as audit
from console.admin import company as company
from console.admin import entries as entries
from console.admin import gl_accounts as gl_accounts
from console.admin import mappings as mappings
from console.admin import reports as reports
from console.admin import runs as runs
