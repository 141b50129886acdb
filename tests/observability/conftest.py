import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import start_worker  # noqa: F401 - a fixture used here too
from tests.skills.conftest import demo, eager_tasks  # noqa: F401 - fixtures used here too

METRICS_TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_token(settings):
    settings.ASPORA_METRICS_TOKEN = METRICS_TOKEN
    return METRICS_TOKEN


@pytest.fixture
def scrape(client, metrics_token):
    """GET /metrics as Prometheus does, parsed into {(name, frozenset(labels)): value}."""

    def read() -> dict:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
        assert response.status_code == 200, response.content
        samples = {}
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples

    return read


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
