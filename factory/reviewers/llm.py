"""The LLM reviewer: a pydantic-ai agent that reads the changed files and answers with findings.

Used only when a model is configured (`ASPORA_FACTORY_MODEL`, else `ASPORA_MODEL`, resolved as the
executor resolves skill models: a model whose provider has no key is not configured). Bounded:
one review is at most `ASPORA_FACTORY_REVIEW_MAX_CHARS` of source, a few requests and
`ASPORA_FACTORY_REVIEW_MAX_TOKENS` tokens; a file too large to show is reported, not skipped quietly.
"""

import os
from pathlib import Path

from django.conf import settings
from pydantic import BaseModel, Field
from pydantic_ai import Agent, UsageLimits
from pydantic_ai.exceptions import AgentRunError
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage

from factory.models import Severity
from factory.reviewers.base import ReviewerError, ReviewFinding, findings_sorted, reviewable

REVIEW_INSTRUCTIONS = """\
You review a change to a Python/Django codebase before it is deployed. Report only real problems
in the files shown: bugs, security holes, data leaks across tenants or teams, money computed with
floats, identity taken from tool arguments instead of the injected context, missing error handling
that loses data. Do not report style. Each finding names the file path exactly as shown, the line
number from the listing, a severity (info, low, medium, high, critical), a short kebab-case rule id
and one sentence a developer can act on, without repeating the line number. No findings: an empty list.
"""

SEVERITY_ALIASES = {"error": "high", "warning": "medium", "note": "info", "blocker": "critical", "major": "high"}


class ModelFinding(BaseModel):
    path: str
    line: int | None = None
    severity: str
    rule_id: str = Field(max_length=60)
    message: str = Field(min_length=1)


class ModelReview(BaseModel):
    findings: list[ModelFinding]


def factory_setting(name: str, default):
    return getattr(settings, name, None) or os.environ.get(name) or default


def factory_model_name() -> str:
    return factory_setting("ASPORA_FACTORY_MODEL", "") or settings.ASPORA_MODEL


def factory_model() -> Model | None:
    """The factory's model, or None when none is configured (or its provider has no key)."""
    from skills.executor import _model_build  # one place knows how provider strings become models

    name = factory_model_name()
    return _model_build(name) if name else None


def numbered(text: str) -> str:
    return "\n".join(f"{number:>5}  {line}" for number, line in enumerate(text.splitlines(), start=1))


def findings_from_model(items: list[ModelFinding], *, reviewer: str, sources: dict[str, str]) -> list[ReviewFinding]:
    """Keep what names a shown file; a severity outside ours maps to the nearest, lines are checked."""
    findings = []
    for item in items:
        path = item.path.removeprefix("./")
        if path not in sources:
            continue  # a file the reviewer was not shown: nothing to anchor it to
        severity = item.severity.lower().strip()
        severity = SEVERITY_ALIASES.get(severity, severity)
        if severity not in Severity.values:
            severity = Severity.MEDIUM
        lines = sources[path].count("\n") + 1
        line = item.line if item.line and 0 < item.line <= lines else None
        rule = "-".join(item.rule_id.lower().split()) or "review"
        findings.append(
            ReviewFinding(
                reviewer=reviewer, rule_id=rule, severity=severity, path=path, line=line, message=item.message
            )
        )
    return findings


class LLMReviewer:
    name = "llm"

    def __init__(self, *, model: Model, max_chars: int | None = None, max_tokens: int | None = None):
        self.model = model
        self.max_chars = max_chars or int(factory_setting("ASPORA_FACTORY_REVIEW_MAX_CHARS", 60_000))
        self.max_tokens = max_tokens or int(factory_setting("ASPORA_FACTORY_REVIEW_MAX_TOKENS", 60_000))
        self.usage = RunUsage()

    def review(self, *, worktree: Path, paths: list[str]) -> list[ReviewFinding]:
        root = worktree.resolve()
        files = reviewable(root, paths, reviewer=self.name, suffix=None)
        sources, too_large, budget = {}, [], self.max_chars
        for path in files:
            text = (root / path).read_text(errors="replace")
            if len(text) > budget:
                too_large.append(path)
                continue
            sources[path] = text
            budget -= len(text)
        findings = [
            ReviewFinding(
                reviewer=self.name,
                rule_id="not-reviewed",
                severity=Severity.INFO,
                path=path,
                line=None,
                message="Too large for the LLM reviewer's budget; only the static reviewers read it.",
            )
            for path in too_large
        ]
        if not sources:
            return findings
        prompt = "\n\n".join(f"=== {path} ===\n{numbered(text)}" for path, text in sources.items())
        agent = Agent(self.model, output_type=ModelReview, instructions=REVIEW_INSTRUCTIONS, retries=1)
        try:
            result = agent.run_sync(
                f"Review these {len(sources)} changed files.\n\n{prompt}",
                usage_limits=UsageLimits(request_limit=3, total_tokens_limit=self.max_tokens),
            )
        except AgentRunError as exc:
            raise ReviewerError(f"the model failed to review: {exc}", reviewer=self.name) from exc
        self.usage = result.usage
        findings += findings_from_model(result.output.findings, reviewer=self.name, sources=sources)
        return findings_sorted(findings)
