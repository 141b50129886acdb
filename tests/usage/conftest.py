import pytest

from domains.ecm.demo import ecm_demo_seed
from skills.models import Domain
from skills.registry import packs_sync
from skills.services import domain_grants_apply
from tenants.demo import demo_seed
from tests.loopback import OpenAIChatServer, Reply
from tests.skills.conftest import eager_tasks  # noqa: F401 - a fixture used by `world`


@pytest.fixture
def world(transactional_db, eager_tasks, settings):  # noqa: F811
    """The demo people and packs with ECM tickets: enough to ask the ECM skills from every door."""
    settings.ASPORA_MODEL = ""
    demo_seed(password="demo-pw-for-tests")
    reports = packs_sync()
    assert [problem for report in reports for problem in report.problems] == []
    for domain in Domain.objects.all():
        domain_grants_apply(domain=domain)
    ecm_demo_seed(count=12)


@pytest.fixture
def priced_model(monkeypatch, settings):
    """Runs go to a loopback OpenAI server as `openai:gpt-4o-mini`: 120 prompt / 30 completion tokens each."""
    server = OpenAIChatServer(lambda body: Reply(text="You have 4 open tickets."))
    with server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        settings.ASPORA_MODEL = "openai:gpt-4o-mini"
        settings.ASPORA_MODEL_RETRY_BACKOFF = 0.01
        yield server
