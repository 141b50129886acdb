"""Remediation: fix what can be fixed in a worktree, then re-review to know what is left.

Offline it runs ruff's safe fixes and ruff's formatter on the files the findings name, and nothing
else. With a model configured (see factory/reviewers/llm.py) it then asks the model to rewrite each
file that still has findings, bounded in files, characters, tokens and time; a rewrite of a Python
file that does not parse is thrown away. It never commits: the pipeline commits what changed and
sends the new SHA through the gate and review again.

`fixed` are the findings the static reviewers no longer report; `remaining` is what they report
now (new problems included) plus findings of the LLM and Greptile reviewers, which only the next
review round can confirm.
"""

import ast
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel
from pydantic_ai import Agent, UsageLimits
from pydantic_ai.exceptions import AgentRunError
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage

from aspora.errors import ApplicationError
from factory.reviewers import ReviewerError, ReviewFinding, findings_sorted, static_reviewers
from factory.reviewers.base import reviewable, run_tool
from factory.reviewers.llm import factory_model, factory_setting
from factory.reviewers.static import ruff_config

STATIC_REVIEWERS = {"ruff", "bandit", "aspora-rules"}
_AUTO: Any = object()

REMEDIATE_INSTRUCTIONS = """\
You fix review findings in one file of a Python/Django codebase. Return the whole file, changed only
as much as the findings need, keeping its behaviour otherwise. Never weaken a check to silence a
finding: a tool reads who is asking from ctx.deps.context, secrets come from the environment, money
is Decimal. If a finding cannot be fixed in this file alone, leave that part unchanged and do not
list its rule id as fixed.
"""


class RemediationError(ApplicationError):
    """Remediation could not run at all (a path outside the worktree, ruff failing)."""


class FindingLike(Protocol):
    reviewer: str
    rule_id: str
    severity: str
    path: str
    line: int | None
    message: str


@dataclass(frozen=True)
class Remediation:
    fixed: list[ReviewFinding]
    remaining: list[ReviewFinding]
    changed_paths: list[str]
    log: list[str] = field(default_factory=list)
    tokens: int = 0


class FileRewrite(BaseModel):
    content: str
    fixed: list[str]


def _as_finding(item: FindingLike) -> ReviewFinding:
    return ReviewFinding(
        reviewer=item.reviewer,
        rule_id=item.rule_id,
        severity=str(item.severity),
        path=item.path,
        line=item.line,
        message=item.message,
    )


def _key(finding: ReviewFinding) -> tuple:
    # The pipeline's key too: a line number shifts when a fix above it removes lines.
    return (finding.reviewer, finding.rule_id, finding.path, finding.message)


def _digest(root: Path, paths: list[str]) -> dict[str, str]:
    return {path: hashlib.sha256((root / path).read_bytes()).hexdigest() for path in paths}


def _ruff_fix(root: Path, paths: list[str], log: list[str]) -> None:
    config = ruff_config(root)
    fmt_config = config if config[0] == "--config" else ["--isolated"]
    for args in (
        ["ruff", "check", "--fix", "--no-cache", "--exit-zero", "--quiet", *config, "--", *paths],
        ["ruff", "format", "--no-cache", "--quiet", *fmt_config, "--", *paths],
    ):
        try:
            result = run_tool(args, cwd=root, reviewer="ruff")
        except ReviewerError as exc:
            raise RemediationError(f"ruff could not remediate: {exc.message}") from exc
        if result.returncode not in (0, 1):
            detail = (result.stderr or result.stdout).strip()[:300]
            # A file ruff cannot format (a syntax error) is reported, not fatal: review reports it too.
            log.append(f"ruff {args[1]} exited {result.returncode}: {detail}")


def _rewrite_prompt(path: str, text: str, findings: list[ReviewFinding]) -> str:
    listed = "\n".join(
        f"- line {f.line or '?'}: [{f.rule_id}, {f.severity}] {f.message}" for f in sorted(findings, key=_line)
    )
    return f"File: {path}\n\nFindings:\n{listed}\n\nThe file as it is now:\n```\n{text}\n```"


