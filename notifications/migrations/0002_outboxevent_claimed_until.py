from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxevent",
            name="claimed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
