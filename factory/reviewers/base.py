"""What every reviewer returns, and the few helpers they share (docs/factory-policy.md#reviewers)."""

import subprocess  # nosec B404
import sys
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

from aspora.errors import ApplicationError
from factory.models import SEVERITY_RANK, Severity


class ReviewerError(ApplicationError):
    """A reviewer could not review; the change is not reviewed, never silently passed."""

    def __init__(self, message: str, *, reviewer: str):
        super().__init__(message, extra={"reviewer": reviewer})
        self.reviewer = reviewer


@dataclass(frozen=True)
class ReviewFinding:
    """One finding, shaped like a SARIF result: who found it, which rule, how bad, where, what.

    `message` never carries a line number, so the same problem on a shifted line is still
    recognised as the same finding in the next round.
    """

    reviewer: str
    rule_id: str
    severity: str
    path: str
    line: int | None
    message: str

    def __post_init__(self):
        if self.severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {self.severity!r} from {self.reviewer}")
        object.__setattr__(self, "severity", str(self.severity))  # a plain string, whichever enum it came as

    def as_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Reviewer(Protocol):
    name: str

    def review(self, *, worktree: Path, paths: list[str]) -> list[ReviewFinding]: ...


SARIF_LEVELS = {
    Severity.INFO: "note",
    Severity.LOW: "note",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}


def findings_to_sarif(findings: list[ReviewFinding]) -> dict:
    """A SARIF 2.1.0 log, one run per reviewer, for tools that read SARIF (code scanning, IDEs)."""
    runs = []
    for reviewer in sorted({f.reviewer for f in findings}):
        results = []
        for f in (f for f in findings if f.reviewer == reviewer):
            physical: dict = {"artifactLocation": {"uri": f.path}}
            if f.line:
                physical["region"] = {"startLine": f.line}
            location = {"physicalLocation": physical}
            results.append(
                {
                    "ruleId": f.rule_id,
                    "level": SARIF_LEVELS[f.severity],
                    "message": {"text": f.message},
                    "locations": [location] if f.path else [],
                    "properties": {"severity": f.severity},
                }
            )
        runs.append({"tool": {"driver": {"name": reviewer}}, "results": results})
    return {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": runs}


def findings_sorted(findings: list[ReviewFinding]) -> list[ReviewFinding]:
    return sorted(findings, key=lambda f: (f.path, f.line or 0, -SEVERITY_RANK[f.severity], f.rule_id, f.message))


def severity_lower(severity: str, steps: int = 1) -> str:
    values = list(SEVERITY_RANK)
    return values[max(0, SEVERITY_RANK[severity] - steps)]


def is_test_path(path: str) -> bool:
    """Test code: its fake tokens, asserts and fixtures are not production findings."""
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    return "tests" in parts[:-1] or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def reviewable(worktree: Path, paths: list[str], *, reviewer: str, suffix: str | None = ".py") -> list[str]:
    """The changed paths that exist inside the worktree (deleted files have nothing to review).

    A path that leaves the worktree is an error, not something to skip quietly.
    """
    root = worktree.resolve()
    out = []
    for path in dict.fromkeys(paths):
        full = (root / path).resolve()
        if not full.is_relative_to(root):
            raise ReviewerError(f"{path!r} is outside the worktree {worktree}", reviewer=reviewer)
        if full.is_file() and (suffix is None or full.suffix == suffix):
            out.append(full.relative_to(root).as_posix())
    return out


def run_tool(args: list[str], *, cwd: Path, reviewer: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m <tool> ...` from this interpreter, so the pinned version is the one used."""
    try:
        return subprocess.run(  # noqa: S603 - this interpreter, our arguments  # nosec B603
            [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ReviewerError(f"{args[0]} did not finish within {timeout:.0f} s", reviewer=reviewer) from exc
    except OSError as exc:
        raise ReviewerError(f"{args[0]} could not start: {exc}", reviewer=reviewer) from exc
