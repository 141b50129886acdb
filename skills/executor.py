"""Runs one skill as a pydantic-ai agent for one `SkillRun`.

Invariants:
- The agent sees exactly the tools its skill version allows, from its domain's toolset; tools
  marked `confirm` pause the run (deferred tools) until the asker decides, and so does a tool
  declared a write (`metadata=WRITES`) called once any tool result is in the model's context.
- The asker's identity reaches tools only through `SkillDeps`, built here from the run's record,
  never from anything a model produced.
- The agent streams on the process's long-lived event loop (`aspora.eventloop`); this module
  consumes the events in the calling (Celery task) thread, where every database write and
  broadcast happens, in sequence order.
- Text deltas are coalesced (at most one event per `DELTA_FLUSH_SECONDS`) so a fast model does
  not become thousands of rows, and link-filtered like the answer before they are stored or
  broadcast: a URL being streamed is held back until it is whole (docs/security.md#links-in-answers).
- A run always ends `succeeded`, `failed` or `awaiting_confirmation`, with timings, usage and cost.
"""

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import JSONField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from pydantic_ai import (
    Agent,
    AgentRunResultEvent,
    DeferredToolRequests,
    DeferredToolResults,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelAPIError,
    ModelHTTPError,
    ModelMessagesTypeAdapter,
    PartDeltaEvent,
    PartStartEvent,
    RunContext,
    TextPart,
    TextPartDelta,
    ToolDenied,
    UsageLimitExceeded,
    UsageLimits,
)
from pydantic_ai.capabilities import Instrumentation, ProcessHistory
from pydantic_ai.messages import ModelRequest, RetryPromptPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models import Model
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.tools import ToolDefinition

from aspora import eventloop
from aspora.observability import metrics, tracing
from aspora.text import markdown_to_safe_html
from audit.actor import audit_actor
from skills.deps import SkillDeps, tool_writes
from skills.governance import StreamLinkFilter, answer_links_neutralise, domain_redaction_kinds, model_redactor
from skills.models import EventType, RunStatus, SkillRun, SkillRunEvent, SkillVersion
from skills.offline import OFFLINE_MODEL_NAME, offline_model
from skills.packs import domain_tool_names
from skills.selectors import skill_version_get
from skills.services import skill_run_events_record
from tenants.context import AskerContext
from usage.pricing import run_cost_usd

logger = logging.getLogger(__name__)

DELTA_FLUSH_SECONDS = 0.05
RESULT_PREVIEW_CHARS = 4000
PROVIDER_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "openrouter": "OPENROUTER_API_KEY"}


# --- models ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedModel:
    model: Model
    name: str
    offline: bool
    provider: str | None = None


def _model_build(name: str) -> Model | None:
    """A pydantic-ai model for `provider:model`, or None when its provider has no key configured."""
    if name == "test":
        # pydantic-ai's own instant test model: benchmarks measure Aspora's overhead with it.
        from pydantic_ai.models.test import TestModel

        return TestModel(call_tools=[], custom_output_text="ok")
    provider, _, model_name = name.partition(":")
    key = os.environ.get(PROVIDER_KEYS.get(provider, ""), "")
    if provider == "openai":
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        base_url = os.environ.get("OPENAI_BASE_URL", "")
        if not (key or base_url):
            return None
        # A local OpenAI-compatible server may need no key; the client still wants one.
        return OpenAIChatModel(model_name, provider=OpenAIProvider(base_url=base_url or None, api_key=key or "local"))
    if provider == "anthropic" and key:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        return AnthropicModel(
            model_name, provider=AnthropicProvider(api_key=key, base_url=os.environ.get("ANTHROPIC_BASE_URL") or None)
        )
    if provider == "openrouter" and key:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openrouter import OpenRouterProvider

        return OpenAIChatModel(model_name, provider=OpenRouterProvider(api_key=key))
    return None


def model_resolve(version: SkillVersion) -> ResolvedModel:
    name = settings.ASPORA_MODEL or version.model or settings.ASPORA_DEFAULT_MODEL
    primary = _model_build(name)
    if primary is None:
        return ResolvedModel(offline_model(), OFFLINE_MODEL_NAME, offline=True)
    fallback = _model_build(settings.ASPORA_FALLBACK_MODEL) if settings.ASPORA_FALLBACK_MODEL else None
    model = FallbackModel(primary, fallback) if fallback else primary
    provider = name.partition(":")[0] if ":" in name else None  # "test" has no provider and no price
    return ResolvedModel(model, name, offline=False, provider=provider)


