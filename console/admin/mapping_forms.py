"""The mapping pages' forms: accounts checked against the cached Sage chart, spreadsheet uploads."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from import_export.forms import ImportForm

from connector.models import Company, GLAccount
from mappings import services
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping

MAX_CHOICES = 3000


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class AccountInput(forms.TextInput):
    """A text box that suggests the active accounts of the cached chart (a <datalist>)."""

    def __init__(self, list_id: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"list": list_id, "autocomplete": "off", "size": 20, **(attrs or {})})
        self.list_id = list_id
        self.choices: list[tuple[str, str]] = []

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        box = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">{}</option>', self.choices)
        return format_html('{}<datalist id="{}">{}</datalist>', box, self.list_id, options)


def active_accounts(company_id: Any) -> list[tuple[str, str]]:
    """(account, "CODE description") of the active accounts, for one company or all of them."""
    rows = GLAccount.objects.filter(status=GLAccount.Status.ACTIVE).select_related("company")
    if company_id:
        rows = rows.filter(company_id=company_id)
    return [
        (row.account, f"{row.company.code} {row.description}".strip())
        for row in rows.order_by("company__code", "account")[:MAX_CHOICES]
    ]


def refused_account(company: Company, account: str) -> Any:
    """The account's chart problem as an error with a refresh-chart link, or None."""
    problem = services.chart_problem(company=company, account=account)
    if problem is None:
        return None
    url = reverse("admin:connector_company_refresh_chart", args=[company.pk])
    return format_html(
        '{}. Map an active account, or <a href="{}">refresh the chart of accounts from Sage 100</a> '
        "if it changed there.",
        problem[0].upper() + problem[1:],
        url,
    )


class AccountCheckedForm(forms.ModelForm):  # type: ignore[type-arg]
    """A mapping form whose account fields must be active in the company's cached chart."""

    account_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        company_id = self.data.get("company") or self.initial.get("company") or self.instance.company_id
        choices = active_accounts(company_id if str(company_id or "").isdigit() else None)
        for name in self.account_fields:
            if name in self.fields:
                widget = AccountInput(f"accounts-{name}")
                widget.choices = choices
                self.fields[name].widget = widget
                if choices:
                    self.fields[name].help_text = (
                        f"{self.fields[name].help_text} Suggestions: the active accounts of the cached chart."
                    ).strip()

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # the model's clean() formats the account to the mask first
        company = getattr(self.instance, "company", None) if self.instance.company_id else None
        if company is None:
            return
        for name in self.account_fields:
            if name in self.errors or name not in self.fields:
                continue
            error = refused_account(company, getattr(self.instance, name) or "")
            if error is not None:
                self.add_error(name, error)


class CategoryMappingForm(AccountCheckedForm):
    account_fields = ("account",)

    class Meta:
        model = CategoryMapping
        fields = ("company", "category", "account", "note")


class EmployeeMappingForm(AccountCheckedForm):
    account_fields = ("reimbursable_offset_account",)

    class Meta:
        model = EmployeeMapping
        fields = ("company", "employee_email", "reimbursable_offset_account", "note")


class TagMappingForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = TagMapping
        fields = ("company", "tag_level", "tag_value", "segment", "code")


class MappingImportForm(ImportForm):  # type: ignore[misc]
    """The stock import form: files over MAPPING_IMPORT_MAX_BYTES refused before they are read, and
    the format taken from the file's extension (.csv or .xlsx) rather than from a menu."""

    EXTENSIONS = {".csv": "csv", ".xlsx": "xlsx"}

    def __init__(self, formats: Any, resources: Any, **kwargs: Any) -> None:
        super().__init__(formats, resources, **kwargs)
        self.format_classes = list(formats)
        self.fields["format"].required = False
        self.fields["format"].help_text = "Taken from the file's name: .csv or .xlsx."

    def clean_import_file(self) -> Any:
        upload = self.cleaned_data["import_file"]
        limit = settings.MAPPING_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {_megabytes(upload.size)} ({upload.size} bytes); mapping files are "
                f"limited to {_megabytes(limit)} ({limit} bytes). Split it into smaller files."
            )
        suffix = PurePath(upload.name or "").suffix.lower()
        if suffix not in self.EXTENSIONS:
            raise forms.ValidationError(
                f"“{upload.name}” is not a spreadsheet this page reads: save it as .xlsx (Excel) or .csv, "
                "with the column names in row 1."
            )
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()
        upload = cleaned.get("import_file")
        if upload is not None:
            wanted = self.EXTENSIONS[PurePath(upload.name).suffix.lower()]
            for index, format_class in enumerate(self.format_classes):
                if format_class().get_extension() == wanted:
                    cleaned["format"] = str(index)
        return cleaned
