"""Retention: FATF R.11's floors, raised per jurisdiction, and a purge that never touches a row still
inside its period (rows a minute either side of each boundary)."""

import re
from datetime import timedelta
from importlib import import_module

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
from domains.fincrime.models import (
    OPEN_ALERT_STATUSES,
    Alert,
    AlertStatus,
    Case,
    CaseNote,
    CaseOutcome,
    DispositionRequest,
)
from domains.fincrime.services import (
    CaseStateError,
    alert_escalate_to_case,
    case_close,
    case_reopen,
    disposition_decide,
    disposition_request_close,
)
from tenants.context import Channel
from tenants.demo import demo_seed
from tenants.models import User
from tenants.services import asker_context_build
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


def test_a_closed_alert_edited_later_still_goes_by_its_closure(alerts, settings):
    settings.ASPORA_RETENTION = {}
    edited = alerts[0]
    Alert.objects.filter(pk=edited.pk).update(status=AlertStatus.CLOSED, closed_at=timezone.now() - FIVE_YEARS - MINUTE)
    Alert.objects.filter(pk=edited.pk).update(summary="relabelled last week")  # updated_at: now

    assert retention_purge()["alerts"] == 1
    assert not Alert.objects.filter(pk=edited.pk).exists()


DAY = timedelta(days=1)


def _manager():
    """Olivia, ops manager of FinCrime: closing and reopening a case is a manager's decision."""
    return asker_context_build(user=User.objects.get(username="olivia"), channel=Channel.WEB, team_slug="fincrime")


def _case(alert: Alert, *, closed_ago: timedelta | None, opened_ago: timedelta) -> Case:
    """A case investigated through the services, closed (or not) the given time ago."""
    context = asker_context_build(user=User.objects.get(username="nina"), channel=Channel.WEB)
    case = alert_escalate_to_case(context=context, alert=alert, reason="structuring")
    if closed_ago is not None:
        case = case_close(context=_manager(), case=case, outcome=CaseOutcome.SAR_FILED)
        Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - closed_ago)
    Case.objects.filter(pk=case.pk).update(opened_at=timezone.now() - opened_ago)
    Alert.objects.filter(pk=alert.pk).update(updated_at=timezone.now() - opened_ago)
    return case


@pytest.fixture
def open_alerts(db):
    demo_seed(password=None)
    fincrime_demo_seed(count=40)
    alerts = list(Alert.objects.filter(status__in=OPEN_ALERT_STATUSES, case__isnull=True).order_by("pk")[:4])
    assert len(alerts) == 4
    return alerts


def test_a_case_closed_five_years_and_a_day_ago_goes_with_its_alert_and_their_record(open_alerts, settings):
    settings.ASPORA_RETENTION = {}
    outside, inside, still_open, _ = open_alerts
    gone = _case(outside, closed_ago=FIVE_YEARS + DAY, opened_ago=FIVE_YEARS * 2)
    kept = _case(inside, closed_ago=FIVE_YEARS - DAY, opened_ago=FIVE_YEARS * 2)
    never_closed = _case(still_open, closed_ago=None, opened_ago=timedelta(days=10 * 366))
    DispositionRequest.objects.create(alert=outside, reason="looked fine at first", requested_by=gone.opened_by)
    record = {
        "notes": CaseNote.objects.filter(alert=outside).count(),
        "requests": DispositionRequest.objects.filter(alert=outside).count(),
    }
    assert record == {"notes": 2, "requests": 1}  # escalated, then closed; one earlier close request

    counts = retention_purge()

    assert (counts["cases"], counts["alerts"]) == (1, 1)
    assert not Case.objects.filter(pk=gone.pk).exists()
    assert not Alert.objects.filter(pk=outside.pk).exists()
    assert not CaseNote.objects.filter(alert_id=outside.pk).exists()
    assert not DispositionRequest.objects.filter(alert_id=outside.pk).exists()
    assert set(Case.objects.values_list("pk", flat=True)) >= {kept.pk, never_closed.pk}
    assert Alert.objects.filter(pk__in=[inside.pk, still_open.pk]).count() == 2
    assert CaseNote.objects.filter(alert=inside).count() == 2
    assert retention_purge()["cases"] == 0  # nothing more the second time