def cost_usd(*, resolved: ResolvedModel, input_tokens: int, output_tokens: int) -> Decimal:
    """The admin's price table (usage.ModelPrice), else genai-prices; 0 offline. See docs/usage.md."""
    if resolved.provider is None:  # "test" and the offline model have no price
        return Decimal(0)
    return run_cost_usd(
        model=resolved.name, offline=resolved.offline, input_tokens=input_tokens, output_tokens=output_tokens
    )


# --- agents ---------------------------------------------------------------------------------

_agents: dict[int, Agent] = {}
_agents_lock = threading.Lock()


async def _who_is_asking(ctx: RunContext[SkillDeps]) -> str:
    """Async, though it awaits nothing: pydantic-ai hands a sync instruction function to a thread."""
    facts = "\n".join(f"- {key}: {value}" for key, value in ctx.deps.context.summary().items())
    return (
        "## Who is asking\n"
        f"{facts}\n\n"
        "Tools already know who is asking and only see what this person may see. "
        "Never try to act for another person, team or tenant."
    )


def agent_for_version(version: SkillVersion) -> Agent:
    """One agent per immutable skill version, built once per process."""
    with _agents_lock:
        agent = _agents.get(version.pk)
        if agent is None:
            agent = _agents[version.pk] = _agent_build(version)
        return agent


def _tool_result_seen(messages: list) -> bool:
    return any(isinstance(p, ToolReturnPart) for m in messages if isinstance(m, ModelRequest) for p in m.parts)


def _confirmation_required(confirm: set[str]) -> Callable[[RunContext, ToolDefinition, dict], bool]:
    """A `confirm` tool always waits for the asker; so does a write tool once any tool result is in
    the model's context (this run's or the conversation's): a note, a narrative or a customer name
    it read may carry injected instructions. A write asked for directly runs at once."""

    def required(ctx: RunContext, tool_def: ToolDefinition, args: dict) -> bool:
        return tool_def.name in confirm or (tool_writes(tool_def) and _tool_result_seen(ctx.messages))

    return required


def _agent_build(version: SkillVersion) -> Agent:
    allowed = set(version.tools)
    confirm = set(version.config.get("confirm", []))
    toolsets = []
    if allowed:
        domain = version.skill.domain.name
        if domain_tool_names(domain) is not None:
            import importlib

            domain_toolset = importlib.import_module(f"domains.{domain}.tools").toolset
            scoped = domain_toolset.filtered(lambda ctx, tool_def: tool_def.name in allowed)
            toolsets.append(scoped.approval_required(_confirmation_required(confirm)))
    return Agent(
        instructions=[version.instructions, _who_is_asking],
        deps_type=SkillDeps,
        toolsets=toolsets,
        output_type=[str, DeferredToolRequests],
        name=version.skill.name,
        retries=1,
        # Data governance (docs/security.md): PII redacted before any provider sees a message.
        capabilities=[
            ProcessHistory(model_redactor(domain_redaction_kinds(version.skill.domain))),
            # Spans for the agent run, each model request and each tool call (docs/observability.md).
            Instrumentation(settings=tracing.agent_instrumentation()),
        ],
    )


# --- running --------------------------------------------------------------------------------


class _ClosingExecutor(ThreadPoolExecutor):
    """Runs sync tools in threads that give their database connection back after each call."""

    def submit(self, fn, /, *args, **kwargs):
        def call():
            try:
                return fn(*args, **kwargs)
            finally:
                connections.close_all()

        return super().submit(call)


_tool_executor = _ClosingExecutor(max_workers=8, thread_name_prefix="aspora-tool")


def _events_on_loop(start: Callable[[], Any], *, asker) -> Iterator[Any]:
    """Iterate an async event stream that runs on the process's event loop, from this sync thread.

    One loop per process instead of a new thread and loop per run; the agent stops when this
    iterator is closed early (an error while recording an event). The loop's task does not inherit
    this thread's context: the trace and the asker (for tools' writes, audit/actor.py) are passed on."""
    items: queue.Queue = queue.Queue()
    done = object()
    trace_context = tracing.current_context()  # the loop's task continues this thread's trace

    async def pump():
        tracing.attach(trace_context)
        try:
            # Sync tools run in `_tool_executor` threads with a copy of this task's context.
            with audit_actor(user=asker), Agent.using_thread_executor(_tool_executor):
                async with start() as events:
                    async for event in events:
                        items.put(event)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread to raise
            items.put(exc)
        finally:
            items.put(done)

    future = eventloop.submit(pump())
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        future.cancel()


