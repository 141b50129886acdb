import pytest
from pydantic_ai.models.function import FunctionModel

from domains.fraud.demo import fraud_demo_seed
from domains.fraud.simulation import simulation_cache_clear
from skills.executor import ResolvedModel
from skills.models import Domain
from skills.registry import packs_sync
from skills.services import domain_grants_apply
from tenants.demo import demo_seed
from tests.skills.conftest import eager_tasks  # noqa: F401 - a fixture the fraud world uses

HISTORY = 3_000  # Aspora Remit's transactions in the tests: small, still ~60 confirmed fraud


@pytest.fixture(autouse=True)
def _cold_simulation_cache():
    simulation_cache_clear()
    yield
    simulation_cache_clear()


@pytest.fixture
def history(db):
    """The demo tenants, the fraud rules and a small labelled history, inside the test transaction."""
    demo_seed(password="demo-pw-for-tests")
    fraud_demo_seed(seed=7, count=HISTORY)


@pytest.fixture
def fraud_world(transactional_db, eager_tasks, settings):  # noqa: F811 - the imported fixture
    """The same, committed (tools run in their own threads), with the fraud pack synced and granted."""
    settings.ASPORA_MODEL = ""
    demo_seed(password="demo-pw-for-tests")
    [report] = packs_sync([settings.ASPORA_DOMAINS_DIR / "fraud"])
    assert report.problems == []
    for domain in Domain.objects.all():
        domain_grants_apply(domain=domain)
    fraud_demo_seed(seed=7, count=HISTORY)


@pytest.fixture
def use_model(monkeypatch):
    """Answer every run with `model` instead of the offline one (see tests/skills/test_security.py)."""

    def use(model: FunctionModel) -> None:
        monkeypatch.setattr(
            "skills.executor.model_resolve", lambda version: ResolvedModel(model, "scripted", offline=False)
        )

    return use
