"""PostgreSQL only: the append-only trigger learns about the archive (docs/audit.md#archive).

A DELETE of an audit row is allowed past the 12-month floor (the retention purge), as before, or past
the 3-month online floor when a recorded `audit_auditsegment` covers its `seq` (the archive, which
records the segment in the same transaction). Anything younger than 3 months is refused whatever
segment rows exist. Segment rows get the same trigger: never updated, deleted only past 12 months.
"""

from django.db import migrations

REFUSE = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    happened timestamptz;
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- TG_ARGV[0] names the row's time column; past the 12-month floor a row may be purged.
        happened := (to_jsonb(OLD) ->> TG_ARGV[0])::timestamptz;
        IF happened < now() - interval '365 days' THEN
            RETURN OLD;
        END IF;
        -- Past the 3 online months (3 x 31 days), an audit event may leave once a segment holds it.
        IF TG_TABLE_NAME = 'audit_auditevent' AND happened < now() - interval '93 days' THEN
            IF EXISTS (
                SELECT 1 FROM audit_auditsegment s
                WHERE (to_jsonb(OLD) ->> 'seq')::bigint BETWEEN s.first_seq AND s.last_seq
            ) THEN
                RETURN OLD;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit rows are append-only: % of %.id=% refused', TG_OP, TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""

# As in 0002, for going back.
PREVIOUS = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND (to_jsonb(OLD) ->> TG_ARGV[0])::timestamptz < now() - interval '365 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit rows are append-only: % of %.id=% refused', TG_OP, TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(REFUSE)
        cursor.execute("DROP TRIGGER IF EXISTS audit_append_only ON audit_auditsegment")
        cursor.execute(
            "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_auditsegment "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('last_occurred_at')"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS audit_append_only ON audit_auditsegment")
        cursor.execute(PREVIOUS)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_auditsegment")]

    operations = [migrations.RunPython(forwards, backwards)]
