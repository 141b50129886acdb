"""Generators: a parsed spec in, files in a worktree out (docs/factory-pipeline.md).

`generate()` is pure with respect to the database and git: it writes files under `worktree`,
returns what it wrote, and never commits. What the offline generators cannot derive from the spec
and the building blocks stops the run with `SpecIncomplete`, naming what is missing: business
logic is never guessed.
"""

from dataclasses import dataclass, field
from pathlib import Path

from aspora.errors import ApplicationError
from factory.specs import ProductSpec, SkillSpec


class SpecIncomplete(ApplicationError):
    """The spec is valid but lacks what the generator needs; `missing` holds one sentence per gap."""

    status_code = 422

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__("; ".join(missing))


@dataclass
class Generation:
    files: list[str] = field(default_factory=list)  # relative to the worktree, in the order written
    summary: str = ""


def generate(spec: SkillSpec | ProductSpec, *, worktree: Path) -> Generation:
    """Write what `spec` asks for into `worktree` with the offline, golden-path generators."""
    if isinstance(spec, SkillSpec):
        from factory.generators.skill import skill_generate

        return skill_generate(spec, worktree=Path(worktree))
    from factory.generators.product import product_generate

    return product_generate(spec, worktree=Path(worktree))


__all__ = ["Generation", "SpecIncomplete", "generate"]