def test_a_seven_year_jurisdiction_keeps_a_case_closed_six_years_ago(open_alerts, settings):
    settings.ASPORA_RETENTION = {"jurisdictions": {"AE": {"case_years": 7}}, "tenants": {"aspora-remit": "AE"}}
    assert open_alerts[0].tenant.slug == "aspora-remit"
    six_years = _case(open_alerts[0], closed_ago=timedelta(days=6 * 366), opened_ago=timedelta(days=8 * 366))
    eight_years = _case(open_alerts[1], closed_ago=timedelta(days=7 * 366) + DAY, opened_ago=timedelta(days=9 * 366))

    counts = retention_purge()

    assert counts["cases"] == 1
    assert Case.objects.filter(pk=six_years.pk).exists()
    assert not Case.objects.filter(pk=eight_years.pk).exists()


def test_closing_a_case_starts_its_period_and_reopening_stops_it(open_alerts):
    analyst = asker_context_build(user=User.objects.get(username="nina"), channel=Channel.WEB)
    case = alert_escalate_to_case(context=analyst, alert=open_alerts[0], reason="structuring")
    assert case.closed_at is None

    closed = case_close(context=_manager(), case=case, outcome=CaseOutcome.NO_SUSPICION)
    assert abs(closed.closed_at - timezone.now()) < MINUTE
    with pytest.raises(CaseStateError, match="already closed"):
        case_close(context=_manager(), case=case, outcome=CaseOutcome.SAR_FILED)
    reopened = case_reopen(context=_manager(), case=case, reason="new transactions")

    assert Case.objects.get(pk=case.pk).closed_at is None and reopened.closed_at is None
    assert list(CaseNote.objects.filter(alert=open_alerts[0]).values_list("text", flat=True))[-2:] == [
        "Case closed: No suspicion confirmed",
        "Case reopened: new transactions",
    ]


def test_approving_a_close_records_when_the_alert_was_closed(open_alerts):
    alert = open_alerts[0]
    raj, nina = (asker_context_build(user=User.objects.get(username=u), channel=Channel.WEB) for u in ("raj", "nina"))
    disposition_request_close(context=raj, alert=alert, reason="namesake")
    request = disposition_decide(context=nina, alert=alert, approve=True)

    alert.refresh_from_db()
    assert (alert.status, alert.closed_at) == (AlertStatus.CLOSED, request.decided_at)


def test_alerts_closed_before_closure_times_existed_get_the_best_time_there_is(open_alerts):
    from django.apps import apps

    backfill = import_module("domains.fincrime.migrations.0002_closure_times").alert_closure_backfill
    approved, unexplained, still_open = open_alerts[:3]
    raj, nina = (asker_context_build(user=User.objects.get(username=u), channel=Channel.WEB) for u in ("raj", "nina"))
    disposition_request_close(context=raj, alert=approved, reason="namesake")
    decided_at = disposition_decide(context=nina, alert=approved, approve=True).decided_at
    last_change = timezone.now() - timedelta(days=400)
    Alert.objects.filter(pk=unexplained.pk).update(status=AlertStatus.CLOSED)
    Alert.objects.filter(pk__in=[approved.pk, unexplained.pk]).update(closed_at=None, updated_at=last_change)

    backfill(apps, None)

    closed = dict(Alert.objects.filter(pk__in=[a.pk for a in open_alerts[:3]]).values_list("pk", "closed_at"))
    assert closed == {approved.pk: decided_at, unexplained.pk: last_change, still_open.pk: None}


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
    assert retention_purge_task.delay().get() == {"alerts": 0, "cases": 0, "audit_events": 0, "row_changes": 0}
