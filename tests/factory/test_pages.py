"""The factory's portal pages: the queue and its spec editor, a run's detail, the risk policy.

Tenant-scoped (another tenant's run is a 404), and each form is a thin call whose refusals a person
can act on: who may queue, who may approve which commit, who may stop a run or a deployment.
"""

import html as htmllib
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from factory.models import Approval, Deployment, DeploymentStatus, FactoryRun, RunStatus
from tests.factory.builders import PRODUCT_SPEC, factory_world


@pytest.fixture
def world(db, settings, tmp_path):
    settings.ASPORA_FACTORY_DIR = tmp_path
    return factory_world()


def _page(client, user, url, **kwargs):
    client.force_login(user)
    response = client.get(url, **kwargs)
    return response, response.content.decode()


def _text(html: str) -> str:
    """What a person reads: tags dropped, entities decoded, white space collapsed."""
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))).strip()


class _Element(HTMLParser):
    """The markup of the element with one id, nested tags and all."""

    def __init__(self, element_id: str):
        super().__init__(convert_charrefs=False)
        self.element_id, self.depth, self.tag, self.start, self.end = element_id, 0, None, None, None

    def handle_starttag(self, tag, attrs):
        if self.tag is None and dict(attrs).get("id") == self.element_id:
            self.tag, self.depth, self.start = tag, 1, self.getpos()
        elif tag == self.tag and self.end is None:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == self.tag and self.end is None:
            self.depth -= 1
            if self.depth == 0:
                self.end = self.getpos()


def _section(html: str, element_id: str) -> str:
    parser = _Element(element_id)
    parser.feed(html)
    assert parser.start and parser.end, f"no #{element_id} on the page"
    lines = html.split("\n")
    offset = lambda pos: sum(len(line) + 1 for line in lines[: pos[0] - 1]) + pos[1]  # noqa: E731
    end = html.index(">", offset(parser.end)) + 1
    return html[offset(parser.start) : end]


# --- the queue ---------------------------------------------------------------------------------


def test_the_queue_groups_runs_by_what_they_wait_for(client, world):
    response, html = _page(client, world.people["paula"], reverse("factory"))

    assert response.status_code == 200
    groups = re.findall(r'<section class="card fx-group" id="group-(\w+)"', html)
    assert groups == ["waiting", "running", "queued", "done"]
    waiting = _text(_section(html, "group-waiting"))
    assert "Wealth Portfolio Checker" in waiting
    assert "high" in waiting
    assert f"needs 1 approval of {world.waiting.head_sha[:10]}" in waiting
    assert "Paula Mendes" in waiting
    assert "7 minutes ago" in waiting
    running = _text(_section(html, "group-running"))
    assert "ECM stale escalations" in running
    assert "Review · running" in running
    assert "Skill" in running
    assert "FX quote service" in _text(_section(html, "group-queued"))
    done = _text(_section(html, "group-done"))
    assert "Remittance fee calculator" in done and "Deployed" in done
    assert "Sanctions screening export" in done and "how a match's score is computed" in done
    assert "Northwind" not in html


def test_the_queue_filters_by_status_with_counts_on_every_tab(client, world):
    _, html = _page(client, world.people["paula"], reverse("factory") + "?status=done")

    assert re.findall(r'id="group-(\w+)"', html) == ["done"]
    assert "Wealth Portfolio Checker" not in _section(html, "runs")
    tabs = _text(_section(html, "run-tabs"))
    assert tabs == "All 5 Waiting for approval 1 Running 1 Queued 1 Done 2"


def test_a_product_manager_gets_the_editor_with_the_demo_specs_as_templates(client, world):
    _, html = _page(client, world.people["paula"], reverse("factory"))

    assert 'id="spec-form"' in html
    assert 'name="spec"' in html
    templates = re.search(r'<script id="spec-templates" type="application/json">(.*?)</script>', html, re.DOTALL)
    assert "ecm-stale-escalations.md" in templates.group(1)
    assert "Stale escalations" in html  # the chip names the template by its title
    assert "README" not in templates.group(1)
    help_text = _text(_section(html, "spec-help"))
    assert help_text.startswith("How to write a spec Factory specs A spec is what a PM writes")


