"""Admin forms for the mapping spreadsheets."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from import_export.forms import ImportForm


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class MappingImportForm(ImportForm):  # type: ignore[misc]
    """The stock import form, refusing files over MAPPING_IMPORT_MAX_BYTES before they are read."""

    def clean_import_file(self) -> Any:
        upload = self.cleaned_data["import_file"]
        limit = settings.MAPPING_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {_megabytes(upload.size)} ({upload.size} bytes); mapping files are "
                f"limited to {_megabytes(limit)} ({limit} bytes). Split it into smaller files."
            )
        return upload
