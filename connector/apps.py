from django.apps import AppConfig


class ConnectorConfig(AppConfig):
    name = "connector"
    verbose_name = "Companies and connections"
    default_auto_field = "django.db.models.BigAutoField"