def test_people_without_a_queueing_role_see_why_not(client, world):
    _, html = _page(client, world.people["sarah"], reverse("factory"))

    assert 'id="spec-form"' not in html
    assert 'id="spec-help"' not in html and 'id="spec-templates"' not in html
    refusal = _text(_section(html, "new-spec"))
    assert "Queueing a spec needs one of these roles: admins, ops managers, product managers." in refusal
    assert "Your roles: Field agent." in refusal


def test_a_valid_spec_is_queued_and_opens_its_run(client, world):
    client.force_login(world.people["paula"])

    response = client.post(reverse("factory"), {"spec": PRODUCT_SPEC, "spec_name": "wealth-portfolio-checker.md"})

    run = FactoryRun.objects.exclude(pk__in=[world.waiting.pk]).get(title="Wealth Portfolio Checker")
    assert response.status_code == 302
    assert response["Location"] == reverse("factory-run", args=[run.id])
    assert (run.requester, run.status, run.kind, run.spec_name) == (
        world.people["paula"],
        RunStatus.QUEUED,
        "product",
        "wealth-portfolio-checker.md",
    )
    page = _text(client.get(response["Location"]).content.decode())
    assert "Queued “Wealth Portfolio Checker”." in page


def test_a_spec_error_is_shown_at_its_line_and_keeps_the_text(client, world):
    client.force_login(world.people["paula"])
    broken = PRODUCT_SPEC.replace("name: wealth-portfolio-checker", "name: Wealth Checker <beta>")

    response = client.post(reverse("factory"), {"spec": broken, "spec_name": "wealth.md"})

    html = response.content.decode()
    assert response.status_code == 422
    errors = _text(_section(html, "spec-errors"))
    assert "The spec was not queued." in errors
    assert "wealth.md:3: name: must be lowercase letters and digits joined by single hyphens" in errors
    assert "name: Wealth Checker &lt;beta&gt;\n" in html  # the textarea keeps it, escaped
    assert "<beta>" not in html
    assert 'value="wealth.md"' in html
    assert FactoryRun.objects.count() == 6


def test_queueing_without_the_role_is_refused_and_nothing_is_queued(client, world):
    client.force_login(world.people["sarah"])

    response = client.post(reverse("factory"), {"spec": PRODUCT_SPEC})

    assert response.status_code == 403
    assert "Only product managers, ops managers and admins may queue factory runs." in response.content.decode()
    assert FactoryRun.objects.count() == 6


def test_the_preview_renders_the_body_and_checks_the_spec(client, world):
    client.force_login(world.people["paula"])

    good = client.post(reverse("factory-spec-preview"), {"spec": PRODUCT_SPEC + "\n<script>x()</script>\n"}).json()
    bad = client.post(
        reverse("factory-spec-preview"), {"spec": PRODUCT_SPEC.replace("kind: product", "kind: app")}
    ).json()

    assert good["ok"] is True
    assert good["spec"] == {
        "kind": "product",
        "name": "wealth-portfolio-checker",
        "title": "Wealth Portfolio Checker",
        "endpoints": ["GET /healthz-demo"],
        "rules": 0,
    }
    assert "<p>Holdings, P&amp;L and Kelly-criterion position sizing in INR, USD and AED.</p>" in good["html"]
    assert "<script>" not in good["html"]
    assert "kind: product" not in good["html"]  # the frontmatter is not body text
    assert bad["ok"] is False
    assert bad["problems"] == ["the spec:2: kind: is 'app'; expected skill or product"]


def test_pages_and_the_preview_need_a_signed_in_person(client, world):
    for url in (reverse("factory"), reverse("factory-run", args=[world.waiting.id]), reverse("factory-policy")):
        assert client.get(url)["Location"] == f"/login/?next={url}"
    assert client.post(reverse("factory-spec-preview"), {"spec": PRODUCT_SPEC}).status_code == 302


# --- a run -------------------------------------------------------------------------------------


