"""The LLM coding agent: a pydantic-ai agent that changes a repository inside one worktree.

Used when a model is configured (`ASPORA_FACTORY_MODEL`, else `ASPORA_MODEL`; see
`factory.reviewers.llm.factory_model`). Its tools read, search, write and test files of the worktree
and nothing else: a path that is absolute, climbs out with `..`, leaves through a symlink or touches
`.git` is refused, and the refusal is what the model sees. A run is bounded in requests (steps), tool
calls, tokens and cost by pydantic-ai's `UsageLimits`; hitting a bound stops it with `AgentStopped`,
naming the bound and what was written so far. Like every generator it never commits.
"""

import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from pydantic_ai import Agent, RunContext, UsageLimits
from pydantic_ai.exceptions import AgentRunError, CostNotFoundWarning, UsageLimitExceeded
from pydantic_ai.models import Model

from aspora.errors import ApplicationError
from factory.generators import Generation
from factory.specs import ChangeSpec, ProductSpec, SkillSpec

AGENT_INSTRUCTIONS = """\
You are Aspora's coding agent. You change the repository you are given so that it does what the task
asks, and nothing else. Work with your tools: list_files and search to find your way, read_file
before you change a file, write_file with the whole new content, run_tests to check. Paths are
relative to the repository root. Keep the repository's style. Money is computed with Decimal, never
float. Add or update tests for what you change. Finish only when run_tests passes, then answer with
two or three sentences saying what you changed and why.
"""
SKIPPED = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".venv", "node_modules", "data"}
MAX_LISTED = 400
MAX_HITS = 60


class AgentStopped(ApplicationError):
    """The agent hit a bound (steps, tool calls, tokens, cost) or its model failed; `files` were written."""

    status_code = 422

    def __init__(self, message: str, *, files: list[str]):
        super().__init__(message)
        self.files = files


@dataclass(frozen=True)
class AgentBudget:
    request_limit: int = 30  # model requests, i.e. steps
    tool_calls_limit: int = 80
    total_tokens_limit: int = 400_000
    cost_limit: Decimal = Decimal("2.00")  # USD; enforced where the model's prices are known
    max_read_chars: int = 20_000
    test_timeout: int = 300

    def usage_limits(self) -> UsageLimits:
        return UsageLimits(
            request_limit=self.request_limit,
            tool_calls_limit=self.tool_calls_limit,
            total_tokens_limit=self.total_tokens_limit,
            cost_limit=self.cost_limit,
        )


@dataclass
class Workspace:
    root: Path
    budget: AgentBudget
    written: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    test_runs: int = 0


class _Refused(Exception):
    pass


def worktree_path(root: Path, path: str) -> Path:
    """`path` inside `root`, resolved through symlinks; `_Refused` when it would leave or touch `.git`."""
    if not path or "\x00" in path:
        raise _Refused("give a path relative to the repository root")
    if Path(path).is_absolute():
        raise _Refused(f"{path} is absolute; give a path relative to the repository root")
    base = root.resolve()
    resolved = (base / path).resolve()
    if not resolved.is_relative_to(base):
        raise _Refused(f"{path} is outside the repository")
    if ".git" in resolved.relative_to(base).parts:
        raise _Refused(f"{path} is inside .git, which is not yours to touch")
    return resolved


def _refusal(ctx: RunContext[Workspace], exc: _Refused) -> str:
    ctx.deps.refused.append(str(exc))
    return f"Refused: {exc}."


def _relative(ctx: RunContext[Workspace], path: Path) -> str:
    return path.relative_to(ctx.deps.root.resolve()).as_posix()


def list_files(ctx: RunContext[Workspace], folder: str = ".") -> list[str]:
    """Files under a folder of the repository (caches and .git left out).

    Args:
        folder: a folder relative to the repository root; "." for all of it.
    """
    try:
        start = worktree_path(ctx.deps.root, folder)
    except _Refused as exc:
        return [_refusal(ctx, exc)]
    found = []
    for path in sorted(start.rglob("*")):
        parts = path.relative_to(start).parts
        if path.is_file() and not SKIPPED.intersection(parts):
            found.append(_relative(ctx, path))
            if len(found) >= MAX_LISTED:
                found.append(f"... more files; list a subfolder (shown {MAX_LISTED})")
                break
    return found


def read_file(ctx: RunContext[Workspace], path: str, offset: int = 0) -> str:
    """The text of a file of the repository, from a character offset.

    Args:
        path: the file, relative to the repository root.
        offset: the character to start from, for long files.
    """
    try:
        target = worktree_path(ctx.deps.root, path)
    except _Refused as exc:
        return _refusal(ctx, exc)
    if not target.is_file():
        return f"There is no file {path}."
    text = target.read_text(encoding="utf-8", errors="replace")
    end = offset + ctx.deps.budget.max_read_chars
    chunk = text[offset:end]
    return chunk + (
        f"\n[... {len(text) - end} more characters: read again from offset {end}]" if end < len(text) else ""
    )


