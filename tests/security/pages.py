"""Every admin page, built from admin.site._registry so a newly registered model is covered too."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.db import models
from django.urls import NoReverseMatch, reverse

# Views that are not per-object change/delete/history pages but exist per object.
PER_OBJECT_EXTRAS = {
    "connector.company": (
        "admin:connector_company_policy_data",
        "admin:connector_company_refresh_chart",
        "admin:connector_company_sync_now",
    ),
    "sync.expensereport": (
        "admin:sync_expensereport_preview",
        "admin:sync_expensereport_replay",
        "admin:sync_expensereport_accept_change",
        "admin:sync_expensereport_lookup",
        "admin:sync_expensereport_correction",
    ),
}
# Views that exist per model beyond changelist and add.
PER_MODEL_EXTRAS = ("import", "export", "download", "agent_docs")


@dataclass(frozen=True)
class Page:
    label: str  # app_label.model_name
    kind: str  # changelist, add, change, delete, history, import, export, or an extra's URL name
    url: str


def registered_models() -> list[type[models.Model]]:
    return sorted(admin.site._registry, key=lambda m: m._meta.label_lower)


def model_pages(model: type[models.Model]) -> list[Page]:
    opts = model._meta
    label = opts.label_lower
    pages = [
        Page(label, "changelist", reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")),
        Page(label, "add", reverse(f"admin:{opts.app_label}_{opts.model_name}_add")),
    ]
    for extra in PER_MODEL_EXTRAS:
        try:
            pages.append(Page(label, extra, reverse(f"admin:{opts.app_label}_{opts.model_name}_{extra}")))
        except NoReverseMatch:
            pass
    return pages


def object_pages(obj: models.Model) -> list[Page]:
    opts = obj._meta
    label = opts.label_lower
    base = f"admin:{opts.app_label}_{opts.model_name}"
    pages = [
        Page(label, kind, reverse(f"{base}_{kind}", args=[obj.pk]))
        for kind in ("change", "delete", "history")
    ]
    for name in PER_OBJECT_EXTRAS.get(label, ()):
        pages.append(Page(label, name, reverse(name, args=[obj.pk])))
    return pages


def all_pages(per_model: int = 5) -> list[Page]:
    """Model pages of every registered model, and object pages of up to `per_model` rows of each."""
    pages: list[Page] = []
    for model in registered_models():
        pages += model_pages(model)
        for obj in model._default_manager.order_by("pk")[:per_model]:
            pages += object_pages(obj)
    return pages
