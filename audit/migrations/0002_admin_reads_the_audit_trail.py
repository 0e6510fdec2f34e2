from django.db import migrations


def sync_roles(apps, schema_editor):
    # The admin role reads the audit trail (clinic.roles.ROLE_PERMISSIONS).
    from clinic.roles import sync_role_groups

    sync_role_groups(
        apps.get_model("auth", "Group"),
        apps.get_model("auth", "Permission"),
        apps.get_model("contenttypes", "ContentType"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("clinic", "0002_roles"),
        ("scheduling", "0005_cancel_permission"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