class _Recorder:
    """Stores and broadcasts a run's events in order, coalescing and link-filtering text deltas."""

    def __init__(self, run: SkillRun, *, last_seq: int):
        self.run = run
        self.seq = last_seq
        self.buffer: list[str] = []
        self.buffer_since = 0.0
        self.links = StreamLinkFilter()
        self.tools_ran = 0
        self.tool_started: dict[str, float] = {}
        self.tool_names: dict[str, str] = {}
        # Calls already announced before a confirmation pause are not announced again on resume.
        self.announced = {call["tool_call_id"] for call in run.pending_tool_calls}
        # Confirmed calls an earlier delivery already ran: their recorded results are replayed.
        self.replayed: set[str] = set()
        # The run's changes not yet saved: they are saved with the next event, in its transaction.
        self.run_fields: set[str] = set()

    def emit(self, type: str, data: dict, *, run_fields: Iterable[str] = ()) -> None:
        # The text the model wrote up to here (a tool call, the end, an error) is stored with it.
        pending = self._text_taken() if type != "run.delta" else []
        self._record([*pending, (type, data)], run_fields)

    def _record(self, events: list[tuple[str, dict]], run_fields: Iterable[str] = ()) -> None:
        if not events:
            return
        numbered = []
        for type, data in events:
            self.seq += 1
            numbered.append((self.seq, type, data))
        fields, self.run_fields = self.run_fields.union(run_fields), set()
        skill_run_events_record(run=self.run, events=numbered, run_fields=sorted(fields))

    def delta(self, text: str) -> None:
        if not text:
            return
        if self.run.first_token_at is None:
            # Saved with the first delta's event: the first text a listener can see.
            self.run.first_token_at = timezone.now()
            self.run_fields.add("first_token_at")
            metrics.first_token_observe(run=self.run)
        self._buffer(self.links.feed(text))
        if self.buffer and time.monotonic() - self.buffer_since >= DELTA_FLUSH_SECONDS:
            self.flush()

    def _buffer(self, text: str) -> None:
        if text:
            if not self.buffer:
                self.buffer_since = time.monotonic()
            self.buffer.append(text)

    def _buffer_taken(self) -> list[tuple[str, dict]]:
        """The buffered text as a delta event to record (none when nothing is buffered)."""
        if not self.buffer:
            return []
        text, self.buffer = "".join(self.buffer), []
        return [("run.delta", {"text": text})]

    def _text_taken(self) -> list[tuple[str, dict]]:
        """What the model wrote and is not stored yet, with what the link filter held back."""
        self._buffer(self.links.end())
        return self._buffer_taken()

    def text_end(self) -> None:
        """The model stopped writing and nothing else follows at once (a retry): its text goes out."""
        self._record(self._text_taken())

    def flush(self) -> None:
        self._record(self._buffer_taken())

    def handle(self, event: Any) -> Any:
        """Record one agent event; return the run result when it is the last one."""
        if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
            self.delta(event.part.content)
        elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
            self.delta(event.delta.content_delta)
        elif isinstance(event, FunctionToolCallEvent):
            call = event.part
            self.tool_started[call.tool_call_id] = time.monotonic()
            self.tool_names[call.tool_call_id] = call.tool_name
            if call.tool_call_id in self.announced:
                return None
            self.emit(
                "run.tool_call",
                {"tool_call_id": call.tool_call_id, "name": call.tool_name, "args": call.args_as_dict()},
            )
        elif isinstance(event, FunctionToolResultEvent):
            part = event.part
            started = self.tool_started.pop(part.tool_call_id, time.monotonic())
            if isinstance(part, RetryPromptPart):
                outcome, content = "retried", part.model_response()
            else:
                outcome, content = part.outcome, part.content
            self.tools_ran += outcome == "success"
            if part.tool_call_id in self.replayed:
                return None
            name = part.tool_name or self.tool_names.get(part.tool_call_id, "")
            metrics.tool_call_observe(tool=name, outcome=outcome, seconds=time.monotonic() - started)
            self.emit(
                "run.tool_result",
                {
                    "tool_call_id": part.tool_call_id,
                    "name": part.tool_name or self.tool_names.get(part.tool_call_id, ""),
                    "outcome": outcome,
                    "ok": outcome == "success" and not (isinstance(content, dict) and "error" in content),
                    "result": _preview(content),
                    "duration_ms": int((time.monotonic() - started) * 1000),
                },
            )
        elif isinstance(event, AgentRunResultEvent):
            return event.result  # the last text goes out with the run's last event
        return None


def _preview(content: Any) -> Any:
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    if len(text) <= RESULT_PREVIEW_CHARS:
        return content if not isinstance(content, str) else text
    return text[:RESULT_PREVIEW_CHARS] + "…"


