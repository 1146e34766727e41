"""Write-only secret fields for admin forms: never rendered back, blank keeps the stored value."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.db import models


class WriteOnlySecretsForm(forms.ModelForm):  # type: ignore[type-arg]
    """A ModelForm whose `secret_fields` are password inputs that never show the stored value."""

    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance: models.Model | None = self.instance if self.instance.pk else None
        for name in self.secret_fields:
            if name not in self.fields:
                continue
            model_field = self._meta.model._meta.get_field(name)
            is_set = bool(instance is not None and getattr(instance, name))
            status = "A value is set; leave blank to keep it." if is_set else "Not set."
            self.fields[name] = forms.CharField(
                label=model_field.verbose_name.capitalize(),
                required=False,
                strip=False,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text=f"{status} {model_field.help_text}".strip(),
            )
            self.initial[name] = ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.secret_fields:
            if not cleaned.get(name) and self.instance.pk:
                # Blank keeps what is stored: construct_instance skips fields not in cleaned_data.
                cleaned.pop(name, None)
        return cleaned
