"""The two operator roles, kept in step with the permissions that exist."""

from __future__ import annotations

from typing import Any

OPERATOR = "Connector operator"
ADMINISTRATOR = "Connector administrator"

CONNECTOR_APPS = ("connector", "mappings", "sync", "audit", "django_q")
CREDENTIAL_MODELS = ("expensifycredential", "sageconnection")

# Operators work reports, mappings and replays; they never see credentials.
OPERATOR_PERMISSIONS = {
    "connector": {"view_company", "sync_company", "test_connection_company", "view_glaccount"},
    "mappings": {
        f"{verb}_{model}"
        for verb in ("view", "add", "change", "delete", "import", "export")
        for model in ("categorymapping", "tagmapping", "employeemapping")
    },
    "sync": {
        "view_expensereport",
        "replay_expensereport",
        "view_expense",
        "view_journalentry",
        "view_journalline",
        "view_syncrun",
    },
    "audit": {"view_auditevent"},
    # Only schedules: django-q2's task pages offer "Resubmit" to anyone who can view them.
    "django_q": {"view_schedule"},
}


def ensure_roles(apps: Any = None, **_: Any) -> None:
    """Create or update both groups (called from a migration and after every migrate)."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    connector_perms = permission_model.objects.filter(content_type__app_label__in=CONNECTOR_APPS)

    admin_group, _ = group_model.objects.get_or_create(name=ADMINISTRATOR)
    admin_group.permissions.set(list(connector_perms))

    operator_group, _ = group_model.objects.get_or_create(name=OPERATOR)
    wanted = [
        perm
        for perm in connector_perms.select_related("content_type")
        if perm.codename in OPERATOR_PERMISSIONS.get(perm.content_type.app_label, set())
    ]
    operator_group.permissions.set(wanted)
