"""Prometheus metrics, each recorded from one place: the executor's recorder (runs, tokens, cost,
tools), the factory's `stage_finish` (stage durations) and the websocket consumers (connections).

Runs execute in Celery workers and are scraped from the web process, so with more than one
process every process must share `PROMETHEUS_MULTIPROC_DIR` (set in the environment before start,
emptied before each start): prometheus_client then keeps values in files there and a scrape adds
them up. Without it (the embedded default) the process's own registry is served.
"""

import logging
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

logger = logging.getLogger(__name__)

RUN_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
STAGE_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 900)

SKILL_RUN_SECONDS = Histogram(
    "aspora_skill_run_duration_seconds",
    "Time from a run being queued to its end (succeeded or failed).",
    ["domain", "skill", "model"],
    buckets=RUN_BUCKETS,
)
FIRST_TOKEN_SECONDS = Histogram(
    "aspora_skill_run_first_token_seconds",
    "Time from a run starting to execute to the first answer text streamed.",
    ["domain", "skill", "model"],
    buckets=RUN_BUCKETS,
)
TOOL_CALL_SECONDS = Histogram(
    "aspora_tool_call_duration_seconds", "Duration of one tool call.", ["tool", "outcome"], buckets=TOOL_BUCKETS
)
SKILL_RUNS = Counter(
    "aspora_skill_runs", "Runs that reached a status, by status.", ["domain", "skill", "model", "status"]
)
MODEL_TOKENS = Counter("aspora_model_tokens", "Model tokens spent by runs.", ["domain", "skill", "model", "direction"])
MODEL_COST = Counter("aspora_model_cost_usd", "Model cost of runs, in USD.", ["domain", "skill", "model"])
FACTORY_STAGE_SECONDS = Histogram(
    "aspora_factory_stage_duration_seconds",
    "Duration of one factory pipeline stage, by stage and outcome.",
    ["stage", "status"],
    buckets=STAGE_BUCKETS,
)
WEBSOCKET_CONNECTIONS = Gauge(
    "aspora_websocket_connections",
    "Open websocket connections, by consumer.",
    ["consumer"],
    multiprocess_mode="livesum",
)


def _run_labels(run) -> dict[str, str]:
    skill = run.skill_version.skill if run.skill_version_id else None
    return {
        "domain": skill.domain.name if skill else "",
        "skill": skill.name if skill else "",
        "model": run.model or "",
    }


def skill_run_observe(*, run, input_tokens: int, output_tokens: int, cost_usd) -> None:
    """One execution of a run ended (succeeded, failed or paused for a confirmation). Tokens and
    cost are this execution's, not the run's running totals, so a resumed run is not counted twice."""
    labels = _run_labels(run)
    SKILL_RUNS.labels(**labels, status=run.status).inc()
    if input_tokens:
        MODEL_TOKENS.labels(**labels, direction="input").inc(input_tokens)
    if output_tokens:
        MODEL_TOKENS.labels(**labels, direction="output").inc(output_tokens)
    if cost_usd:
        MODEL_COST.labels(**labels).inc(float(cost_usd))
    if run.finished_at and run.queued_at:
        SKILL_RUN_SECONDS.labels(**labels).observe((run.finished_at - run.queued_at).total_seconds())


def first_token_observe(*, run) -> None:
    if run.first_token_at and run.started_at:
        FIRST_TOKEN_SECONDS.labels(**_run_labels(run)).observe((run.first_token_at - run.started_at).total_seconds())


def tool_call_observe(*, tool: str, outcome: str, seconds: float) -> None:
    TOOL_CALL_SECONDS.labels(tool=tool, outcome=outcome).observe(seconds)


def factory_stage_observe(*, stage) -> None:
    if stage.finished_at and stage.started_at:
        FACTORY_STAGE_SECONDS.labels(stage=stage.name, status=stage.status).observe(
            (stage.finished_at - stage.started_at).total_seconds()
        )


class WebsocketGaugeMixin:
    """Counts a consumer's accepted sockets until they close; mixed into every websocket consumer."""

    async def accept(self, *args, **kwargs):
        # Counted before the accept is sent: a client that sees its socket open finds it counted.
        if not getattr(self, "_gauge_counted", False):
            self._gauge_counted = True
            WEBSOCKET_CONNECTIONS.labels(consumer=type(self).__name__).inc()
        await super().accept(*args, **kwargs)

    async def websocket_disconnect(self, message):
        if getattr(self, "_gauge_counted", False):
            self._gauge_counted = False
            WEBSOCKET_CONNECTIONS.labels(consumer=type(self).__name__).dec()
        await super().websocket_disconnect(message)


class QueueDepthCollector(Collector):
    """Messages waiting in each Celery queue, read from the broker at scrape time."""

    def collect(self):
        from aspora.celery import app

        family = GaugeMetricFamily("aspora_celery_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"])
        queues = {app.conf.task_default_queue} | {q.name for q in app.conf.task_queues or ()}
        try:
            with app.connection_for_read() as connection:
                channel = connection.default_channel
                for name in sorted(queues):
                    try:
                        count = channel.queue_declare(queue=name, passive=True).message_count
                    except Exception:  # noqa: BLE001 - a queue nobody declared yet holds nothing
                        count = 0
                    family.add_metric([name], count)
        except Exception as exc:  # noqa: BLE001 - a broker outage must not hide every other metric
            logger.warning("queue depth unavailable: %s", exc)
            return
        yield family


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def metrics_exposition() -> bytes:
    """The text a scrape receives: every process's metrics (multiprocess mode) or this one's, plus the queues."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(QueueDepthCollector())
        return generate_latest(registry)
    return generate_latest(REGISTRY) + generate_latest(_queue_registry())


_queues: CollectorRegistry | None = None


def _queue_registry() -> CollectorRegistry:
    global _queues
    if _queues is None:
        _queues = CollectorRegistry()
        _queues.register(QueueDepthCollector())
    return _queues


def process_exited(pid: int) -> None:
    """A worker process ended: drop its live gauges from the shared directory."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
