"""The rule page: signed in, scoped to the person's tenant, and the admin's lists."""

from decimal import Decimal

from django.urls import reverse

from domains.fraud.models import Rule
from domains.fraud.simulation import rule_simulate_direct
from tenants.models import User


def _rule(tenant: str, name: str) -> Rule:
    return Rule.objects.get(tenant__slug=tenant, name=name)


def test_the_rule_page_needs_a_signed_in_person(client, history):
    url = reverse("fraud:rule-detail", args=[_rule("aspora-remit", "velocity-burst").pk])

    response = client.get(url)

    assert (response.status_code, response["Location"]) == (302, f"/login/?next={url}")


def test_the_rule_page_shows_its_conditions_and_performance(client, history):
    rule = _rule("aspora-remit", "high-amount-new-device")
    outcome = rule_simulate_direct(rule=rule, feature="amount", threshold=Decimal(2000))
    client.force_login(User.objects.get(username="lena"))

    page = client.get(f"/fraud/rules/{rule.pk}/").content.decode()

    assert "<h1>high-amount-new-device</h1>" in page
    assert '<span class="pill pill-ok">Enabled</span>' in page
    assert "<strong>amount &gt; 2,000.00 AED</strong>" in page
    assert "<strong>device age &lt; 3 days</strong>" in page
    assert f"<dt>Alerts</dt><dd>{outcome.before.alerts:,}</dd>" in page
    assert f"<dt>Caught fraud</dt><dd>{outcome.before.caught:,}</dd>" in page
    assert f"<dt>False positives</dt><dd>{outcome.before.false_positives:,}</dd>" in page
    assert f"<dt>Precision</dt><dd>{outcome.before.precision:.1%}</dd>" in page
    assert f"<dt>Recall</dt><dd>{outcome.before.recall:.1%}</dd>" in page
    assert f"<dt>History</dt><dd>3,000 transactions, {outcome.before.total_fraud} confirmed fraud</dd>" in page
    assert "“what if the amount threshold of high-amount-new-device goes to …?”" in page


def test_another_tenants_rule_is_not_found(client, history):
    theirs = _rule("northwind", "card-testing")
    client.force_login(User.objects.get(username="lena"))

    assert client.get(f"/fraud/rules/{theirs.pk}/").status_code == 404
    assert client.get(f"/fraud/rules/{theirs.pk + 1000}/").status_code == 404


def test_the_admin_lists_rules_and_transactions_with_filters(client, history):
    client.force_login(User.objects.get(username="admin"))

    remit = _rule("aspora-remit", "velocity-burst").tenant
    rules = client.get(f"/admin/fraud/rule/?tenant__id__exact={remit.pk}")
    transactions = client.get("/admin/fraud/transaction/?label__exact=fraud")
    rule = client.get(f"/admin/fraud/rule/{_rule('aspora-remit', 'velocity-burst').pk}/change/")

    assert rules.status_code == transactions.status_code == rule.status_code == 200
    assert "velocity &gt; 5" in rules.content.decode()
    assert "card-testing" not in rules.content.decode()
    assert "fraud" in transactions.content.decode()
