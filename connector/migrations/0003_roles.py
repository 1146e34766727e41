"""Create the 'Connector operator' and 'Connector administrator' groups."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    from connector.roles import ensure_roles

    # Permissions are normally created after migrate; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ensure_roles(apps)


def remove_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    from connector.roles import ADMINISTRATOR, OPERATOR

    apps.get_model("auth", "Group").objects.filter(name__in=[OPERATOR, ADMINISTRATOR]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("connector", "0002_alter_company_options"),
        ("mappings", "0002_import_export_permissions"),
        ("sync", "0002_alter_expensereport_options"),
        ("audit", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
