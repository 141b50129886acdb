"""PostgreSQL only: triggers that capture changes to tickets, alerts, cases and case notes (bulk
updates and raw SQL included), and triggers that refuse UPDATE and DELETE of audit rows from any
role, the app's own included, except a DELETE of rows past the 12-month floor (the retention purge).
SQLite has no such triggers; there the model and queryset guards are the protection."""

from django.db import migrations

WATCHED = ["ecm_ticket", "fincrime_alert", "fincrime_case", "fincrime_casenote"]
PROTECTED = {"audit_auditevent": "occurred_at", "audit_rowchange": "changed_at"}

CAPTURE = """
CREATE OR REPLACE FUNCTION audit_capture_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND to_jsonb(OLD) = to_jsonb(NEW) THEN
        RETURN NULL;
    END IF;
    INSERT INTO audit_rowchange (changed_at, table_name, operation, row_id, old, new, db_user, app_actor)
    VALUES (
        clock_timestamp(), TG_TABLE_NAME, TG_OP,
        COALESCE((CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END) ->> 'id', ''),
        CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END,
        CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END,
        current_user,
        COALESCE(current_setting('aspora.actor', true), '')
    );
    RETURN NULL;
END $$;
"""

REFUSE = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV[0] names the row's time column; past the 12-month floor a row may be purged.
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
        cursor.execute(CAPTURE)
        cursor.execute(REFUSE)
        for table in WATCHED:
            cursor.execute(f"DROP TRIGGER IF EXISTS audit_capture ON {table}")
            cursor.execute(
                f"CREATE TRIGGER audit_capture AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_capture_row_change()"
            )
        for table, column in PROTECTED.items():
            cursor.execute(f"DROP TRIGGER IF EXISTS audit_append_only ON {table}")
            cursor.execute(
                f"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('{column}')"
            )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in [*WATCHED, *PROTECTED]:
            cursor.execute(f"DROP TRIGGER IF EXISTS audit_capture ON {table}")
            cursor.execute(f"DROP TRIGGER IF EXISTS audit_append_only ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS audit_capture_row_change()")
        cursor.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("ecm", "0002_ticket_resolution_alter_ticket_status"),
        ("fincrime", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
