"""Clinic.setup_version changes in the same transaction as any change to the clinic's setup.

The slot search keeps a clinic's setup (providers, hours, time off, rooms, equipment,
types, overbooking rules, closures) in process memory, keyed by this version, which the
bookings query reads in the same statement (scheduling/setup_cache.py). Triggers, not
Python signals, bump it: every write path counts, including the admin's inlines, bulk
loads, queryset updates, many-to-many changes and plain SQL.

A new version is drawn from a sequence, never ``old + 1``: sequences ignore rollbacks, so
a version a rolled-back transaction used (and a search inside it may have cached) is
never issued again. A clinic row saved from a stale copy cannot move the version back.
"""

from django.db import migrations

# Each trigger names how its table reaches the clinic: through its own clinic_id, or
# through the provider, room or appointment type it belongs to.
TABLES = {
    "clinic_provider": "clinic_id",
    "clinic_workinghours": "provider_id",
    "clinic_timeoff": "provider_id",
    "clinic_room": "clinic_id",
    "clinic_room_equipment": "room_id",
    "clinic_equipment": "clinic_id",
    "clinic_appointmenttype": "clinic_id",
    "clinic_appointmenttype_required_equipment": "appointmenttype_id",
    "clinic_appointmenttype_providers": "appointmenttype_id",
    "clinic_overbookingrule": "clinic_id",
    "clinic_closure": "clinic_id",
}

FUNCTIONS = """
CREATE SEQUENCE clinic_setup_version_seq;

CREATE FUNCTION clinic_setup_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed jsonb[] := '{}';
  via text := TG_ARGV[0];
  key bigint;
  owner bigint;
  item jsonb;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN changed := changed || to_jsonb(OLD); END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN changed := changed || to_jsonb(NEW); END IF;
  FOREACH item IN ARRAY changed LOOP
    key := (item ->> via)::bigint;
    owner := CASE via
      WHEN 'clinic_id' THEN key
      WHEN 'provider_id' THEN (SELECT clinic_id FROM clinic_provider WHERE id = key)
      WHEN 'room_id' THEN (SELECT clinic_id FROM clinic_room WHERE id = key)
      WHEN 'appointmenttype_id' THEN (SELECT clinic_id FROM clinic_appointmenttype WHERE id = key)
    END;
    UPDATE clinic_clinic SET setup_version = nextval('clinic_setup_version_seq') WHERE id = owner;
  END LOOP;
  RETURN NULL;
END $$;

CREATE FUNCTION clinic_setup_version_never_back() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.setup_version < OLD.setup_version THEN
    NEW.setup_version := OLD.setup_version;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER clinic_setup_version_never_back BEFORE UPDATE ON clinic_clinic
  FOR EACH ROW EXECUTE FUNCTION clinic_setup_version_never_back();
"""

DROP_FUNCTIONS = """
DROP TRIGGER clinic_setup_version_never_back ON clinic_clinic;
DROP FUNCTION clinic_setup_version_never_back();
DROP FUNCTION clinic_setup_changed();
DROP SEQUENCE clinic_setup_version_seq;
"""


def trigger(table: str, via: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"CREATE TRIGGER {table}_setup_changed AFTER INSERT OR UPDATE OR DELETE ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION clinic_setup_changed('{via}');",
        f"DROP TRIGGER {table}_setup_changed ON {table};",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0007_offers_overbooking_risk_setup_version"),
    ]

    operations = [
        migrations.RunSQL(FUNCTIONS, DROP_FUNCTIONS),
        *(trigger(table, via) for table, via in TABLES.items()),
    ]
