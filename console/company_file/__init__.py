"""One company's whole configuration as a JSON or TOML file (see docs/company-file.md).

`import_company_file` validates everything first (every problem reported with its path in the
file, e.g. "mappings.categories[3].account: ..."), then writes in one transaction: a file with
any problem changes nothing. Secrets appear in a file only as `env:NAME` references, resolved
from the environment at import and stored encrypted; `company_to_data` writes placeholders,
never a secret.

keys.py: the file's shape; reading.py: parse and convert; plan.py and plan_mappings.py: check
everything; apply.py: write it; export.py: the company as a file.
"""

from console.company_file.apply import ImportOutcome, import_company_data, import_company_file
from console.company_file.export import company_to_data, dumps, suggested_env_name
from console.company_file.keys import FORMAT_VERSION, CompanyFileError
from console.company_file.reading import parse_company_file

__all__ = [
    "FORMAT_VERSION",
    "CompanyFileError",
    "ImportOutcome",
    "company_to_data",
    "dumps",
    "import_company_data",
    "import_company_file",
    "parse_company_file",
    "suggested_env_name",
]
