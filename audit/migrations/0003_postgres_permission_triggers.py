"""PostgreSQL only: capture grants and roles below the app too. Guardian's object-permission pages,
pack syncs and scripts change these tables without an admin LogEntry; the same row trigger as for
tickets and alerts (0002) records every insert, update and delete into audit_rowchange."""

from django.db import migrations

WATCHED = [
    "skills_skillgroupobjectpermission",
    "skills_skilluserobjectpermission",
    "skills_domaingroupobjectpermission",
    "skills_domainuserobjectpermission",
    "tenants_membership",
    "tenants_user_groups",
    "tenants_user_user_permissions",
    "auth_group_permissions",
    "factory_risktier",
    "factory_riskrule",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in WATCHED:
            cursor.execute(f"DROP TRIGGER IF EXISTS audit_capture ON {table}")
            cursor.execute(
                f"CREATE TRIGGER audit_capture AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_capture_row_change()"
            )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in WATCHED:
            cursor.execute(f"DROP TRIGGER IF EXISTS audit_capture ON {table}")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_postgres_triggers"),
        ("skills", "0001_initial"),
        ("tenants", "0003_user_timezone"),
        ("factory", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
