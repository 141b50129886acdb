"""Retention: FATF R.11's floors, raised per jurisdiction, and a purge that never touches a row still
inside its period (rows a minute either side of each boundary)."""

import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from aspora.celery import app as celery_app
from audit import services as audit_services
from audit.checks import retention_settings_check
from audit.models import AuditEvent, RowChange
from audit.retention import retention_periods, retention_purge
from audit.services import audit_chain_verify, audit_event_append
from audit.tasks import retention_purge_task
from domains.fincrime.demo import fincrime_demo_seed
from domains.fincrime.models import Alert, AlertStatus, Case
from tenants.demo import demo_seed
from tenants.models import User
from tests.skills.conftest import eager_tasks  # noqa: F401 - shared fixture

MINUTE = timedelta(minutes=1)
FIVE_YEARS = timedelta(days=5 * 366)
TWELVE_MONTHS = timedelta(days=12 * 31)


def test_the_floors_apply_when_nothing_is_configured(settings):
    settings.ASPORA_RETENTION = {}
    assert retention_periods() == retention_periods(tenant_slug="acme")
    periods = retention_periods()
    assert (periods.case_years, periods.audit_months, periods.audit_online_months) == (5, 12, 3)


def test_a_jurisdiction_raises_its_tenants_periods(settings):
    settings.ASPORA_RETENTION = {
        "jurisdictions": {"AE": {"case_years": 8, "audit_months": 24}},
        "tenants": {"aspora-remit": "AE"},
    }
    assert retention_periods(tenant_slug="aspora-remit").case_years == 8
    assert retention_periods(tenant_slug="aspora-remit").audit_months == 24
    assert retention_periods(tenant_slug="northwind").case_years == 5


BELOW_FLOOR = r"ASPORA_RETENTION\['default'\]\['case_years'\] is 4: it may only raise the minimum of 5"
UNDEFINED = r"names jurisdiction 'ZZ', which ASPORA_RETENTION\['jurisdictions'\] does not define"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"default": {"case_years": 4}}, BELOW_FLOOR),
        ({"jurisdictions": {"XX": {"audit_months": 6}}, "tenants": {"acme": "XX"}}, r"\['XX'\]\['audit_months'\] is 6"),
        ({"tenants": {"acme": "ZZ"}}, UNDEFINED),
        ({"default": {"case_yrs": 9}}, r"unknown period 'case_yrs'"),
    ],
)
def test_configuring_below_a_floor_or_a_typo_is_refused_with_where(settings, config, message):
    settings.ASPORA_RETENTION = config
    with pytest.raises(ImproperlyConfigured, match=message):
        retention_periods(tenant_slug="acme")
    (error,) = retention_settings_check(None)
    assert error.id == "audit.E001" and re.search(message, error.msg)


@pytest.fixture
def alerts(db):
    demo_seed(password=None)
    fincrime_demo_seed(count=8)
    return list(Alert.objects.filter(case__isnull=True).order_by("pk")[:4])


def _set(alert: Alert, status: str, closed_ago: timedelta) -> None:
    Alert.objects.filter(pk=alert.pk).update(status=status, updated_at=timezone.now() - closed_ago)


def test_closed_alerts_go_only_once_five_years_have_passed_since_closure(alerts, settings):
    settings.ASPORA_RETENTION = {}
    outside, inside, open_old, with_case = alerts
    _set(outside, AlertStatus.CLOSED, FIVE_YEARS + MINUTE)
    _set(inside, AlertStatus.CLOSED, FIVE_YEARS - MINUTE)
    _set(open_old, AlertStatus.IN_REVIEW, FIVE_YEARS * 2)
    Case.objects.create(alert=with_case, reason="structuring", opened_by=User.objects.get(username="nina"))
    _set(with_case, AlertStatus.CLOSED, FIVE_YEARS * 2)

    counts = retention_purge()

    assert counts["alerts"] == 1
    assert not Alert.objects.filter(pk=outside.pk).exists()
    assert Alert.objects.filter(pk__in=[inside.pk, open_old.pk, with_case.pk]).count() == 3


