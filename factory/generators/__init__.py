"""Generators: a parsed spec in, files in a worktree out (docs/factory-pipeline.md).

`generate()` is pure with respect to the database and git: it writes files under `worktree`,
returns what it wrote, and never commits. What the offline generators cannot derive from the spec
and the building blocks stops the run with `SpecIncomplete`, naming what is missing: business
logic is never guessed.
"""

from dataclasses import dataclass, field
from pathlib import Path

from aspora.errors import ApplicationError
from factory.specs import ChangeSpec, ProductSpec, SkillSpec


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


_CONFIGURED = object()


def generate(spec: SkillSpec | ProductSpec | ChangeSpec, *, worktree: Path, model=_CONFIGURED) -> Generation:
    """Write what `spec` asks for into `worktree`.

    Skills and products come from the offline, golden-path generators, whatever model is configured.
    A change to an existing repository is the LLM coding agent's (`agent.py`), with the factory's
    configured model unless `model` (a pydantic-ai model, or None for none) is given.
    """
    worktree = Path(worktree)
    if isinstance(spec, SkillSpec):
        from factory.generators.skill import skill_generate

        return skill_generate(spec, worktree=worktree)
    if isinstance(spec, ProductSpec):
        from factory.generators.product import product_generate

        return product_generate(spec, worktree=worktree)
    from factory.generators.agent import agent_generate
    from factory.reviewers.llm import factory_model

    model = factory_model() if model is _CONFIGURED else model
    if model is None:
        raise SpecIncomplete(
            [
                "A change to an existing repository needs the LLM coding agent, and no model is configured: "
                "set ASPORA_FACTORY_MODEL (or ASPORA_MODEL) and its provider's key."
            ]
        )
    return agent_generate(spec, worktree=worktree, model=model)


__all__ = ["Generation", "SpecIncomplete", "generate"]
