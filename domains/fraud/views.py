from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from domains.fraud.models import FEATURE_WORDS, percent_text
from domains.fraud.selectors import rule_get_for_user, rule_performance_list


@login_required
def rule_detail(request, rule_id: int):
    rule = rule_get_for_user(user=request.user, rule_id=rule_id)
    if rule is None:
        raise Http404("No such rule.")
    [performance], transactions = rule_performance_list(rules=[rule])
    outcome = performance.outcome
    figures = [
        ("Alerts", f"{outcome.alerts:,}"),
        ("Caught fraud", f"{outcome.caught:,}"),
        ("False positives", f"{outcome.false_positives:,}"),
        ("Precision", percent_text(outcome.precision)),
        ("Recall", percent_text(outcome.recall)),
    ]
    first = next(iter(rule.conditions.all()), None)
    what_if = f"what if the {FEATURE_WORDS[first.feature]} threshold of {rule.name} goes to …?" if first else ""
    return render(
        request,
        "fraud/rule_detail.html",
        {
            "rule": rule,
            "figures": figures,
            "history": f"{transactions:,} transactions, {outcome.total_fraud:,} confirmed fraud",
            "what_if": what_if,
        },
    )