def _context_from_run(run: SkillRun) -> AskerContext:
    return AskerContext(user=run.user, team=run.team, tenant=run.tenant, channel=run.channel, extra=dict(run.extra))


def _history_for(run: SkillRun) -> list:
    """The conversation so far (the last earlier answer's history), trimmed to the skill's `max_turns` user turns."""
    previous = run.earlier_history
    if not previous:
        return []
    messages = ModelMessagesTypeAdapter.validate_python(previous)
    max_turns = run.skill_version.config.get("max_turns", 10)
    starts = [
        i
        for i, m in enumerate(messages)
        if isinstance(m, ModelRequest) and any(isinstance(p, UserPromptPart) for p in m.parts)
    ]
    keep_from = (
        starts[-(max_turns - 1)]
        if max_turns > 1 and len(starts) >= max_turns
        else (len(messages) if max_turns == 1 else 0)
    )
    return messages[keep_from:]


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ModelHTTPError):
        return exc.status_code >= 500 or exc.status_code == 429
    return isinstance(exc, ModelAPIError)


def _fail(run: SkillRun, recorder: "_Recorder", message: str) -> SkillRun:
    run.status = RunStatus.FAILED
    run.error = message
    run.finished_at = timezone.now()
    recorder.emit("run.error", {"message": message}, run_fields=["status", "error", "finished_at"])
    metrics.skill_run_observe(run=run, input_tokens=0, output_tokens=0, cost_usd=0)
    return run


def _results_recorded(run: SkillRun, *, tool_call_ids: list[str]) -> dict[str, Any]:
    """The results of these tool calls that the run has already recorded as run successfully."""
    events = SkillRunEvent.objects.filter(
        run=run, type=EventType.TOOL_RESULT, data__tool_call_id__in=tool_call_ids, data__outcome="success"
    )
    return {event.data["tool_call_id"]: event.data["result"] for event in events}


def skill_run_load(*, run_id: str) -> SkillRun | None:
    """The run and everything executing it reads, in one query: who asked, the last event's `seq`
    and, in a conversation, the history of the last answer before it. The skill version comes
    from this process's copy."""
    earlier = (
        SkillRun.objects.filter(
            conversation_id=OuterRef("conversation_id"), status=RunStatus.SUCCEEDED, queued_at__lt=OuterRef("queued_at")
        )
        .order_by("-queued_at")
        .values("message_history")[:1]
    )
    last_seq = SkillRunEvent.objects.filter(run=OuterRef("pk")).order_by("-seq").values("seq")[:1]
    run = (
        SkillRun.objects.select_related("user", "team", "tenant")
        .annotate(
            last_seq=Coalesce(Subquery(last_seq), 0),
            earlier_history=Subquery(earlier, output_field=JSONField()),
        )
        .filter(pk=run_id)
        .first()
    )
    if run is not None and run.skill_version_id is not None:
        run.skill_version = skill_version_get(run.skill_version_id)
    return run


@tracing.traced_run
def skill_run_execute(
    *,
    run_id: str | None = None,
    run: SkillRun | None = None,
    decisions: dict[str, bool] | None = None,
    note: str = "",
) -> SkillRun:
    """Execute (or resume after a confirmation) one run, by id or as `skill_run_load` returned it.
    Safe to call twice: a finished run is left alone."""
    run = run or skill_run_load(run_id=run_id)
    if run is None:
        raise SkillRun.DoesNotExist(f"run {run_id} does not exist")
    if run.is_finished or (run.status == RunStatus.AWAITING_CONFIRMATION and decisions is None):
        return run
    # Whatever the run and its tools write is the asker's doing, whichever worker or thread writes it.
    with audit_actor(user=run.user):
        return _execute(run, decisions=decisions, note=note)


