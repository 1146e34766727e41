"""Write-only secret fields for admin forms: never rendered back, blank keeps the stored value."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from django import forms
from django.db import models

_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL: a secret stored for one origin is never sent to another."""
    parts = urlsplit(url or "")
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


class WriteOnlySecretsForm(forms.ModelForm):  # type: ignore[type-arg]
    """A ModelForm whose `secret_fields` are password inputs that never show the stored value."""

    secret_fields: ClassVar[tuple[str, ...]] = ()
    # Changing this URL field to another host (or scheme or port) needs the set secrets typed again.
    url_field: ClassVar[str] = "base_url"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance: models.Model | None = self.instance if self.instance.pk else None
        # Read before validation changes the instance: a stored secret counts as present.
        self.stored_secrets: frozenset[str] = frozenset(
            name for name in self.secret_fields if instance is not None and getattr(instance, name)
        )
        for name in self.secret_fields:
            if name not in self.fields:
                continue
            model_field = self._meta.model._meta.get_field(name)
            is_set = name in self.stored_secrets
            status = "A value is set; leave blank to keep it." if is_set else "Not set."
            self.fields[name] = forms.CharField(
                label=str(getattr(model_field, "verbose_name", name)).capitalize(),
                required=False,
                strip=False,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text=f"{status} {getattr(model_field, 'help_text', '')}".strip(),
            )
            self.initial[name] = ""

    def typed_secrets(self) -> list[str]:
        """Labels of the secret fields that were typed on this (bound) form."""
        if not self.is_bound:
            return []
        return [
            str(self.fields[name].label or name)
            for name in self.secret_fields
            if name in self.fields and self.data.get(self.add_prefix(name))
        ]

    def _moved_to_another_host(self, cleaned: dict[str, Any]) -> bool:
        if not self.instance.pk or self.url_field not in cleaned:
            return False
        stored = (
            type(self.instance)
            ._default_manager.filter(pk=self.instance.pk)
            .values_list(self.url_field, flat=True)
            .first()
        )
        return stored is not None and url_origin(stored) != url_origin(cleaned[self.url_field] or "")

    def _refuse_stored_secrets_for_a_new_host(self, cleaned: dict[str, Any]) -> None:
        # The stored secrets were given for the old host: keeping them would hand them over.
        missing = [
            name
            for name in self.secret_fields
            if name in self.fields and not cleaned.get(name) and name in self.stored_secrets
        ]
        for name in missing:
            self.add_error(
                name,
                f"The {self.url_field.replace('_', ' ')} now names another host: type "
                f"{self.fields[name].label or name} again (a blank would send the stored "
                "secret to the new host).",
            )
        if missing:
            labels = ", ".join(str(self.fields[n].label or n) for n in missing)
            raise forms.ValidationError(
                f"The URL now names another host: enter {labels} again, or keep the old URL."
            )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self._moved_to_another_host(cleaned):
            self._refuse_stored_secrets_for_a_new_host(cleaned)
        for name in self.secret_fields:
            if not cleaned.get(name) and self.instance.pk:
                # Blank keeps what is stored: construct_instance skips fields not in cleaned_data.
                cleaned.pop(name, None)
        return cleaned

    def secret_is_present(self, name: str) -> bool:
        """Typed on this form, or stored before (blank keeps it)."""
        return bool(getattr(self, "cleaned_data", {}).get(name)) or name in self.stored_secrets
