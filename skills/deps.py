"""What every tool receives: the asker's context, injected by the executor, never chosen by a model."""

from dataclasses import dataclass

from tenants.context import AskerContext


@dataclass(frozen=True)
class SkillDeps:
    context: AskerContext
    run_id: str