def test_a_longer_jurisdiction_keeps_its_tenants_alerts(alerts, settings):
    settings.ASPORA_RETENTION = {"jurisdictions": {"AE": {"case_years": 7}}, "tenants": {"aspora-remit": "AE"}}
    six_years = alerts[0]
    _set(six_years, AlertStatus.CLOSED, timedelta(days=6 * 366))

    assert retention_purge()["alerts"] == 0
    assert Alert.objects.filter(pk=six_years.pk).exists()


def _append_at(monkeypatch, when, **fields) -> AuditEvent:
    monkeypatch.setattr(audit_services.timezone, "now", lambda: when)
    try:
        return audit_event_append(action="run.started", **fields)
    finally:
        monkeypatch.undo()


def test_audit_rows_go_after_twelve_months_as_a_prefix_and_the_chain_still_verifies(db, monkeypatch, settings):
    settings.ASPORA_RETENTION = {}
    now = timezone.now()
    _append_at(monkeypatch, now - TWELVE_MONTHS - timedelta(days=30), summary="older")
    _append_at(monkeypatch, now - TWELVE_MONTHS - MINUTE, summary="just outside")
    _append_at(monkeypatch, now - TWELVE_MONTHS + MINUTE, summary="just inside")
    _append_at(monkeypatch, now - timedelta(days=1), summary="yesterday")

    counts = retention_purge(now=now)

    assert counts["audit_events"] == 2
    assert list(AuditEvent.objects.order_by("seq").values_list("summary", flat=True)) == [
        "just inside",
        "yesterday",
        "retention purge removed 2 rows before " + f"{now - TWELVE_MONTHS:%Y-%m-%d}",
    ]
    anchor = AuditEvent.objects.get(action="audit.purged")
    assert anchor.data["through_seq"] == 2
    assert audit_chain_verify().ok
    assert retention_purge(now=now)["audit_events"] == 0
    assert AuditEvent.objects.filter(action="audit.purged").count() == 1


def test_a_longer_audit_period_anywhere_keeps_the_shared_chain_longer(db, monkeypatch, settings):
    settings.ASPORA_RETENTION = {"jurisdictions": {"EU": {"audit_months": 24}}, "tenants": {"acme": "EU"}}
    now = timezone.now()
    _append_at(monkeypatch, now - TWELVE_MONTHS - timedelta(days=30), summary="13 months ago")

    assert retention_purge(now=now)["audit_events"] == 0
    assert AuditEvent.objects.count() == 1


def test_row_changes_go_with_the_case_period(db, settings):
    settings.ASPORA_RETENTION = {}
    now = timezone.now()
    for label, ago in (("outside", FIVE_YEARS + MINUTE), ("inside", FIVE_YEARS - MINUTE)):
        RowChange.objects.create(
            changed_at=now - ago, table_name="fincrime_alert", operation="UPDATE", row_id=label, db_user="app"
        )
    # Rows the PostgreSQL triggers captured while setting up are recent and stay.
    kept_before = RowChange.objects.exclude(row_id__in=["outside", "inside"]).count()

    assert retention_purge(now=now)["row_changes"] == 1
    assert set(RowChange.objects.filter(row_id__in=["outside", "inside"]).values_list("row_id", flat=True)) == {
        "inside"
    }
    assert RowChange.objects.exclude(row_id__in=["outside", "inside"]).count() == kept_before


def test_the_purge_is_a_nightly_celery_beat_task(db, eager_tasks):  # noqa: F811
    entry = django_settings.CELERY_BEAT_SCHEDULE["audit-retention-purge"]

    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] == 24 * 60 * 60
    assert retention_purge_task.delay().get() == {"alerts": 0, "audit_events": 0, "row_changes": 0}
