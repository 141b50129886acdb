"""OpenTelemetry traces: bridge request → Celery task → skill run → agent run → model request →
tool call, one trace id, which the run keeps (`SkillRun.trace_id`).

Spans are always made (so every run has a trace id to quote), but leave the process only when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) names a collector; they
go over OTLP/HTTP. The context crosses the broker in the Celery task's headers
(opentelemetry-instrumentation-celery); work a bridge hands to a thread or a queue of its own
carries it as W3C headers (`trace_carrier` → `continued`), so a Slack or WhatsApp message is one
trace from its HTTP request on. Prompts, answers and tool arguments are put on spans only with
`ASPORA_TRACE_CONTENT=true`.
"""

import contextlib
import functools
import os
import threading

from django.conf import settings
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

_lock = threading.Lock()
_provider: TracerProvider | None = None
tracer = trace.get_tracer("aspora")

# Paths whose requests make no span: scrapes, probes and static files would drown the traces.
UNTRACED_PREFIXES = ("/static/", "/metrics", "/healthz", "/readyz", "/favicon.ico")


def otlp_endpoint() -> str:
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")


def exporters() -> list[SpanExporter]:
    """Where spans go: an OTLP/HTTP collector when one is configured, nowhere otherwise."""
    if not otlp_endpoint():
        return []
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # The exporter reads the endpoint (adding /v1/traces to the base one), headers and timeout from
    # the standard OTEL_EXPORTER_OTLP_* variables.
    return [OTLPSpanExporter()]


def tracing_configure() -> TracerProvider:
    """Install this process's tracer provider and instrument Celery; idempotent."""
    global _provider
    with _lock:
        if _provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": "aspora"}))
            for exporter in exporters():
                provider.add_span_processor(BatchSpanProcessor(exporter))
            trace.set_tracer_provider(provider)
            from opentelemetry.instrumentation.celery import CeleryInstrumentor

            CeleryInstrumentor().instrument(tracer_provider=provider)
            _provider = provider
        return _provider


def tracing_flush(timeout_millis: int = 5000) -> None:
    """Send what is buffered (a worker process about to exit)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)


def agent_instrumentation():
    """How pydantic-ai traces agent runs, model requests and tool calls: content only when allowed.
    Read when an agent is built (once per skill version and process)."""
    from pydantic_ai.models.instrumented import InstrumentationSettings

    return InstrumentationSettings(
        tracer_provider=trace.get_tracer_provider(),
        include_content=settings.ASPORA_TRACE_CONTENT,
        include_binary_content=settings.ASPORA_TRACE_CONTENT,
        include_model_request_parameters=False,
    )


def current_trace_id() -> str:
    """The active span's trace id as 32 hex digits, or "" outside any span."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""


def current_context():
    return otel_context.get_current()


def attach(context):
    """Make `context` current in this thread or task (code that hops to another loop or thread)."""
    return otel_context.attach(context)


def detach(token) -> None:
    otel_context.detach(token)


def trace_carrier() -> dict[str, str]:
    """The current trace as W3C headers (`traceparent`), for work handed to a thread or a queue;
    empty outside any span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def continued(name: str, *, carrier: dict[str, str] | None, attributes: dict | None = None):
    """A span around work a request handed off, in the request's trace.

    A span already current wins over `carrier`: in a Celery task it is the task's own, which the
    instrumentation continued from the same trace across the broker. A thread has none, so the
    carrier is what links it."""
    parent = None if trace.get_current_span().get_span_context().is_valid else propagate.extract(carrier or {})
    with tracer.start_as_current_span(name, context=parent, attributes=attributes) as span:
        yield span


def in_this_trace(function):
    """`function`, to run in another thread, continuing the trace current here (threads start with none)."""
    context = otel_context.get_current()

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        token = otel_context.attach(context)
        try:
            return function(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return wrapper


def server_span(*, method: str, path: str, headers: dict[str, str], route: str = ""):
    """The span of one HTTP request, continuing a caller's `traceparent`; `headers` keyed lower-case."""
    attributes = {"http.request.method": method, "url.path": path}
    if route:
        attributes["http.route"] = route
    return tracer.start_as_current_span(
        f"{method} {route or path}",
        context=propagate.extract(headers),
        kind=SpanKind.SERVER,
        attributes=attributes,
    )


def traced(name: str):
    """A server span around a front door's own entry point that is not an HTTP request (a
    websocket message), so the run it starts joins that door's trace."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with tracer.start_as_current_span(name, kind=SpanKind.SERVER):
                return function(*args, **kwargs)

        return wrapper

    return decorate


def traced_run(function):
    """Wrap one execution of a skill run in a span named for it, ending with the run's status."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        run = kwargs.get("run")
        run_id = str(run.id if run is not None else kwargs.get("run_id"))
        with tracer.start_as_current_span("skill run", attributes={"aspora.run.id": run_id}) as span:
            result = function(*args, **kwargs)
            if result is not None:
                span.set_attribute("aspora.run.status", result.status)
                if result.model:
                    span.set_attribute("gen_ai.request.model", result.model)
                if result.skill_version_id:
                    span.set_attribute("aspora.skill", result.skill_version.skill.name)
                    span.set_attribute("aspora.domain", result.skill_version.skill.domain.name)
                if result.status == "failed":
                    span.set_status(Status(StatusCode.ERROR, "run failed"))
            return result

    return wrapper


class TracingMiddleware:
    """A server span for each HTTP request, continuing a caller's `traceparent` (a bridge in front,
    a load balancer). Sync and async, so it keeps Daphne's chain async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        if request.path.startswith(UNTRACED_PREFIXES):
            return self.get_response(request)
        with self._span(request) as span:
            return self._finish(span, request, self.get_response(request))

    async def _acall(self, request):
        if request.path.startswith(UNTRACED_PREFIXES):
            return await self.get_response(request)
        with self._span(request) as span:
            return self._finish(span, request, await self.get_response(request))

    def _span(self, request):
        return server_span(
            method=request.method,
            path=request.path,
            headers={key.lower(): value for key, value in request.headers.items()},
        )

    @staticmethod
    def _finish(span, request, response):
        match = getattr(request, "resolver_match", None)
        if match is not None and match.route:
            span.update_name(f"{request.method} /{match.route}")
            span.set_attribute("http.route", "/" + match.route)
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            span.set_status(Status(StatusCode.ERROR))
        return response
