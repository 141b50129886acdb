"""FinCrime tools. The queue, the investigation and every disposition are scoped to the asker's
tenant and team through `ctx.deps.context`; an alert number of another team or tenant is not found,
and the four-eyes rule is enforced by the service, not by the model."""

from typing import Literal

from pydantic_ai import FunctionToolset, RunContext

from domains.fincrime.models import Alert
from domains.fincrime.selectors import (
    alert_counterparties,
    alert_get_for_context,
    alert_list_for_context,
    alert_recent_transactions,
    sanctions_match_list_pending_for_context,
)
from domains.fincrime.services import (
    AlertStateError,
    FourEyesError,
    alert_escalate_to_case,
    alert_link,
    alert_review_start,
    disposition_decide,
    disposition_request_close,
)
from domains.formatting import link, money, when
from skills.deps import WRITES, SkillDeps
from tenants.context import AskerContext

toolset = FunctionToolset[SkillDeps]()


def _row(alert: Alert, context: AskerContext) -> dict:
    return {
        "alert": link(f"{alert.number}", alert_link(alert)),
        "type": alert.get_type_display(),
        "score": alert.score,
        "customer": f"{alert.customer.name} ({alert.customer.reference})",
        "status": alert.get_status_display(),
        "raised": when(alert.created_at, context),
        "summary": alert.summary,
    }


def _not_found(number: int) -> dict:
    return {"error": f"Alert {number} was not found in your team's queue."}


@toolset.tool
def list_alerts(
    ctx: RunContext[SkillDeps],
    type: Literal["transaction_monitoring", "sanctions", "customer_risk"] | None = None,
    status: Literal["open", "new", "in_review", "pending_approval", "escalated", "closed", "all"] = "open",
    older_than_days: int | None = None,
) -> list[dict]:
    """The team's alert queue, highest score first.

    Args:
        type: only alerts of this type: transaction_monitoring, sanctions or customer_risk.
        status: open (the default: new, in review or pending approval), or one status, or all.
        older_than_days: only alerts raised at least this many days ago.
    """
    context = ctx.deps.context
    alerts = alert_list_for_context(context=context, type=type, status=status, older_than_days=older_than_days)
    return [_row(a, context) for a in alerts[:25]]


@toolset.tool
def investigate_alert(ctx: RunContext[SkillDeps], alert_number: int) -> dict:
    """Gather the evidence for one alert: customer profile, recent transactions, counterparties and
    sanctions matches, each cited by its id. Picks the alert up for review.

    Args:
        alert_number: the alert number, e.g. 5012.
    """
    context = ctx.deps.context
    alert = alert_get_for_context(context=context, number=alert_number)
    if alert is None:
        return _not_found(alert_number)
    alert = alert_review_start(context=context, alert=alert)
    customer = alert.customer
    evidence = {
        "alert": _row(alert, context),
        "customer": {
            "id": customer.reference,
            "name": customer.name,
            "country": customer.country,
            "risk_rating": customer.get_risk_rating_display(),
            "occupation": customer.occupation or "—",
            "customer_since": customer.onboarded_at.isoformat(),
        },
        "transactions": [
            {
                "id": t.reference,
                "when": when(t.created_at, context),
                "direction": t.direction,
                "amount": money(t.amount, t.currency),
                "counterparty": f"{t.counterparty} ({t.counterparty_country})",
            }
            for t in alert_recent_transactions(alert=alert)
        ],
        "counterparties": [
            {
                "counterparty": f"{c['counterparty']} ({c['counterparty_country']})",
                "transactions": c["count"],
                "total": money(c["total"], c["currency"]),
            }
            for c in alert_counterparties(alert=alert)
        ],
        "sanctions_matches": [
            {
                "entry": m.entry.reference,
                "name": m.entry.name,
                "list": m.entry.list_name,
                "score": m.score,
                "status": m.status,
            }
            for m in alert.matches.select_related("entry")
        ],
    }
    if alert.source_ticket_id:
        evidence["ecm_ticket"] = link(f"#{alert.source_ticket.number}", f"/ecm/tickets/{alert.source_ticket.number}/")
    return evidence


@toolset.tool
def pending_sanctions_matches(ctx: RunContext[SkillDeps]) -> list[dict]:
    """Sanctions-list matches on the team's open alerts that nobody has reviewed yet, strongest first."""
    context = ctx.deps.context
    return [
        {
            "alert": link(f"{m.alert.number}", alert_link(m.alert)),
            "customer": f"{m.alert.customer.name} ({m.alert.customer.reference})",
            "matched": f"{m.entry.name} — {m.entry.list_name} {m.entry.reference}",
            "score": m.score,
        }
        for m in sanctions_match_list_pending_for_context(context=context)[:25]
    ]


@toolset.tool(metadata=WRITES)
def request_close_false_positive(ctx: RunContext[SkillDeps], alert_number: int, reason: str) -> dict:
    """Ask to close an alert as a false positive. A second analyst must approve it (four eyes).

    Args:
        alert_number: the alert number, e.g. 5012.
        reason: why it is a false positive, citing the evidence.
    """
    context = ctx.deps.context
    alert = alert_get_for_context(context=context, number=alert_number)
    if alert is None:
        return _not_found(alert_number)
    try:
        _, approvers = disposition_request_close(context=context, alert=alert, reason=reason)
    except AlertStateError as exc:
        return {"error": exc.message}
    return {
        "alert": link(f"{alert.number}", alert_link(alert)),
        "status": "Pending approval",
        "asked_to_approve": ", ".join(str(u) for u in approvers) or "nobody else in the team",
    }


@toolset.tool(metadata=WRITES)
def decide_close_request(
    ctx: RunContext[SkillDeps], alert_number: int, decision: Literal["approve", "reject"], comment: str = ""
) -> dict:
    """As the second analyst, approve or reject a request to close an alert as a false positive.

    Args:
        alert_number: the alert number, e.g. 5012.
        decision: approve or reject.
        comment: why, optionally.
    """
    context = ctx.deps.context
    alert = alert_get_for_context(context=context, number=alert_number)
    if alert is None:
        return _not_found(alert_number)
    try:
        request = disposition_decide(context=context, alert=alert, approve=decision == "approve", comment=comment)
    except (AlertStateError, FourEyesError) as exc:
        return {"error": exc.message}
    return {
        "alert": link(f"{alert.number}", alert_link(alert)),
        "decision": request.get_decision_display(),
        "status": alert.get_status_display(),
        "requested_by": str(request.requested_by),
    }


@toolset.tool(metadata=WRITES)
def escalate_alert_to_case(ctx: RunContext[SkillDeps], alert_number: int, reason: str) -> dict:
    """Escalate an alert to an investigation case; the customer's risk rating becomes high.

    Args:
        alert_number: the alert number, e.g. 5012.
        reason: why it needs a case.
    """
    context = ctx.deps.context
    alert = alert_get_for_context(context=context, number=alert_number)
    if alert is None:
        return _not_found(alert_number)
    try:
        case = alert_escalate_to_case(context=context, alert=alert, reason=reason)
    except AlertStateError as exc:
        return {"error": exc.message}
    return {
        "alert": link(f"{alert.number}", alert_link(alert)),
        "status": "Escalated to a case",
        "case_opened": when(case.opened_at, context),
    }