def search(ctx: RunContext[Workspace], text: str, folder: str = ".") -> list[str]:
    """Lines of the repository's text files that contain `text` (case-insensitive), as path:line: content.

    Args:
        text: what to look for.
        folder: where to look, relative to the repository root.
    """
    try:
        start = worktree_path(ctx.deps.root, folder)
    except _Refused as exc:
        return [_refusal(ctx, exc)]
    wanted, hits = text.lower(), []
    for path in sorted(start.rglob("*")):
        if not path.is_file() or SKIPPED.intersection(path.relative_to(start).parts):
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(lines, start=1):
            if wanted in line.lower():
                hits.append(f"{_relative(ctx, path)}:{number}: {line.strip()[:200]}")
                if len(hits) >= MAX_HITS:
                    return [*hits, f"... more matches; search a subfolder (shown {MAX_HITS})"]
    return hits or [f"No line contains {text!r}."]


def write_file(ctx: RunContext[Workspace], path: str, content: str) -> str:
    """Write a file of the repository with its whole new content (folders are created).

    Args:
        path: the file, relative to the repository root.
        content: the complete text of the file.
    """
    try:
        target = worktree_path(ctx.deps.root, path)
    except _Refused as exc:
        return _refusal(ctx, exc)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
    relative = _relative(ctx, target)
    if relative not in ctx.deps.written:
        ctx.deps.written.append(relative)
    return f"Wrote {relative} ({len(content)} characters)."


def run_tests(ctx: RunContext[Workspace], path: str = "") -> str:
    """Run the repository's tests with pytest (all of them, or one file or folder) and report the outcome.

    Args:
        path: a test file or folder relative to the repository root; empty for every test.
    """
    arguments = []
    if path:
        try:
            worktree_path(ctx.deps.root, path)
        except _Refused as exc:
            return _refusal(ctx, exc)
        arguments.append(path)
    ctx.deps.test_runs += 1
    # The tests run as the repository's own: not with the factory's Django settings or database.
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    try:
        run = subprocess.run(  # noqa: S603 - our own interpreter, arguments checked above
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments],
            cwd=ctx.deps.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=ctx.deps.budget.test_timeout,
        )
    except subprocess.TimeoutExpired:
        return f"The tests did not finish within {ctx.deps.budget.test_timeout} s."
    output = (run.stdout + run.stderr).strip()
    verdict = "passed" if run.returncode == 0 else f"failed (exit {run.returncode})"
    return f"Tests {verdict}.\n{output[-4000:]}"


def coding_agent(model: Model) -> Agent[Workspace, str]:
    return Agent(
        model,
        deps_type=Workspace,
        instructions=AGENT_INSTRUCTIONS,
        tools=[list_files, read_file, search, write_file, run_tests],
        retries=2,
    )


def task_prompt(spec: SkillSpec | ProductSpec | ChangeSpec) -> str:
    """What the agent is asked: the spec's title and prose, and its frontmatter as the PM wrote it."""
    body = spec.description if not isinstance(spec, SkillSpec) else spec.instruction
    fields = spec.model_dump(mode="json", exclude={"description", "instruction"}, exclude_defaults=True)
    return f"# {spec.title}\n\n{body}\n\nThe spec's fields, as JSON:\n{json.dumps(fields, indent=1)}"


def agent_generate(
    spec: SkillSpec | ProductSpec | ChangeSpec,
    *,
    worktree: Path,
    model: Model,
    budget: AgentBudget | None = None,
) -> Generation:
    """Let the coding agent change `worktree` for `spec`, within `budget`; never commits."""
    workspace = Workspace(root=Path(worktree), budget=budget or AgentBudget())
    try:
        with warnings.catch_warnings():
            # A model without known prices cannot be held to the cost bound; the token bound still holds,
            # and the summary says the cost is unknown.
            warnings.simplefilter("ignore", CostNotFoundWarning)
            result = coding_agent(model).run_sync(
                task_prompt(spec), deps=workspace, usage_limits=workspace.budget.usage_limits()
            )
    except UsageLimitExceeded as exc:
        raise AgentStopped(
            f"The coding agent stopped at its budget: {str(exc).split('. Consider')[0]}. "
            f"It had written {', '.join(workspace.written) or 'nothing'}.",
            files=workspace.written,
        ) from exc
    except AgentRunError as exc:
        raise AgentStopped(f"The coding agent failed: {exc}", files=workspace.written) from exc
    usage = result.usage
    cost = f", ${usage.cost:.4f}" if usage.cost is not None else ", cost unknown"
    summary = (
        f"{result.output.strip()[:600]} ({usage.requests} steps, {usage.total_tokens} tokens{cost}; "
        f"{workspace.test_runs} test runs)"
    )
    return Generation(files=sorted(workspace.written), summary=summary)
