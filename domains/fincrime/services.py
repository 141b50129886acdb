"""FinCrime writes: investigations, dispositions with four eyes, escalation to a case, closing and
reopening a case, ECM hand-offs.

Four eyes: closing an alert as a false positive is a request; a second analyst of the team, never
the requester, approves it. Every step leaves a case note; notifications go out after commit.
Closure times (`Alert.closed_at`, `Case.closed_at`) are set only here: the retention purge counts
FATF R.11's five years from them (audit/retention.py). Closing and reopening a case is for managers
and ops managers of the alert's team (`selectors.case_may_decide`), leaves a note and an audit event
(`case.closed` / `case.reopened`) in the same transaction.
"""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from aspora.errors import ApplicationError
from audit.services import audit_case_decision
from domains.fincrime.models import (
    OPEN_ALERT_STATUSES,
    Alert,
    AlertStatus,
    AlertType,
    Case,
    CaseNote,
    CaseOutcome,
    Customer,
    DispositionRequest,
    RiskRating,
)
from domains.fincrime.selectors import case_may_decide
from domains.formatting import money
from tenants.context import AskerContext
from tenants.models import Membership, Role, Team, User
from tenants.notifications import person_notify

FINCRIME_TEAM_SLUG = "fincrime"


class AlertStateError(ApplicationError):
    status_code = 409


class FourEyesError(ApplicationError):
    status_code = 403


class CaseStateError(ApplicationError):
    status_code = 409


class CasePermissionError(ApplicationError):
    """Raised to a person who can see the alert but may not decide its case; others get a 404."""

    status_code = 403


class CaseInputError(ApplicationError):
    """`extra["field"]` names the form field that is wrong."""

    status_code = 422


MAX_CASE_TEXT = 2000


def alert_link(alert: Alert) -> str:
    return f"/fincrime/alerts/{alert.number}/"


def _note(alert: Alert, context: AskerContext, text: str) -> None:
    CaseNote.objects.create(alert=alert, author=context.user, text=text)


def _open_only(alert: Alert) -> None:
    if alert.status not in OPEN_ALERT_STATUSES:
        raise AlertStateError(f"Alert {alert.number} is {alert.get_status_display().lower()}; it is no longer open.")


@transaction.atomic
def alert_open_from_ticket(*, context: AskerContext, ticket, reason: str) -> Alert:
    """Open an alert in the tenant's FinCrime queue for an ECM ticket on compliance hold."""
    team = Team.objects.get(tenant=context.tenant, slug=FINCRIME_TEAM_SLUG)
    customer, _ = Customer.objects.get_or_create(
        tenant=context.tenant,
        reference=f"ECM-{ticket.number}",
        defaults={"name": ticket.customer, "country": ticket.corridor[:2], "onboarded_at": ticket.created_at.date()},
    )
    number = (Alert.objects.filter(tenant=context.tenant).aggregate(n=Max("number"))["n"] or 5000) + 1
    amount = money(ticket.amount, ticket.currency)
    alert = Alert.objects.create(
        tenant=context.tenant,
        team=team,
        number=number,
        type=AlertType.CUSTOMER_RISK,
        customer=customer,
        score=70,
        summary=f"Compliance hold on ECM ticket #{ticket.number}: {ticket.corridor}, {amount}",
        source_ticket=ticket,
        created_at=timezone.now(),
    )
    _note(alert, context, f"Handed over from ECM ticket #{ticket.number} by {context.user}: {reason}")
    for membership in Membership.objects.select_related("user").filter(team=team, role=Role.ANALYST):
        person_notify(
            user=membership.user, title=f"New alert {alert.number} from ECM", text=reason, link=alert_link(alert)
        )
    return alert


@transaction.atomic
def alert_review_start(*, context: AskerContext, alert: Alert) -> Alert:
    """An analyst opening an investigation picks the alert up."""
    if alert.status == AlertStatus.NEW:
        Alert.objects.filter(pk=alert.pk).update(
            status=AlertStatus.IN_REVIEW, assignee=context.user, updated_at=timezone.now()
        )
        alert.status, alert.assignee = AlertStatus.IN_REVIEW, context.user
        _note(alert, context, "Investigation started.")
    return alert


@transaction.atomic
def disposition_request_close(
    *, context: AskerContext, alert: Alert, reason: str
) -> tuple[DispositionRequest, list[User]]:
    """Ask for a close; returns the request and the analysts asked to approve it."""
    _open_only(alert)
    if alert.disposition_requests.filter(decision=DispositionRequest.Decision.PENDING).exists():
        raise AlertStateError(f"Alert {alert.number} already waits for a second analyst's approval.")
    request = DispositionRequest.objects.create(alert=alert, reason=reason, requested_by=context.user)
    Alert.objects.filter(pk=alert.pk).update(status=AlertStatus.PENDING_APPROVAL, updated_at=timezone.now())
    _note(alert, context, f"Close as false positive requested: {reason}")
    approvers = (
        Membership.objects.select_related("user").filter(team=alert.team, role=Role.ANALYST).exclude(user=context.user)
    )
    for membership in approvers:
        person_notify(
            user=membership.user,
            title=f"Approve closing alert {alert.number}?",
            text=f"{context.user} asks to close it as a false positive: {reason}",
            link=alert_link(alert),
        )
    return request, [m.user for m in approvers]


