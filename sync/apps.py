from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "Reports and journal entries"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sync import signals  # noqa: F401  (connects the schedule signals)