def _line(finding: ReviewFinding) -> int:
    return finding.line or 0


def _llm_fix(
    *, root: Path, model: Model, findings: list[ReviewFinding], log: list[str], max_files: int, max_chars: int
) -> RunUsage:
    usage = RunUsage()
    limits = UsageLimits(
        request_limit=2 * max_files,
        total_tokens_limit=int(factory_setting("ASPORA_FACTORY_REMEDIATE_MAX_TOKENS", 100_000)),
    )
    agent = Agent(model, output_type=FileRewrite, instructions=REMEDIATE_INSTRUCTIONS, retries=1)
    by_path: dict[str, list[ReviewFinding]] = {}
    for finding in findings:
        if finding.path:
            by_path.setdefault(finding.path, []).append(finding)
    paths = reviewable(root, list(by_path), reviewer="remediation", suffix=None)
    for skipped in paths[max_files:]:
        log.append(f"llm: {skipped} left as is (at most {max_files} files a round)")
    for path in paths[:max_files]:
        text = (root / path).read_text(errors="replace")
        if len(text) > max_chars:
            log.append(f"llm: {path} left as is ({len(text)} characters, over {max_chars})")
            continue
        try:
            result = agent.run_sync(
                _rewrite_prompt(path, text, by_path[path]), usage_limits=limits, usage=usage, timeout=120
            )
        except AgentRunError as exc:
            log.append(f"llm: stopped at {path}: {exc}")
            break
        rewrite = result.output
        if path.endswith(".py"):
            try:
                ast.parse(rewrite.content, filename=path)
            except SyntaxError as exc:
                log.append(f"llm: its rewrite of {path} does not parse (line {exc.lineno}); kept the original")
                continue
        content = (
            rewrite.content if rewrite.content.endswith("\n") or not text.endswith("\n") else rewrite.content + "\n"
        )
        if content != text:
            (root / path).write_text(content)
            log.append(f"llm: rewrote {path} for {', '.join(rewrite.fixed) or 'its findings'}")
    return usage


def remediate(
    *,
    worktree: Path,
    findings: Sequence[FindingLike],
    model: Model | None = _AUTO,
    max_files: int = 5,
    max_chars: int = 40_000,
) -> Remediation:
    """Fix what ruff (and, when configured, the model) can in the files `findings` name; never commits.

    `model` defaults to the factory's configured model (none offline); pass None to stay offline.
    """
    root = worktree.resolve()
    found = [_as_finding(f) for f in findings]
    try:
        paths = reviewable(root, sorted({f.path for f in found if f.path}), reviewer="remediation", suffix=None)
    except ReviewerError as exc:
        raise RemediationError(exc.message) from exc
    python = [path for path in paths if path.endswith(".py")]
    before = _digest(root, paths)
    log: list[str] = []
    if python:
        _ruff_fix(root, python, log)
        log.append(f"ruff: fixed and formatted {len(python)} file(s)")

    def rereview() -> list[ReviewFinding]:
        current: list[ReviewFinding] = []
        for reviewer in static_reviewers():
            current += reviewer.review(worktree=root, paths=python)
        return current

    current = rereview()
    unverified = [f for f in found if f.reviewer not in STATIC_REVIEWERS]
    model = factory_model() if model is _AUTO else model
    tokens = 0
    if model is not None and (current or unverified):
        usage = _llm_fix(
            root=root, model=model, findings=current + unverified, log=log, max_files=max_files, max_chars=max_chars
        )
        tokens = usage.total_tokens
        current = rereview()
    after = _digest(root, paths)
    still = {_key(f) for f in current}
    fixed = [f for f in found if f.reviewer in STATIC_REVIEWERS and _key(f) not in still]
    if unverified:
        log.append(f"{len(unverified)} finding(s) of the LLM or Greptile reviewers are checked on the next review")
    return Remediation(
        fixed=findings_sorted(fixed),
        remaining=findings_sorted(current + unverified),
        changed_paths=[path for path in paths if before[path] != after[path]],
        log=log,
        tokens=tokens,
    )
