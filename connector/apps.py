from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConnectorConfig(AppConfig):
    name = "connector"
    verbose_name = "Companies and connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connector import checks  # noqa: F401  (registers the system checks)
        from connector.roles import ensure_roles

        post_migrate.connect(_ensure_roles_after_migrate, sender=self, dispatch_uid="connector-roles")
        self._ensure_roles = ensure_roles


def _ensure_roles_after_migrate(sender: AppConfig, **kwargs: object) -> None:
    from connector.roles import ensure_roles

    ensure_roles()