def _execute(run: SkillRun, *, decisions: dict[str, bool] | None, note: str) -> SkillRun:
    version = run.skill_version
    resolved = model_resolve(version)
    recorder = _Recorder(run, last_seq=run.last_seq)
    run.status = RunStatus.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.model = resolved.name
    run.is_offline = resolved.offline
    run.attempts += 1
    run.trace_id = run.trace_id or tracing.current_trace_id()
    started = ["status", "started_at", "model", "is_offline", "attempts", "trace_id"]
    if decisions is None:
        recorder.emit(
            "run.started",
            {
                "skill": version.skill.name,
                "version": version.number,
                "model": resolved.name,
                "offline": resolved.offline,
            },
            run_fields=started,
        )
    else:
        run.save(update_fields=started)

    limits = version.config.get("limits", {})
    deps = SkillDeps(context=_context_from_run(run), run_id=str(run.id))
    if decisions is None:
        prompt, history, deferred = run.message, _history_for(run), None
    else:
        prompt, history = None, ModelMessagesTypeAdapter.validate_python(run.message_history)
        # A resume delivered again (its worker died after a confirmed call ran) must not repeat the
        # call's side effect: the result the first delivery recorded is handed back instead.
        done = _results_recorded(run, tool_call_ids=list(decisions))
        recorder.replayed = set(done)
        deferred = DeferredToolResults(
            approvals={
                call_id: True if approved else ToolDenied(f"The asker declined this call. {note}".strip())
                for call_id, approved in decisions.items()
                if call_id not in done
            },
            calls=done,
        )
    agent = agent_for_version(version)

    def start():
        return agent.run_stream_events(
            prompt,
            model=resolved.model,
            deps=deps,
            message_history=history or None,
            deferred_tool_results=deferred,
            usage_limits=UsageLimits(
                request_limit=limits.get("request_limit", 8),
                tool_calls_limit=limits.get("tool_calls_limit"),
                total_tokens_limit=limits.get("total_tokens_limit"),
            ),
            timeout=version.config.get("timeout_seconds", 120),
        )

    attempt = 0
    while True:
        try:
            result = None
            for event in _events_on_loop(start, asker=run.user):
                result = recorder.handle(event) or result
            break
        except UsageLimitExceeded as exc:
            return _fail(run, recorder, f"The run hit its skill's usage limit: {exc}")
        except TimeoutError:
            return _fail(
                run, recorder, f"The run took longer than its {version.config.get('timeout_seconds', 120)} s limit."
            )
        except Exception as exc:
            if _retryable(exc) and recorder.tools_ran == 0 and attempt < settings.ASPORA_MODEL_RETRIES:
                attempt += 1
                logger.warning("model request failed (%s); retry %d for run %s", exc, attempt, run.id)
                recorder.text_end()  # what the failed attempt wrote is not glued to the retry's text
                time.sleep(settings.ASPORA_MODEL_RETRY_BACKOFF * 2 ** (attempt - 1))
                continue
            logger.exception("run %s failed", run.id)
            reason = (
                f"The model provider failed: {exc}"
                if isinstance(exc, ModelAPIError)
                else f"The run failed: {type(exc).__name__}: {exc}"
            )
            return _fail(run, recorder, reason)

    usage = result.usage
    run.input_tokens += usage.input_tokens or 0
    run.output_tokens += usage.output_tokens or 0
    run.requests += usage.requests or 0
    cost_before = run.cost_usd
    run.cost_usd = cost_usd(resolved=resolved, input_tokens=run.input_tokens, output_tokens=run.output_tokens)
    run.message_history = ModelMessagesTypeAdapter.dump_python(result.all_messages(), mode="json")
    output = result.output
    # Saved with the run's last event (`run_fields`), in its transaction.
    ended = ["input_tokens", "output_tokens", "requests", "cost_usd", "message_history", "pending_tool_calls", "status"]
    if isinstance(output, DeferredToolRequests):
        run.pending_tool_calls = [
            {"tool_call_id": call.tool_call_id, "name": call.tool_name, "args": call.args_as_dict()}
            for call in output.approvals
        ]
        run.status = RunStatus.AWAITING_CONFIRMATION
        recorder.emit("run.confirmation_needed", {"calls": run.pending_tool_calls}, run_fields=ended)
    else:
        # Links and images to hosts off the allow-list carry data out: made inert (docs/security.md).
        run.answer = (run.answer + "\n\n" if run.answer else "") + answer_links_neutralise(str(output))
        run.pending_tool_calls = []
        run.status = RunStatus.SUCCEEDED
        run.finished_at = timezone.now()
    metrics.skill_run_observe(
        run=run,
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cost_usd=run.cost_usd - cost_before,
    )
    if run.status == RunStatus.SUCCEEDED:
        recorder.emit(
            "run.final",
            {
                "answer": run.answer,
                # Rendered once here, not by every listener: a run may have a thousand of them.
                "answer_html": markdown_to_safe_html(run.answer),
                "status": run.status,
                "model": run.model,
                "offline": run.is_offline,
                "input_tokens": run.input_tokens,
                "output_tokens": run.output_tokens,
                "cost_usd": str(run.cost_usd),
                "latency_ms": run.latency_ms,
                "trace_id": run.trace_id,
            },
            run_fields=[*ended, "answer", "finished_at"],
        )
    return run