def test_another_tenants_run_is_not_found(client, world):
    client.force_login(world.people["theo"])
    assert client.get(reverse("factory-run", args=[world.waiting.id])).status_code == 404
    assert client.post(reverse("factory-run-stop", args=[world.waiting.id])).status_code == 404
    assert client.post(reverse("factory-run-approve", args=[world.waiting.id]), {"sha": "x"}).status_code == 404

    client.force_login(world.people["paula"])
    assert client.get(reverse("factory-run", args=[world.foreign.id])).status_code == 404
    assert client.get("/factory/runs/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_the_timeline_shows_every_stage_with_its_round_commit_and_time(client, world):
    run = world.waiting
    _, html = _page(client, world.people["olivia"], reverse("factory-run", args=[run.id]))

    entries = [_text(li) for li in re.findall(r'<li class="fx-stage.*?</li>', _section(html, "run-timeline"), re.S)]
    first, second = run.stages.get(name="generate").sha, run.head_sha
    assert [e.split(" Log")[0] for e in entries] == [
        f"Generate passed {first[:10]} 3.2 s FastAPI product: 4 files from 2 blocks",
        f"Risk gate passed {first[:10]} 100 ms {run.tier_reason}",
        f"Review failed {first[:10]} 2.4 s 2 findings, 1 at or above medium",
        f"Remediate passed {second[:10]} 1.1 s commit {second[:12]}; reviewing again",
        f"Risk gate round 2 passed {second[:10]} 100 ms {run.tier_reason}",
        f"Review round 2 passed {second[:10]} 2.2 s 1 finding, 0 at or above medium",
        f"Test round 2 passed {second[:10]} 4.3 s 6 passed in 0.41s",
        f"Approve round 2 waiting {second[:10]} waiting since "
        + run.stages.get(name="approve").started_at.strftime("%H:%M")
        + f" waiting for 1 approval(s) of {second[:12]} (high tier)",
        "Deploy not started",
    ]
    assert "wrote app/blocks/kelly.py" in _section(html, "run-timeline")


def test_the_tier_says_which_rule_set_it_and_what_it_requires(client, world):
    _, html = _page(client, world.people["paula"], reverse("factory-run", args=[world.waiting.id]))

    tier = _text(_section(html, "run-tier"))
    assert "high set by rule money-logic" in tier
    assert "Changes how money is computed: app/blocks/kelly.py matches app/blocks/**." in tier
    assert (
        "This tier requires tests pass no review finding at or above medium 1 approval(s) of the exact commit "
        "the requester may not approve deploys only after approval"
    ) in tier


def test_without_the_gates_record_a_product_is_told_what_its_tier_asks_of_a_product(client, world):
    _, html = _page(client, world.people["paula"], reverse("factory-run", args=[world.deployed.id]))

    tier = _text(_section(html, "run-tier"))
    assert "This tier requires tests pass no review finding at or above high deploys on its own" in tier
    assert "evals" not in tier


def test_the_diff_shows_each_file_with_its_added_and_removed_lines_escaped(client, world):
    _, html = _page(client, world.people["paula"], reverse("factory-run", args=[world.waiting.id]))

    diff = _section(html, "run-diff")
    files = re.findall(r'<span class="fx-file-status fx-file-(\w+)">\w+</span> <code>([^<]+)</code>', diff)
    assert files == [
        ("modified", "README.md"),
        ("added", "app/blocks/kelly.py"),
        ("added", "app/main.py"),
        ("added", "tests/test_portfolio.py"),
    ]
    assert '<tr class="fx-l-del"><td class="fx-ln">3</td><td class="fx-ln"></td><td class="fx-code">Started by' in diff
    assert "Kelly</b>" not in diff
    assert "and &lt;b&gt;Kelly&lt;/b&gt; sizing" in diff
    assert (
        '<tr class="fx-l-add"><td class="fx-ln"></td><td class="fx-ln">8</td>'
        '<td class="fx-code">API_KEY = os.environ[&#x27;PORTFOLIO_API_KEY&#x27;]</td></tr>'
    ) in diff
    assert "sk-live-123" not in diff  # base..head: the key never reached the head
    assert "4 files" in _text(diff)


def test_findings_list_what_was_found_where_and_the_commit_that_fixed_it(client, world):
    run = world.waiting
    _, html = _page(client, world.people["paula"], reverse("factory-run", args=[run.id]))

    section = _section(html, "run-findings")
    rows = [_text(row) for row in re.findall(r"<tr class=.*?</tr>", section, re.S)]
    first, second = run.stages.get(name="generate").sha, run.head_sha
    assert rows == [
        f"info static · aspora-float-money app/blocks/kelly.py:6 Compare money with Decimal, not <float> "
        f"found in {second[:8]} open",
        f"high static · S105 app/main.py:6 Possible hardcoded password assigned to: 'API_KEY' "
        f"found in {first[:8]} fixed in {second[:8]}",
        f"low static · I001 app/main.py:1 Import block is un-sorted or un-formatted "
        f"found in {first[:8]} fixed in {second[:8]}",
    ]
    assert "1 open on the head commit · 2 fixed" in _text(section)


def test_the_test_output_is_the_test_stage_log(client, world):
    _, html = _page(client, world.people["paula"], reverse("factory-run", args=[world.waiting.id]))

    tests = _section(html, "run-tests")
    assert "6 passed in 0.41s" in _text(tests)
    assert "......                                                                   [100%]" in tests


def test_approvals_say_whether_they_still_count(client, world):
    run = world.waiting
    _, html = _page(client, world.people["paula"], reverse("factory-run", args=[run.id]))

    approvals = _text(_section(html, "run-approvals"))
    first = run.stages.get(name="generate").sha
    assert "0 of 1 on the head" in approvals
    assert f"Olivia Brown approved {first[:10]}" in approvals
    assert "void: an older commit" in approvals
    assert "“Looks right.”" in approvals


def test_an_approver_gets_a_form_for_the_exact_head_commit(client, world):
    run = world.waiting
    _, html = _page(client, world.people["olivia"], reverse("factory-run", args=[run.id]))

    banner = _section(html, "run-banner")
    assert f'<input type="hidden" name="sha" value="{run.head_sha}">' in banner
    assert f"Approve {run.head_sha[:10]}" in banner
    assert "0 of 1 approval of commit" in _text(banner)
    assert 'id="approval-refusal"' not in banner


@pytest.mark.parametrize(
    ("username", "reason"),
    [
        (
            "paula",
            "You requested this run: a high-tier change needs someone else's approval, "
            "from an ops manager or an admin.",
        ),
        ("sarah", "Approving needs the ops manager or admin role; an ops manager of your organisation can approve it."),
    ],
)
def test_who_cannot_approve_sees_why_instead_of_a_form(client, world, username, reason):
    _, html = _page(client, world.people[username], reverse("factory-run", args=[world.waiting.id]))

    banner = _section(html, "run-banner")
    assert 'name="sha"' not in banner
    assert _text(re.search(r'<p class="fx-refusal" id="approval-refusal">.*?</p>', banner).group(0)) == reason


def test_approving_the_head_commit_lets_the_run_go_on(client, world):
    run = world.waiting
    client.force_login(world.people["olivia"])

    response = client.post(
        reverse("factory-run-approve", args=[run.id]), {"sha": run.head_sha, "decision": "approve", "comment": "ok"}
    )

    run.refresh_from_db()
    assert response["Location"] == reverse("factory-run", args=[run.id])
    assert run.status == RunStatus.RUNNING
    assert run.approvals.get(sha=run.head_sha).comment == "ok"
    assert f"You approved {run.head_sha[:10]}." in client.get(response["Location"]).content.decode()


def test_approving_a_stale_commit_is_refused_with_the_reason(client, world):
    run = world.waiting
    stale = run.stages.get(name="generate").sha
    client.force_login(world.people["admin"])

    response = client.post(
        reverse("factory-run-approve", args=[run.id]), {"sha": stale, "decision": "approve"}, follow=True
    )

    assert f"Commit {stale[:12]} is not the run&#x27;s head ({run.head_sha[:12]})" in response.content.decode()
    assert not Approval.objects.filter(run=run, approver=world.people["admin"]).exists()
    run.refresh_from_db()
    assert run.status == RunStatus.WAITING


def test_self_approval_is_refused(client, world):
    run = world.waiting
    FactoryRun.objects.filter(pk=run.pk).update(requester=world.people["olivia"])
    client.force_login(world.people["olivia"])

    response = client.post(reverse("factory-run-approve", args=[run.id]), {"sha": run.head_sha}, follow=True)

    assert "The requester cannot approve their own high-tier run." in response.content.decode()
    assert not Approval.objects.filter(run=run, sha=run.head_sha).exists()


def test_rejecting_stops_the_run_with_who_and_why(client, world):
    run = world.waiting
    client.force_login(world.people["olivia"])

    client.post(
        reverse("factory-run-approve", args=[run.id]),
        {"sha": run.head_sha, "decision": "reject", "comment": "Kelly sizing needs a cap"},
    )

    run.refresh_from_db()
    assert run.status == RunStatus.REJECTED
    html = client.get(reverse("factory-run", args=[run.id])).content.decode()
    assert "Rejected. Rejected by Olivia Brown: Kelly sizing needs a cap" in _text(_section(html, "run-banner"))


def test_the_requester_may_stop_a_run_and_a_bystander_may_not(client, world):
    run = world.reviewing
    client.force_login(world.people["sarah"])
    refused = client.post(reverse("factory-run-stop", args=[run.id]), follow=True)
    assert "Only the requester or an approver may stop a run." in refused.content.decode()
    assert 'action="/factory/runs/' + str(run.id) + '/stop/"' not in refused.content.decode()
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING

    client.force_login(world.people["paula"])
    client.post(reverse("factory-run-stop", args=[run.id]), {"reason": "wrong domain"})

    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED
    assert run.stop_reason == "Stopped by Paula Mendes. wrong domain"


def test_the_deployment_box_links_the_live_service_and_offers_actions_to_approvers(client, world):
    run = world.deployed
    deployment = run.deployments.get()
    _, html = _page(client, world.people["olivia"], reverse("factory-run", args=[run.id]))

    box = _section(html, "run-deployment")
    assert '<a href="http://127.0.0.1:8766" target="_blank" rel="noopener">http://127.0.0.1:8766</a>' in box
    assert [a for a in re.findall(r'action="[^"]*/(\w+)/"', box)] == ["stop", "restart", "rollback"]
    assert f"/deployments/{deployment.pk}/" in box

    _, html = _page(client, world.people["paula"], reverse("factory-run", args=[run.id]))
    assert "action=" not in _section(html, "run-deployment")


def test_an_approver_stops_and_rolls_back_a_deployment(client, world):
    run = world.deployed
    deployment = run.deployments.get()
    client.force_login(world.people["olivia"])

    stop = client.post(reverse("factory-deployment-action", args=[run.id, deployment.pk, "stop"]), follow=True)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.STOPPED
    assert "Stopped product-fee-calculator." in stop.content.decode()

    refused = client.post(reverse("factory-deployment-action", args=[run.id, deployment.pk, "rollback"]), follow=True)
    assert "Only the live deployment can be rolled back; this one is stopped." in refused.content.decode()

    Deployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.LIVE)
    client.post(reverse("factory-deployment-action", args=[run.id, deployment.pk, "rollback"]))
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.ROLLED_BACK


