import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from prometheus_client.parser import text_string_to_metric_families

from aspora.observability.tracing import tracing_configure
from tests.integration.conftest import start_worker  # noqa: F401 - a fixture used here too
from tests.observability.collector import OTLPCollector
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


class _Switch(SpanProcessor):
    """Forwards spans to the loopback collector only while a test holds it, so a closed collector
    never slows later tests with export retries."""

    def __init__(self):
        self.target: SpanProcessor | None = None

    def on_start(self, span, parent_context=None):
        pass

    def on_end(self, span):
        if self.target is not None:
            self.target.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.target.force_flush(timeout_millis) if self.target is not None else True


_switch: _Switch | None = None


@pytest.fixture
def otlp_collector():
    """A loopback OTLP/HTTP collector receiving this process's spans, through the real exporter."""
    global _switch
    if _switch is None:
        _switch = _Switch()
        tracing_configure().add_span_processor(_switch)
    with OTLPCollector() as collector:
        _switch.target = SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.base_url}/v1/traces", timeout=5))
        try:
            yield collector
        finally:
            _switch.target = None
