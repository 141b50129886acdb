"""Data governance around the executor: PII redaction before a model provider, the outbound-link
filter on final answers, and the per-domain transcript retention purge.

Why here and not in the executor: the executor uses one history processor, one answer filter and
its streaming twin from this module, so the rules can change without touching the run loop.
"""

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from pydantic_ai import RunContext
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from aspora.redaction import redact, redact_value
from skills.models import Domain, RunStatus, SkillRun, SkillRunEvent
from skills.offline import OFFLINE_MODEL_NAME
from skills.packs import domain_governance

logger = logging.getLogger(__name__)

# --- redaction before a model provider --------------------------------------------------------


def messages_redact(messages: list[ModelMessage], kinds: Iterable[str]) -> list[ModelMessage]:
    """The messages as a provider may see them: user text, tool results, retry prompts, earlier
    answers and tool arguments with every PII value of `kinds` replaced by its placeholder."""
    kinds = tuple(kinds)
    redacted: list[ModelMessage] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            parts = []
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    part = replace(part, content=redact(part.content, kinds))
                elif isinstance(part, UserPromptPart):
                    part = replace(part, content=[redact(c, kinds) if isinstance(c, str) else c for c in part.content])
                elif isinstance(part, (ToolReturnPart, RetryPromptPart)):
                    part = replace(part, content=redact_value(part.content, kinds))
                parts.append(part)
            message = replace(message, parts=parts)
        elif isinstance(message, ModelResponse):
            parts = []
            for part in message.parts:
                if isinstance(part, TextPart):
                    part = replace(part, content=redact(part.content, kinds))
                elif isinstance(part, ToolCallPart):
                    part = replace(part, args=redact_value(part.args, kinds))
                parts.append(part)
            message = replace(message, parts=parts)
        redacted.append(message)
    return redacted


def model_redactor(kinds: Iterable[str]) -> Callable[[RunContext, list[ModelMessage]], list[ModelMessage]]:
    """A pydantic-ai history processor: redacts everything sent to a provider. The offline model
    runs in this process, so it gets the originals (its answers quote the tools exactly)."""
    kinds = tuple(kinds)

    def processor(ctx: RunContext, messages: list[ModelMessage]) -> list[ModelMessage]:
        if not kinds or ctx.model.model_name == OFFLINE_MODEL_NAME:
            return messages
        return messages_redact(messages, kinds)

    return processor


def domain_redaction_kinds(domain: Domain) -> tuple[str, ...]:
    return tuple(domain_governance(domain.config).redact)


# --- links in final answers -------------------------------------------------------------------

_MD_LINK = re.compile(r"(!?)\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_BARE_URL = re.compile(
    r"(?i)\b(?:https?|ftp)://[^\s<>()\[\]\"'`]+|(?<![\w/:])//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s<>()\"']*"
)
_HTML_URL = re.compile(r"(?i)<(?:img|a|iframe|script|link|source)\b[^>]*>")


def link_hosts_allowed() -> set[str]:
    """Hosts an answer may link to: the portal's own (ALLOWED_HOSTS) and ASPORA_LINK_ALLOW_HOSTS."""
    hosts = {h.lstrip(".").lower() for h in settings.ALLOWED_HOSTS if h and h != "*"}
    return hosts | {h.lower() for h in getattr(settings, "ASPORA_LINK_ALLOW_HOSTS", [])}


def _host_allowed(url: str, allowed: set[str]) -> bool:
    if url.startswith("/") and not url.startswith("//"):
        return True  # the portal's own pages, e.g. /ecm/tickets/1042/
    if url.startswith("#"):
        return True
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https", ""):
        return False
    host = (parts.hostname or "").lower()
    return bool(host) and any(host == a or host.endswith("." + a) for a in allowed)


def _host_of(url: str) -> str:
    if "//" not in url:
        return "a non-web link"  # javascript:, data:, mailto: …
    try:
        return urlsplit(url).hostname or "an unknown host"
    except ValueError:
        return "an unknown host"


def answer_links_neutralise(text: str, allowed: set[str] | None = None) -> str:
    """A final answer with every link, image and URL to a host not on the allow-list made inert:
    the URL (where injected instructions put the data they steal) is dropped, the host is named.
    A markdown image would be fetched by the browser the moment the answer renders."""
    if not text:
        return text
    allowed = link_hosts_allowed() if allowed is None else allowed

    def markdown(match: re.Match) -> str:
        bang, label, url = match.groups()
        if _host_allowed(url, allowed):
            return match.group(0)
        host = _host_of(url)
        return f"[image removed: {host}]" if bang else f"{label} (link removed: {host})"

    def bare(match: re.Match) -> str:
        url = match.group(0)
        return url if _host_allowed(url, allowed) else f"(link removed: {_host_of(url)})"

    text = _MD_LINK.sub(markdown, text)
    text = _HTML_URL.sub(lambda m: "(html removed)", text)
    # Markdown links kept above are to allowed hosts; their URLs pass the bare check too.
    return _BARE_URL.sub(bare, text)


