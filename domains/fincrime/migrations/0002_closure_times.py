"""Closure times for alerts and cases, which retention counts FATF R.11's five years from.

Alerts already closed as false positives get the best time there is: when the second analyst
approved the close, else the alert's last change (what the purge used until now). Cases had no
closure before this migration, so every existing case is open and stays open (`closed_at` empty).
"""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce


def alert_closure_backfill(apps, schema_editor):
    Alert = apps.get_model("fincrime", "Alert")
    DispositionRequest = apps.get_model("fincrime", "DispositionRequest")
    approved = (
        DispositionRequest.objects.filter(alert=OuterRef("pk"), decision="approved")
        .order_by("-decided_at")
        .values("decided_at")[:1]
    )
    Alert.objects.filter(status="closed", closed_at__isnull=True).update(
        closed_at=Coalesce(Subquery(approved), "updated_at")
    )


class Migration(migrations.Migration):
    dependencies = [("fincrime", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="closed_at",
            field=models.DateTimeField(blank=True, help_text="When it was closed as a false positive.", null=True),
        ),
        migrations.AddField(
            model_name="case",
            name="closed_at",
            field=models.DateTimeField(
                blank=True,
                db_index=True,
                help_text="When the investigation was closed; empty while open. Retention counts from here (FATF R.11).",
                null=True,
            ),
        ),
        migrations.RunPython(alert_closure_backfill, migrations.RunPython.noop),
    ]
