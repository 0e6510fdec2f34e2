from django.db import migrations


def sync_roles(apps, schema_editor):
    # Cancelling became a permission of its own: the front desk and the admin get it, a
    # clinician does not.
    from clinic.roles import sync_role_groups

    sync_role_groups(
        apps.get_model("auth", "Group"),
        apps.get_model("auth", "Permission"),
        apps.get_model("contenttypes", "ContentType"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0004_stats_dirty_days"),
        ("clinic", "0002_roles"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="appointment",
            options={
                "ordering": ["start", "provider__code"],
                "permissions": [("cancel_appointment", "Can cancel appointments")],
            },
        ),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
