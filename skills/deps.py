"""What every tool receives: the asker's context, injected by the executor, never chosen by a model;
and what a tool declares about itself."""

from dataclasses import dataclass

from pydantic_ai.tools import ToolDefinition

from tenants.context import AskerContext

# A tool that changes a record is registered `@toolset.tool(metadata=WRITES)`: the executor makes
# the asker confirm it when it is called after any tool result (docs/security.md#write-tools).
WRITES = {"writes": True}


@dataclass(frozen=True)
class SkillDeps:
    context: AskerContext
    run_id: str


def tool_writes(tool_def: ToolDefinition) -> bool:
    return bool((tool_def.metadata or {}).get("writes"))
