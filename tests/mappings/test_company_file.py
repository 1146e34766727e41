"""Company files: import_company / export_company, all-or-nothing, secrets only by env: reference."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from connector.models import Company, ExpensifyCredential, SageConnection
from console.company_file import company_to_data, dumps
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping
from tests.factories import CategoryMappingFactory, CompanyFactory, SageConnectionFactory

pytestmark = pytest.mark.django_db

ENV = {
    "ACME_EXPENSIFY_SECRET": "expensify-plain-Kq81",
    "ACME_SAGE_KEY": "agent-plain-Lp27",
    "ACME_SAGE_PASSWORD": "sage-plain-Tz55",
}


def company_data() -> dict[str, Any]:
    return {
        "format_version": 1,
        "company": {
            "code": "ACM",
            "name": "Acme Field Services",
            "enabled": True,
            "policy_ids": ["F0A1B2C3D4E5F6A7", "0123456789ABCDEF"],
            "export_label": "sage-posted",
            "export_start_date": "2026-01-01",
            "max_concurrent_writes": 2,
        },
        "offset_accounts": {"reimbursable": "2100-00-000", "card": "2150-0-0"},
        "entry_rules": {
            "account_mask": "####-##-###",
            "segment_names": ["Main", "Department", "Location"],
            "required_segments": ["Department"],
            "entry_shape": "detail",
            "posting_date_rule": "last_expense",
            "closed_period_rule": "next_open",
            "source_journal": "GJ",
            "home_currency": "USD",
            "allow_foreign_currency": True,
        },
        "schedule": {"kind": "weekly", "time": "06:15", "weekday": 0},
        "expensify": {
            "base_url": "https://expensify.example.com/Integration-Server/ExpensifyIntegrations",
            "partner_user_id": "aa_api_acme",
            "partner_user_secret": "env:ACME_EXPENSIFY_SECRET",
            "timeout_seconds": 45,
        },
        "sage": {
            "transport": "agent",
            "base_url": "https://sage-agent.example.com:8443",
            "agent_api_key": "env:ACME_SAGE_KEY",
            "sage_username": "connector",
            "sage_password": "env:ACME_SAGE_PASSWORD",
            "connect_timeout": 5,
            "read_timeout": 90,
        },
        "mappings": {
            "categories": [
                {"category": "Travel", "account": "6100-00-000"},
                {"category": "Meals", "account": "6200-1-0", "note": "client meals"},
            ],
            "tags": [{"tag_level": 1, "tag_value": "Field Ops", "segment": "Department", "code": "1"}],
            "employees": [
                {"employee_email": "Ann@Example.com", "reimbursable_offset_account": "2110-00-000"}
            ],
        },
    }


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return ENV


def write(tmp_path: Path, data: dict[str, Any], file_format: str = "json") -> Path:
    path = tmp_path / f"company.{file_format}"
    path.write_text(dumps(data, file_format=file_format) if file_format in ("json", "toml") else str(data))
    return path


def import_problems(path: Path) -> list[str]:
    with pytest.raises(CommandError) as caught:
        call_command("import_company", str(path))
    lines = str(caught.value).splitlines()
    assert "nothing was changed" in lines[0]
    return [line.removeprefix("  - ") for line in lines[1:]]


def run_export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_company", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.parametrize("file_format", ["json", "toml"])
def test_import_creates_the_whole_company(tmp_path: Path, env: dict[str, str], file_format: str) -> None:
    out = io.StringIO()
    call_command("import_company", str(write(tmp_path, company_data(), file_format)), stdout=out)

    assert out.getvalue().startswith("Created company ACM (Acme Field Services)")
    company = Company.objects.get(code="ACM")
    assert company.policy_ids == ["F0A1B2C3D4E5F6A7", "0123456789ABCDEF"]
    assert company.card_offset_account == "2150-00-000"
    assert (company.entry_shape, company.posting_date_rule, company.closed_period_rule) == (
        "detail",
        "last_expense",
        "next_open",
    )
    assert (company.schedule_kind, company.schedule_time, company.schedule_weekday) == (
        "weekly",
        dt.time(6, 15),
        0,
    )
    assert company.required_segments == ["Department"]
    assert company.max_concurrent_writes == 2
    assert company.expensify.partner_user_secret == ENV["ACME_EXPENSIFY_SECRET"]
    assert company.expensify.timeout_seconds == 45
    assert company.sage.sage_password == ENV["ACME_SAGE_PASSWORD"]
    assert company.sage.agent_api_key == ENV["ACME_SAGE_KEY"]
    assert (company.sage.connect_timeout, company.sage.read_timeout) == (5, 90)
    assert dict(company.category_mappings.values_list("category", "account")) == {
        "Travel": "6100-00-000",
        "Meals": "6200-01-000",
    }
    assert company.tag_mappings.get().code == "01"
    assert company.employee_mappings.get().employee_email == "ann@example.com"


def test_secrets_are_stored_encrypted(tmp_path: Path, env: dict[str, str]) -> None:
    call_command("import_company", str(write(tmp_path, company_data())), stdout=io.StringIO())

    with connection.cursor() as cursor:
        cursor.execute("SELECT sage_password, agent_api_key FROM connector_sageconnection")
        password, api_key = cursor.fetchone()
        cursor.execute("SELECT partner_user_secret FROM connector_expensifycredential")
        (expensify_secret,) = cursor.fetchone()
    for stored, plain in (
        (password, ENV["ACME_SAGE_PASSWORD"]),
        (api_key, ENV["ACME_SAGE_KEY"]),
        (expensify_secret, ENV["ACME_EXPENSIFY_SECRET"]),
    ):
        assert plain not in stored
        assert stored.startswith("gAAAAA")


def test_reimport_replaces_mappings_and_updates_in_place(tmp_path: Path, env: dict[str, str]) -> None:
    call_command("import_company", str(write(tmp_path, company_data())), stdout=io.StringIO())
    company_pk = Company.objects.get(code="ACM").pk
    data = company_data()
    data["company"]["name"] = "Acme Renamed"
    data["mappings"]["categories"] = [{"category": "Fuel", "account": "6400-00-000"}]
    del data["mappings"]["tags"]  # a kind left out is left as it is

    out = io.StringIO()
    call_command("import_company", str(write(tmp_path, data)), stdout=out)

    assert out.getvalue().startswith("Updated company ACM (Acme Renamed)")
    company = Company.objects.get(code="ACM")
    assert company.pk == company_pk
    assert list(company.category_mappings.values_list("category", flat=True)) == ["Fuel"]
    assert company.tag_mappings.count() == 1
    assert Company.objects.count() == 1


@pytest.mark.parametrize("file_format", ["json", "toml"])
def test_export_has_no_secret_and_round_trips(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, file_format: str
) -> None:
    call_command("import_company", str(write(tmp_path, company_data())), stdout=io.StringIO())
    before = snapshot("ACM")

    text = run_export("ACM", "--format", file_format)

    for secret in ENV.values():
        assert secret not in text
    data = json.loads(text) if file_format == "json" else tomllib.loads(text)
    assert data["sage"]["sage_password"] == "env:SAGE_PASSWORD_ACM"
    assert data["sage"]["agent_api_key"] == "env:SAGE_AGENT_API_KEY_ACM"
    assert data["expensify"]["partner_user_secret"] == "env:EXPENSIFY_PARTNER_USER_SECRET_ACM"

    monkeypatch.setenv("SAGE_PASSWORD_ACM", ENV["ACME_SAGE_PASSWORD"])
    monkeypatch.setenv("SAGE_AGENT_API_KEY_ACM", ENV["ACME_SAGE_KEY"])
    monkeypatch.setenv("EXPENSIFY_PARTNER_USER_SECRET_ACM", ENV["ACME_EXPENSIFY_SECRET"])
    Company.objects.all().delete()
    path = tmp_path / f"exported.{file_format}"
    path.write_text(text)
    call_command("import_company", str(path), stdout=io.StringIO())

    assert snapshot("ACM") == before


def snapshot(code: str) -> dict[str, Any]:
    company = Company.objects.get(code=code)
    skip = {"id", "created_at", "updated_at", "company", "chart_refreshed_at"}

    def fields(instance: Any) -> dict[str, Any]:
        return {
            f.attname: getattr(instance, f.attname)
            for f in instance._meta.concrete_fields
            if f.name not in skip
        }

    return {
        "company": fields(company),
        "expensify": fields(company.expensify),
        "sage": fields(company.sage),
        "categories": sorted(tuple(fields(m).values()) for m in company.category_mappings.all()),
        "tags": sorted(tuple(fields(m).values()) for m in company.tag_mappings.all()),
        "employees": sorted(tuple(fields(m).values()) for m in company.employee_mappings.all()),
    }


def test_export_to_file_picks_format_from_extension(tmp_path: Path) -> None:
    company = CompanyFactory(code="XYZ", schedule_kind="cron", schedule_cron="15 6 * * 1-5")
    SageConnectionFactory(company=company, transport="soap", agent_api_key="")
    CategoryMappingFactory(company=company, category="=cmd", account="6100-00-000")
    output = tmp_path / "xyz.toml"

    run_export("xyz", "--output", str(output))

    data = tomllib.loads(output.read_text())
    assert data["schedule"] == {"kind": "cron", "cron": "15 6 * * 1-5"}
    assert "agent_api_key" not in data["sage"]
    assert "sage-password-Wm2" not in output.read_text()
    assert "expensify" not in data
    assert data["mappings"]["categories"] == [{"category": "=cmd", "account": "6100-00-000"}]
    assert data["mappings"]["tags"] == []


def test_export_unknown_company() -> None:
    with pytest.raises(CommandError, match="no company with code 'QQQ'"):
        run_export("QQQ")


def test_export_never_decrypts_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    SageConnectionFactory(company=CompanyFactory(code="KEY"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a secret was decrypted")

    monkeypatch.setattr("connector.fields.decrypt", refuse)
    assert "env:SAGE_PASSWORD_KEY" in run_export("KEY")


# --- invalid files: every problem named, nothing changed -------------------------------------


def test_literal_secret_is_refused_without_echoing_it(tmp_path: Path, env: dict[str, str]) -> None:
    data = company_data()
    data["sage"]["sage_password"] = "hunter2-literal"

    problems = import_problems(write(tmp_path, data))

    assert problems == [
        "sage.sage_password must be a reference like env:SAGE_PASSWORD, not the secret itself"
    ]
    assert Company.objects.count() == 0


def test_missing_environment_variable_is_named(tmp_path: Path, env: dict[str, str], monkeypatch) -> None:
    monkeypatch.delenv("ACME_SAGE_PASSWORD")
    data = company_data()
    data["expensify"]["partner_user_secret"] = "env:not valid"

    problems = import_problems(write(tmp_path, data))

    assert problems == [
        "expensify.partner_user_secret: 'env:not valid' is not a valid reference; "
        "use env:NAME (letters, digits, _)",
        "sage.sage_password: environment variable ACME_SAGE_PASSWORD is not set",
    ]


def test_every_problem_is_reported_with_its_path(tmp_path: Path, env: dict[str, str]) -> None:
    data = company_data()
    data["company"]["code"] = "acme"
    data["company"]["colour"] = "red"
    data["company"]["max_concurrent_writes"] = "two"
    data["entry_rules"]["entry_shape"] = "sumary"
    data["schedule"] = {"kind": "cron", "cron": "61 * * * *"}
    data["sage"]["pasword"] = "x"
    data["mappings"]["categories"].append({"category": "Fuel", "account": "6100-ABC-000"})
    data["mappings"]["categories"].append({"category": "Travel", "account": "6300-00-000"})
    data["mappings"]["categories"].append({"category": "", "account": "6300-00-000"})
    data["mappings"]["tags"][0]["segment"] = "Region"
    data["mappings"]["employees"][0]["employee_email"] = "not-an-email"

    problems = import_problems(write(tmp_path, data))

    assert problems == [
        "company.colour: unknown key; known keys: code, name, enabled, policy_ids, export_label, "
        "export_start_date, include_archived, max_concurrent_writes, max_post_attempts, max_retry_seconds",
        "company.max_concurrent_writes: must be a whole number, got text",
        "entry_rules.entry_shape: must be one of summary, detail; got 'sumary'",
        "company.code: Exactly 3 uppercase letters or digits.",
        "company.code: Ensure this value has at most 3 characters (it has 4).",
        "schedule.cron: Not a valid cron expression: '61 * * * *'.",
        "sage.pasword: unknown key; did you mean 'sage_password'? known keys: transport, base_url, "
        "agent_api_key, sage_username, sage_password, connect_timeout, read_timeout",
        "mappings.categories[2].account: segment 2 (Department) of account '6100-ABC-000' must be digits "
        "only, got 'ABC' (company acme mask ####-##-###)",
        "mappings.categories[4].category: is empty",
        "mappings.categories[3].category: duplicates mappings.categories[0] (category Travel)",
        "mappings.tags[0].code: no segment 'Region' in mask ####-##-###; segments: 1 (Main), "
        "2 (Department), 3 (Location)",
        "mappings.employees[0].employee_email: Enter a valid email address.",
    ]
    assert Company.objects.count() == 0
    assert (
        CategoryMapping.objects.count() == TagMapping.objects.count() == EmployeeMapping.objects.count() == 0
    )


def test_wrong_types_and_missing_keys(tmp_path: Path, env: dict[str, str]) -> None:
    data = company_data()
    del data["company"]["name"]
    data["offset_accounts"] = {"reimbursable": 2100, "card": "2150-00-000"}
    data["entry_rules"]["segment_names"] = "Main, Department"
    data["entry_rules"]["allow_foreign_currency"] = "yes"
    data["schedule"]["time"] = "6am"
    data["mappings"]["tags"] = {"tag_value": "x"}
    data["mappings"]["categories"][0] = ["Travel", "6100-00-000"]

    problems = import_problems(write(tmp_path, data))

    assert problems == [
        "company.name: is required",
        "offset_accounts.reimbursable: must be text (in quotes), got a whole number",
        'entry_rules.segment_names: must be a list of texts, e.g. ["a", "b"]',
        "entry_rules.allow_foreign_currency: must be true or false, got text",
        "schedule.time: must be a time of day like \"06:15\", got '6am'",
        "mappings.categories[0]: must be a table of keys, got a list",
        "mappings.tags: must be a list of tables, got a table",
    ]


def test_an_invalid_file_changes_an_existing_company_not_at_all(tmp_path: Path, env: dict[str, str]) -> None:
    call_command("import_company", str(write(tmp_path, company_data())), stdout=io.StringIO())
    before = snapshot("ACM")
    data = company_data()
    data["company"]["name"] = "Changed"
    data["mappings"]["categories"] = [{"category": "Fuel", "account": "bad"}]

    problems = import_problems(write(tmp_path, data))

    assert problems == [
        "mappings.categories[0].account: account 'bad' has 1 segment(s); mask ####-##-### has 3 "
        "(company ACM mask ####-##-###)"
    ]
    assert snapshot("ACM") == before


def test_bad_mask_is_reported_once_not_per_mapping(tmp_path: Path, env: dict[str, str]) -> None:
    data = company_data()
    data["entry_rules"]["account_mask"] = "##-A#"

    problems = import_problems(write(tmp_path, data))

    assert problems == [
        "entry_rules.account_mask: mask '##-A#' mixes '#' and 'A' in one segment; a segment is all '#' "
        "(numeric) or all 'A' (alphanumeric)"
    ]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("company.yaml", "code: ABC", "company.yaml: use a .json or .toml file, not '.yaml'"),
        ("company.json", '{"company": {', "company.json: not valid JSON: Expecting property name"),
        ("company.toml", "[company\ncode = 1", "company.toml: not valid TOML: "),
        ("company.json", "[1, 2]", "(file): must be a table of keys, got a list"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content)

    (problem,) = import_problems(path)

    assert problem.startswith(expected)


def test_dry_run_changes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    out = io.StringIO()
    call_command("import_company", str(write(tmp_path, company_data())), "--dry-run", stdout=out)

    assert out.getvalue().startswith("Dry run, nothing changed: would have Created company ACM")
    assert (
        Company.objects.count() == ExpensifyCredential.objects.count() == SageConnection.objects.count() == 0
    )


def test_command_exits_non_zero(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import ManagementUtility

    data = copy.deepcopy(company_data())
    data["sage"]["sage_password"] = "literal"
    path = write(tmp_path, data)

    with pytest.raises(SystemExit) as caught:
        ManagementUtility(["manage.py", "import_company", str(path)]).execute()

    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert "1 problem; nothing was changed" in err
    assert "sage.sage_password must be a reference like env:SAGE_PASSWORD, not the secret itself" in err
    assert "literal" not in err


@pytest.mark.parametrize("file_format", ["toml", "json"])
def test_documented_examples_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_format: str
) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "company-file.md").read_text()
    blocks = [b.split("```", 1)[0] for b in doc.split(f"```{file_format}\n")[1:]]
    (example,) = [block for block in blocks if "format_version" in block]
    for name in ("EXPENSIFY_PARTNER_USER_SECRET_ACM", "SAGE_AGENT_API_KEY_ACM", "SAGE_PASSWORD_ACM"):
        monkeypatch.setenv(name, f"{name.lower()}-value")
    path = tmp_path / f"example.{file_format}"
    path.write_text(example)

    call_command("import_company", str(path), stdout=io.StringIO())

    company = Company.objects.get(code="ACM")
    assert company.sage.sage_password == "sage_password_acm-value"
    assert company.category_mappings.count() == 2
    assert json.loads(dumps(company_to_data(company=company), file_format="json")) == (
        tomllib.loads(example) if file_format == "toml" else json.loads(example)
    )


# --- issue 11: one policy one company, the start date, hostile nesting --------------------------------


def test_a_policy_another_company_lists_is_refused_naming_it(tmp_path: Path, env: dict[str, str]) -> None:
    CompanyFactory(code="OTH", name="Other Co", policy_ids=["0123456789ABCDEF"])
    problems = import_problems(write(tmp_path, company_data()))
    assert problems == [
        "company.policy_ids: Expensify policy 0123456789ABCDEF already belongs to company OTH (Other Co): "
        "a policy belongs to one company."]
    assert not Company.objects.filter(code="ACM").exists()


def test_an_imported_company_owns_its_policies_as_rows(tmp_path: Path, env: dict[str, str]) -> None:
    call_command("import_company", str(write(tmp_path, company_data())), stdout=io.StringIO())
    from connector.models import CompanyPolicy

    assert sorted(CompanyPolicy.objects.values_list("company__code", "policy_id")) == [
        ("ACM", "0123456789ABCDEF"), ("ACM", "F0A1B2C3D4E5F6A7")]


def test_an_enabled_company_without_a_start_date_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    data = company_data()
    del data["company"]["export_start_date"]
    assert import_problems(write(tmp_path, data)) == [
        "company.export_start_date: An enabled company needs an export start date: the first run "
        "exports reports approved on or after it."]
    data["company"]["enabled"] = False
    call_command("import_company", str(write(tmp_path, data)), stdout=io.StringIO())
    assert Company.objects.get(code="ACM").export_start_date is None


@pytest.mark.parametrize(("suffix", "text"), [
    (".json", "[" * 100_000 + "]" * 100_000),
    (".json", '{"a":' * 100_000 + "1" + "}" * 100_000),
    (".toml", "a = " + "[" * 100_000 + "]" * 100_000),
])
def test_a_file_nested_100k_deep_is_a_clear_error(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"deep{suffix}"
    path.write_text(text)
    problems = import_problems(path)
    assert problems == [
        f"deep{suffix}: nested too deeply to be a company file (lists or tables inside each other "
        "thousands of levels deep)"]


def test_a_read_timeout_no_lease_can_outlive_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    """Issue 11 item 10: a company file once accepted a 100000 s read timeout."""
    data = company_data()
    data["sage"]["read_timeout"] = 100000
    problems = import_problems(write(tmp_path, data))
    assert any("sage.read_timeout" in p and "At most" in p for p in problems), problems
    assert not Company.objects.filter(code="ACM").exists()


# --- issue 12: an enabled company needs all its secrets ---------------------------------------------


def test_an_enabled_company_without_connections_is_refused_naming_each_section(
    tmp_path: Path, env: dict[str, str]
) -> None:
    data = company_data()
    del data["expensify"], data["sage"]
    assert import_problems(write(tmp_path, data)) == [
        "expensify: an enabled company needs its Expensify credential: add the section "
        "(partner_user_id, partner_user_secret)",
        "sage: an enabled company needs its Sage 100 connection: add the section "
        "(base_url, agent_api_key, sage_username, sage_password)",
    ]
    data["company"]["enabled"] = False
    call_command("import_company", str(write(tmp_path, data)), stdout=io.StringIO())
    assert not ExpensifyCredential.objects.exists() and not SageConnection.objects.exists()


def test_an_enabled_agent_company_needs_the_agent_key(tmp_path: Path, env: dict[str, str]) -> None:
    data = company_data()
    del data["sage"]["agent_api_key"]
    assert import_problems(write(tmp_path, data)) == [
        "sage.agent_api_key: an enabled company needs the Sage 100 agent API key: add a reference like "
        "env:SAGE_AGENT_API_KEY"
    ]
    data["sage"]["transport"] = "soap"
    call_command("import_company", str(write(tmp_path, data)), stdout=io.StringIO())
    assert Company.objects.get(code="ACM").sage.transport == "soap"


def test_connections_stored_earlier_count_when_the_file_leaves_them_out(
    tmp_path: Path, env: dict[str, str]
) -> None:
    call_command("import_company", str(write(tmp_path, company_data())), stdout=io.StringIO())
    data = company_data()
    del data["expensify"], data["sage"]
    call_command("import_company", str(write(tmp_path, data)), stdout=io.StringIO())
    assert Company.objects.get(code="ACM").sage.sage_password == ENV["ACME_SAGE_PASSWORD"]

    SageConnection.objects.update(sage_password="", sage_username="")
    assert import_problems(write(tmp_path, data)) == [
        "sage.sage_username: an enabled company needs the Sage 100 username; the stored connection has none",
        "sage.sage_password: an enabled company needs the Sage 100 password; the stored connection has none",
    ]