@transaction.atomic
def disposition_decide(*, context: AskerContext, alert: Alert, approve: bool, comment: str = "") -> DispositionRequest:
    request = (
        alert.disposition_requests.select_for_update().filter(decision=DispositionRequest.Decision.PENDING).first()
    )
    if request is None:
        raise AlertStateError(f"Alert {alert.number} has no close request waiting for approval.")
    if request.requested_by_id == context.user.pk:
        raise FourEyesError(f"You asked to close alert {alert.number}; a second analyst must approve it.")
    request.decision = DispositionRequest.Decision.APPROVED if approve else DispositionRequest.Decision.REJECTED
    request.decided_by, request.decided_at = context.user, timezone.now()
    request.save(update_fields=["decision", "decided_by", "decided_at"])
    status = AlertStatus.CLOSED if approve else AlertStatus.IN_REVIEW
    closed_at = request.decided_at if approve else None
    Alert.objects.filter(pk=alert.pk).update(status=status, closed_at=closed_at, updated_at=timezone.now())
    alert.status, alert.closed_at = status, closed_at
    verdict = "approved: closed as false positive" if approve else "rejected: back in review"
    _note(alert, context, f"Close request {verdict}. {comment}".strip())
    person_notify(
        user=request.requested_by, title=f"Alert {alert.number}: close request {request.decision}",
        text=f"{context.user}: {comment or verdict}", link=alert_link(alert),
    )  # fmt: skip
    return request


@transaction.atomic
def alert_escalate_to_case(*, context: AskerContext, alert: Alert, reason: str) -> Case:
    _open_only(alert)
    case = Case.objects.create(alert=alert, reason=reason, opened_by=context.user)
    Alert.objects.filter(pk=alert.pk).update(status=AlertStatus.ESCALATED, updated_at=timezone.now())
    Customer.objects.filter(pk=alert.customer_id).update(risk_rating=RiskRating.HIGH)
    alert.status = AlertStatus.ESCALATED
    _note(alert, context, f"Escalated to a case: {reason}")
    if alert.source_ticket_id:
        from domains.ecm.models import TicketEvent

        TicketEvent.objects.create(
            ticket_id=alert.source_ticket_id, actor=context.user, action="FinCrime case opened",
            detail=f"Alert {alert.number} escalated to a case by {context.user}: {reason}",
        )  # fmt: skip
    return case


def _decider_only(context: AskerContext, case: Case) -> None:
    if not case_may_decide(user=context.user, alert=case.alert):
        raise CasePermissionError(
            f"Only a manager or ops manager of the {case.alert.team.name} team may close or reopen the case "
            f"for alert {case.alert.number}."
        )


def _required(value: str, *, field: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise CaseInputError(f"{what} is required.", extra={"field": field})
    if len(value) > MAX_CASE_TEXT:
        raise CaseInputError(f"{what} is {len(value)} characters; at most {MAX_CASE_TEXT}.", extra={"field": field})
    return value


@transaction.atomic
def case_close(*, context: AskerContext, case: Case, outcome: str, detail: str = "") -> Case:
    """Close an investigation with its outcome (a `CaseOutcome`; `detail` is required for Other); its
    retention period starts now. Managers and ops managers of the alert's team only."""
    case = Case.objects.select_for_update().select_related("alert__team").get(pk=case.pk)
    _decider_only(context, case)
    if case.closed_at is not None:
        raise CaseStateError(
            f"The case for alert {case.alert.number} is already closed "
            f"(since {case.closed_at:%d %b %Y}); reopen it first to close it again."
        )
    if outcome not in CaseOutcome.values:
        choices = ", ".join(str(label) for label in CaseOutcome.labels)
        problem = f"{outcome!r} is not an outcome" if outcome else "Outcome is required"
        raise CaseInputError(f"{problem}: choose one of {choices}.", extra={"field": "outcome"})
    detail = (detail or "").strip()
    if outcome == CaseOutcome.OTHER:
        detail = _required(detail, field="detail", what="Detail (what the outcome was, for Other)")
    elif detail:
        detail = _required(detail, field="detail", what="Detail")
    case.closed_at, case.closed_by = timezone.now(), context.user
    case.outcome, case.outcome_detail = outcome, detail
    case.save(update_fields=["closed_at", "closed_by", "outcome", "outcome_detail"])
    _note(case.alert, context, f"Case closed: {case.get_outcome_display()}" + (f" — {detail}" if detail else ""))
    audit_case_decision(case=case, context=context, action="case.closed")
    return case


@transaction.atomic
def case_reopen(*, context: AskerContext, case: Case, reason: str) -> Case:
    """Reopen a closed investigation: it is open again, so nothing of it can be purged until it is
    closed again, and its retention period then starts over. Managers and ops managers only."""
    case = Case.objects.select_for_update().select_related("alert__team").get(pk=case.pk)
    _decider_only(context, case)
    if case.closed_at is None:
        raise CaseStateError(f"The case for alert {case.alert.number} is already open.")
    reason = _required(reason, field="reason", what="Reason for reopening")
    case.closed_at, case.closed_by, case.outcome, case.outcome_detail = None, None, "", ""
    case.save(update_fields=["closed_at", "closed_by", "outcome", "outcome_detail"])
    _note(case.alert, context, f"Case reopened: {reason}")
    audit_case_decision(case=case, context=context, action="case.reopened", reason=reason)
    return case
