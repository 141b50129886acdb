"""What closing a case decided, and who decided it: the outcome (with a detail for Other) and the
person. Cases closed before this have neither; the page says the outcome was not recorded."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("fincrime", "0002_closure_times"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="closed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="outcome",
            field=models.CharField(
                blank=True,
                choices=[
                    ("sar_filed", "SAR filed"),
                    ("no_suspicion", "No suspicion confirmed"),
                    ("law_enforcement", "Referred to law enforcement"),
                    ("other", "Other"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="outcome_detail",
            field=models.TextField(blank=True, help_text="Required when the outcome is Other."),
        ),
    ]
