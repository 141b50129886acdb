"""The chat console in headless Chromium against the real ASGI app: streaming, confirmations,
reconnects, and a refused subscription to someone else's run."""

import re
import threading

import pytest
from django.test import Client
from playwright.sync_api import expect

from skills.services import skill_run_start
from tenants.models import User
from tests.skills.conftest import context_for

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("demo")]
SAW_STREAMING = """
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes)
    if (n.classList && n.classList.contains('streaming')) window.__sawStreaming = true;
}).observe(document, {subtree: true, childList: true});
"""


def _sign_in(page, asgi_server, username: str) -> None:
    """A signed-in session for the person (the sign-in form itself is tested in test_sign_in.py)."""
    client = Client()
    client.force_login(User.objects.get(username=username))
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}])
    page.add_init_script(SAW_STREAMING)
    page.goto(f"{asgi_server}/console/")
    expect(page.locator("#connection")).to_have_text("connected")


def _ask(page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")


def test_ask_and_watch_the_answer_stream_in(page, asgi_server, screenshot):
    _sign_in(page, asgi_server, "sarah")
    expect(page.locator(".catalog .skill-card")).to_have_count(6)

    _ask(page, "show my tickets")

    answer = page.locator(".bubble.assistant").last
    expect(answer.locator(".answer-html table")).to_be_visible()
    expect(answer.get_by_role("link", name="#1042")).to_have_attribute("href", "/ecm/tickets/1042/")
    expect(answer.locator(".tool-card .tool-name")).to_have_text("list_my_tickets")
    expect(answer.locator(".tool-status")).to_contain_text("✓")
    expect(answer.locator(".run-footer")).to_have_text(re.compile(r"\d+ ms · \$0\.0000"))
    # The run's trace id, to look the run up in the tracing backend (docs/observability.md).
    expect(answer.locator(".run-footer")).to_have_attribute("title", re.compile(r" · trace [0-9a-f]{32}$"))
    assert page.evaluate("window.__sawStreaming") is True
    assert re.search(r"\?c=[0-9a-f-]{36}$", page.url)
    screenshot("console-answer")


def test_a_tool_call_waits_for_confirmation_and_survives_a_reload(page, asgi_server, screenshot):
    _sign_in(page, asgi_server, "sarah")

    _ask(page, "escalate ticket 1043 because customs has held it for a week")
    confirm = page.locator(".confirm-card")
    expect(confirm).to_contain_text('escalate_ticket {"ticket_number":1043')
    screenshot("console-confirm")
    page.reload()  # a reconnect in the middle of the run
    expect(page.locator("#connection")).to_have_text("connected")
    page.locator(".confirm-card").get_by_role("button", name="Confirm").click()

    answer = page.locator(".bubble.assistant").last
    expect(answer.locator(".answer-html")).to_contain_text("Omar Haddad")
    expect(answer.locator(".tool-card")).to_have_count(1)
    expect(page.locator(".conversation-list a")).to_have_count(1)


def test_a_dropped_socket_reconnects_and_keeps_answering(page, asgi_server):
    _sign_in(page, asgi_server, "sarah")

    page.evaluate("window.asporaConsole.socket().close()")
    expect(page.locator("#connection")).to_have_text("reconnecting…")
    _ask(page, "/ticket-detail show ticket 1042")  # asked while the socket is down
    expect(page.locator("#connection")).to_have_text("connected")

    expect(page.locator(".bubble.assistant").last.locator(".answer-html")).to_contain_text("Rahul Mehta")


def test_skill_completion_with_the_keyboard(page, asgi_server):
    _sign_in(page, asgi_server, "sarah")

    page.get_by_label("Message").type("/my")
    expect(page.locator("#completion .option")).to_have_count(1)
    page.get_by_label("Message").press("Enter")
    expect(page.get_by_label("Message")).to_have_value("/my-tickets ")
    page.get_by_label("Message").press("Enter")

    expect(page.locator(".bubble.assistant").last.locator(".skill-tag")).to_have_text("/my-tickets")


def test_subscribing_to_someone_elses_run_is_refused(page, asgi_server):
    started = {}
    # Playwright's loop owns this thread; a run broadcasts with async_to_sync, so it starts elsewhere.
    worker = threading.Thread(
        target=lambda: started.setdefault(
            "run", skill_run_start(context=context_for("omar"), message="show the team queue")
        )
    )
    worker.start()
    worker.join()
    omars = started["run"]
    _sign_in(page, asgi_server, "sarah")

    page.evaluate(f"window.asporaConsole.send({{event: 'follow', run_id: '{omars.id}', after: 0}})")

    expect(page.locator(".thread .error-text")).to_have_text("No such run.")
    expect(page.locator(".thread")).not_to_contain_text("team queue")
