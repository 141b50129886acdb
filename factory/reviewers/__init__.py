"""Reviewers behind one interface: `review(*, worktree, paths) -> list[ReviewFinding]`.

Offline and always on: ruff, bandit and Aspora's own rules. An LLM reviewer joins when a model is
configured, Greptile when `GREPTILE_API_KEY` is set. A reviewer that cannot review raises
ReviewerError; the pipeline fails the stage rather than treat silence as a pass.
See docs/factory-policy.md.
"""

from pathlib import Path

from factory.reviewers.base import (
    Reviewer,
    ReviewerError,
    ReviewFinding,
    findings_sorted,
    findings_to_sarif,
    is_test_path,
)
from factory.reviewers.greptile import GreptileReviewer
from factory.reviewers.llm import LLMReviewer, factory_model
from factory.reviewers.rules import ProjectRulesReviewer
from factory.reviewers.static import BanditReviewer, RuffReviewer

__all__ = [
    "BanditReviewer",
    "GreptileReviewer",
    "LLMReviewer",
    "ProjectRulesReviewer",
    "ReviewFinding",
    "Reviewer",
    "ReviewerError",
    "RuffReviewer",
    "findings_sorted",
    "findings_to_sarif",
    "is_test_path",
    "review",
    "reviewers_configured",
    "static_reviewers",
]


def static_reviewers() -> list[Reviewer]:
    return [RuffReviewer(), BanditReviewer(), ProjectRulesReviewer()]


def reviewers_configured() -> list[Reviewer]:
    """Every reviewer this installation runs, the offline ones first."""
    reviewers = static_reviewers()
    model = factory_model()
    if model is not None:
        reviewers.append(LLMReviewer(model=model))
    greptile = GreptileReviewer.from_settings()
    if greptile is not None:
        reviewers.append(greptile)
    return reviewers


def review(*, worktree: Path, paths: list[str], reviewers: list[Reviewer] | None = None) -> list[ReviewFinding]:
    """Every finding of every reviewer; the first reviewer that fails raises its ReviewerError."""
    findings: list[ReviewFinding] = []
    for reviewer in reviewers if reviewers is not None else reviewers_configured():
        findings += reviewer.review(worktree=worktree, paths=paths)
    return findings_sorted(findings)