def test_deployment_actions_need_an_approver_and_the_runs_own_deployment(client, world):
    run = world.deployed
    deployment = run.deployments.get()

    client.force_login(world.people["paula"])
    assert client.post(reverse("factory-deployment-action", args=[run.id, deployment.pk, "stop"])).status_code == 403
    client.force_login(world.people["olivia"])
    other = reverse("factory-deployment-action", args=[world.waiting.id, deployment.pk, "stop"])
    assert client.post(other).status_code == 404
    assert client.post(reverse("factory-deployment-action", args=[run.id, deployment.pk, "delete"])).status_code == 404
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.LIVE


# --- the risk policy ---------------------------------------------------------------------------


def test_the_policy_lists_tiers_in_rank_order_with_what_they_require_and_their_rules(client, world):
    _, html = _page(client, world.people["paula"], reverse("factory-policy"))

    rows = [_text(row) for row in re.findall(r'<tr id="tier-\w+">.*?</tr>', html, re.S)]
    assert rows == [
        "low Docs, copy and isolated additions. required required high and above 0 — yes 1",
        "medium New skills and products that only read. required required high and above 0 — yes 1",
        "high Anything that writes, moves money or changes what a team may see. required required medium and above "
        "1 no after approval 1",
        "critical The executor core, the risk gate itself, auth and tenancy. required required low and above 2 no "
        "after approval 1",
    ]
    high = _text(_section(html, "rules-high"))
    assert "money-logic app/blocks/** app/service.py any Changes how money is computed." in high
    assert "new-skill skills/*/SKILL.md skill A new skill only reads until reviewed." in _text(
        _section(html, "rules-medium")
    )
    assert "Staff edit, import and export the policy in the admin." in html


def test_staff_get_the_admin_to_edit_import_and_export_the_policy(client, world):
    _, html = _page(client, world.people["olivia"], reverse("factory-policy"))

    links = re.findall(r'<a class="button[^"]*" href="([^"]+)">([^<]+)</a>', _section(html, "policy-actions"))
    assert links == [
        ("/admin/factory/riskrule/export/", "Export JSON"),
        ("/admin/factory/riskrule/import/", "Import"),
        ("/admin/factory/risktier/", "Edit tiers"),
        ("/admin/factory/riskrule/", "Edit rules"),
    ]
    assert "Staff edit, import and export" not in html
