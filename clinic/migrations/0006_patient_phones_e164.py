"""Stored phones to E.164 (``+49305550000``), as every door now stores them: the API, the
clinic file, the admin and the front desk. A number that cannot be one (no country code)
is left as it is, for staff to correct; nothing is lost."""

import re

from django.db import migrations

PUNCTUATION = re.compile(r"[\s().\-/]")
E164 = re.compile(r"\+[1-9][0-9]{5,14}")


def to_e164(apps, schema_editor):
    Patient = apps.get_model("clinic", "Patient")
    changed = []
    for patient in Patient.objects.exclude(phone="").only("pk", "phone").iterator():
        compact = PUNCTUATION.sub("", patient.phone)
        if compact.startswith("00"):
            compact = "+" + compact[2:]
        if E164.fullmatch(compact) and compact != patient.phone:
            patient.phone = compact
            changed.append(patient)
    Patient.objects.bulk_update(changed, ["phone"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0005_no_show_lookback_days"),
    ]

    operations = [
        migrations.RunPython(to_e164, migrations.RunPython.noop),
    ]