# A link still being written at the end of the text: an unclosed markdown label or target
# (`[x`, `![x](https://a/?d=`, `[x](url "title`) or an HTML tag without its `>`.
_MD_OPEN = re.compile(r'!?\[[^\]]*(?:\]\(\s*(?:<?[^)\s>]+>?(?:\s+(?:"[^"]*(?:"\s*)?)?)?)?)?\Z')
_HTML_OPEN = re.compile(r"(?i)<(?:img|a|iframe|script|link|source)\b[^>]*\Z")


class StreamLinkFilter:
    """`answer_links_neutralise` for text that arrives in pieces (the streamed `run.delta`s).

    `feed()` returns what is safe to show now: the text up to its last whitespace, filtered, and
    held further back while a markdown link or HTML tag is open there. The rest (a URL whose
    `?d=` data may still be coming) waits for the next piece or `end()`. URLs never contain
    whitespace, so every piece shown holds whole URLs; and no link straddles a cut, so the pieces
    joined are exactly the whole text filtered: what was streamed is what the answer says. Past
    `HOLD_LIMIT` characters an open link stops holding the text back (the cut is still at
    whitespace: nothing leaks, the label may render differently from the answer)."""

    HOLD_LIMIT = 2000

    def __init__(self, allowed: set[str] | None = None):
        self.allowed = link_hosts_allowed() if allowed is None else allowed
        self.pending = ""

    def feed(self, text: str) -> str:
        self.pending += text
        cut = self._cut()
        if not cut:
            return ""
        safe, self.pending = self.pending[:cut], self.pending[cut:]
        return answer_links_neutralise(safe, self.allowed)

    def end(self) -> str:
        """The held text, filtered: the stream (or this part of it) is over."""
        rest, self.pending = self.pending, ""
        return answer_links_neutralise(rest, self.allowed)

    def _cut(self) -> int:
        text = self.pending
        end = len(text)
        while True:
            cut = max(text.rfind(c, 0, end) for c in " \n\t\r") + 1
            if not cut or len(text) > self.HOLD_LIMIT:
                return cut
            head = text[:cut]
            opened = [m.start() for m in (_MD_OPEN.search(head), _HTML_OPEN.search(head)) if m]
            if not opened:
                return cut
            end = min(opened)


# --- transcript retention ---------------------------------------------------------------------

PURGED = "[purged: past the domain's transcript retention]"
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.REFUSED)


@dataclass(frozen=True)
class PurgeReport:
    runs: int
    events: int
    by_domain: dict[str, int]


def transcripts_purge(*, now: datetime | None = None) -> PurgeReport:
    """Blank the transcripts of finished runs queued before their domain's retention period: the
    message, answer, error, model history and extra ids go, and so do the run's events. Timings,
    tokens, cost, status and who ran what stay (usage, budgets and the audit trail need them).
    Runs without a skill (refused before one was chosen) use ASPORA_TRANSCRIPT_RETENTION_DAYS."""
    now = now or timezone.now()
    not_yet = ~Q(message=PURGED)
    finished = Q(status__in=FINISHED)
    scopes: list[tuple[str, Q]] = []
    for domain in Domain.objects.all():
        days = domain_governance(domain.config).transcript_retention_days
        scopes.append((domain.name, Q(skill__domain=domain, queued_at__lt=now - timedelta(days=days))))
    default_days = settings.ASPORA_TRANSCRIPT_RETENTION_DAYS
    scopes.append(("(no skill)", Q(skill__isnull=True, queued_at__lt=now - timedelta(days=default_days))))
    by_domain, events = {}, 0
    for name, scope in scopes:
        ids = list(SkillRun.objects.filter(scope & finished & not_yet).values_list("pk", flat=True)[:10000])
        if not ids:
            continue
        with transaction.atomic():
            events += SkillRunEvent.objects.filter(run_id__in=ids).delete()[0]
            SkillRun.objects.filter(pk__in=ids).update(
                message=PURGED, answer="", error="", message_history=[], pending_tool_calls=[], extra={}
            )
        by_domain[name] = len(ids)
    report = PurgeReport(runs=sum(by_domain.values()), events=events, by_domain=by_domain)
    if report.runs:
        logger.info("purged %d run transcripts (%d events): %s", report.runs, report.events, by_domain)
    return report
