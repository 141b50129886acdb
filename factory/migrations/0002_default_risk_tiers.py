"""The four tiers every installation starts with; a policy import may change what they require."""

from django.db import migrations

TIERS = [
    # name, rank, description, tests, evals, blocking severity, approvals, auto deploy
    ("low", 10, "Docs, copy and isolated additions.", True, True, "high", 0, True),
    ("medium", 20, "New skills and products that only read.", True, True, "high", 0, True),
    ("high", 30, "Anything that writes, moves money or changes what a team may see.", True, True, "medium", 1, False),
    ("critical", 40, "The executor core, the risk gate itself, auth and tenancy.", True, True, "low", 2, False),
]


def create_tiers(apps, schema_editor):
    RiskTier = apps.get_model("factory", "RiskTier")
    for name, rank, description, tests, evals, severity, approvals, auto in TIERS:
        RiskTier.objects.update_or_create(
            name=name,
            defaults={
                "rank": rank,
                "description": description,
                "requires_tests": tests,
                "requires_evals": evals,
                "blocking_severity": severity,
                "required_approvals": approvals,
                "requester_may_approve": False,
                "auto_deploy": auto,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("factory", "0001_initial")]

    operations = [migrations.RunPython(create_tiers, migrations.RunPython.noop)]
