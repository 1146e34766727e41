"""The company page's connection inlines: the Expensify credential and the Sage 100 connection.

Secrets are write-only (console.admin.secrets). An enabled company needs every value its
connections cannot work without (console.connections): the inline formset checks them, also
when an inline is left entirely blank (Django would skip such a form and save nothing).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from connector.models import Company, ExpensifyCredential, SageConnection
from console.admin.secrets import WriteOnlySecretsForm
from console.connections import NeededField, missing_from, needed_fields


def _is_present(form: forms.ModelForm, need: NeededField) -> bool:  # type: ignore[type-arg]
    """Whether the form (as posted) gives the value; a blank, untouched inline gives none."""
    if need.secret and isinstance(form, WriteOnlySecretsForm):
        return form.secret_is_present(need.attr)
    return bool(getattr(form, "cleaned_data", {}).get(need.attr))


def _transport(form: forms.ModelForm) -> str:  # type: ignore[type-arg]
    cleaned = getattr(form, "cleaned_data", {})
    if "transport" in cleaned:
        return str(cleaned["transport"])
    if form.is_bound and "transport" in form.fields:
        # An untouched inline was not cleaned: the transport shown on it (agent by default).
        return str(form.data.get(form.add_prefix("transport")) or getattr(form.instance, "transport", ""))
    return str(getattr(form.instance, "transport", ""))


class ConnectionForm(WriteOnlySecretsForm):
    """A connection's form: a needed value left blank is named in words, not "This field is required"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for need in needed_fields(self._meta.model, transport=_transport(self)):
            field = self.fields.get(need.attr)
            if field is not None and field.required:
                field.error_messages = {**field.error_messages, "required": f"Enter the {need.words}."}


class ExpensifyCredentialForm(ConnectionForm):
    secret_fields = ("partner_user_secret",)

    class Meta:
        model = ExpensifyCredential
        fields = ("base_url", "partner_user_id", "partner_user_secret", "timeout_seconds")


class SageConnectionForm(ConnectionForm):
    secret_fields = ("agent_api_key", "sage_password")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "transport" in self.fields:
            self.fields["transport"].help_text = format_html(
                'The Windows agent: install, certificate, keys and firewall are in <a href="{}" '
                'target="_blank" rel="noopener">the agent guide (docs/agent.md)</a>.',
                reverse("admin:connector_company_agent_docs"),
            )

    class Meta:
        model = SageConnection
        fields = (
            "transport",
            "base_url",
            "agent_api_key",
            "sage_username",
            "sage_password",
            "agent_certificate",
            "connect_timeout",
            "read_timeout",
        )


class EnabledCompanyConnectionFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    """Refuses an enabled company whose connection lacks a needed value, naming each one."""

    def clean(self) -> None:
        super().clean()
        company = self.instance
        if not isinstance(company, Company) or not company.enabled:
            return  # a disabled company may be saved without connections
        if not self.forms:
            self._check_stored(company)
        for form in self.forms:
            deleted = bool(getattr(form, "cleaned_data", {}).get("DELETE"))
            for need in needed_fields(self.model, transport=_transport(form)):
                if need.attr in form.errors or (_is_present(form, need) and not deleted):
                    continue
                form.add_error(need.attr if need.attr in form.fields else None, need.missing_message())

    def _check_stored(self, company: Company) -> None:
        """No form posted for this connection: what is stored must hold every needed value."""
        stored = self.model._default_manager.filter(company=company).first() if company.pk else None
        missing = missing_from(stored) if stored is not None else list(needed_fields(self.model))
        if missing:
            raise forms.ValidationError([need.missing_message() for need in missing])


class ExpensifyCredentialInline(admin.StackedInline):  # type: ignore[type-arg]
    model = ExpensifyCredential
    form = ExpensifyCredentialForm
    formset = EnabledCompanyConnectionFormSet
    can_delete = False
    extra = 1
    max_num = 1


class SageConnectionInline(admin.StackedInline):  # type: ignore[type-arg]
    model = SageConnection
    form = SageConnectionForm
    formset = EnabledCompanyConnectionFormSet
    can_delete = False
    extra = 1
    max_num = 1
