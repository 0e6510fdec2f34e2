"""Idempotency records are scoped by user, clinic, method and path, and written before
their answer, in the answer's transaction (issue 10).

The records already stored name no clinic and cannot be given one; they are a replay cache
of a day, so they are dropped: a client repeating such a request after the deployment
runs it again (for a booking: 409 slot_taken, as a crash between the booking and its record
would have given before)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def drop_unscoped_records(apps, schema_editor):
    apps.get_model("scheduling", "IdempotencyRecord").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0004_memberships_and_token_expiry"),
        ("scheduling", "0005_cancel_permission"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_unscoped_records, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="idempotencyrecord", name="idempotency_unique_key"),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="clinic",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="clinic.clinic"
            ),
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="method",
            field=models.CharField(max_length=10),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="fingerprint",
            field=models.CharField(help_text="SHA-256 of the request body", max_length=64),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="status_code",
            field=models.PositiveSmallIntegerField(null=True),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="body",
            field=models.JSONField(null=True),
        ),
        migrations.AddConstraint(
            model_name="idempotencyrecord",
            constraint=models.UniqueConstraint(
                fields=("user", "clinic", "method", "path", "key"), name="idempotency_unique_key"
            ),
        ),
        migrations.AddIndex(
            model_name="idempotencyrecord",
            index=models.Index(fields=["created_at"], name="idempotency_created_at"),
        ),
    ]
