"""Aspora's built-in offline model: what answers when no provider key is configured.

A deterministic pydantic-ai `FunctionModel`. It picks the skill's best-matching tool, fills the
tool's arguments from the message by the tool's own JSON schema (integers, numbers, enums, free
text), calls it, and renders what came back as markdown. It never invents data, asks for a
required value it cannot find, and labels every answer as offline.
"""

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, RetryPromptPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
from pydantic_ai.tools import ToolDefinition

from skills.router import words

OFFLINE_MODEL_NAME = "aspora:offline"
OFFLINE_LABEL = "_Answered by Aspora's offline model: no model provider is configured._"
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
# The words that introduce a reason, strongest first: "because" wins over a loose "as".
_REASONS = [
    re.compile(r"\b(?:because\b|since\b|due to\b|reason(?: is)?:?)\s*(.+)$", re.IGNORECASE),
    re.compile(r"\bas\b\s*(.+)$", re.IGNORECASE),
]


def _user_text(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


def _tool_score(tool: ToolDefinition, asked: set[str]) -> float:
    return 2 * len(asked & words(tool.name.replace("_", " "))) + len(asked & words(tool.description or ""))


def _numbers_near(text: str, hints: set[str]) -> list[str]:
    """Numbers in the message, those right after a hint word (`ticket 1042`) first."""
    found = []
    for match in _NUMBER.finditer(text):
        before = words(text[max(0, match.start() - 24) : match.start()])
        found.append((0 if before & hints else 1, match.start(), match.group()))
    return [value for _, _, value in sorted(found)]


def _free_text(text: str, used: list[str]) -> str:
    for pattern in _REASONS:
        match = pattern.search(text)
        if match:
            return match.group(1).strip().rstrip(".")
    tail = text
    for value in used:
        _, _, after = tail.partition(value)
        tail = after or tail
    return tail.strip(" ,.:;-") or text.strip()


def arguments_extract(tool: ToolDefinition, text: str) -> tuple[dict[str, Any], list[str]]:
    """Arguments for `tool` found in `text`, and the required ones that could not be found."""
    schema = tool.parameters_json_schema or {}
    properties: dict[str, dict] = schema.get("properties", {})
    required = set(schema.get("required", []))
    lowered = text.lower().replace("-", " ")
    args: dict[str, Any] = {}
    used: list[str] = []
    free_text_fields = []
    for name, spec in properties.items():
        # `X | None` arrives as anyOf [X, null]: judge by X.
        options = [option for option in spec.get("anyOf", []) if option.get("type") != "null"]
        if options:
            spec = {**options[0], "description": spec.get("description", "")}
        kind = spec.get("type")
        hints = words(name.replace("_", " ")) | words(spec.get("description", ""))
        if "enum" in spec:
            hit = next((v for v in spec["enum"] if str(v).replace("_", " ").replace("-", " ").lower() in lowered), None)
            if hit is not None:
                args[name] = hit
        elif kind in ("integer", "number"):
            numbers = [n for n in _numbers_near(text, hints) if n not in used]
            if kind == "integer":
                numbers = [n for n in numbers if "." not in n]
            if numbers:
                used.append(numbers[0])
                args[name] = int(numbers[0]) if kind == "integer" else float(numbers[0])
        elif kind == "boolean":
            if words(text) & {"yes", "true", "only"}:
                args[name] = True
        elif kind == "string":
            free_text_fields.append(name)
    for name in free_text_fields:
        if "username" in name:
            # A username is one word; the last one of the request ("… to priya") is the likeliest.
            candidates = [w for w in re.findall(r"[A-Za-z][\w.-]*", text) if w.lower() not in {"to", "over", "for"}]
            if candidates:
                args[name] = candidates[-1].lower()
            continue
        if name in required:
            value = _free_text(text, used)
            if value and value.lower() != text.strip().lower():
                args[name] = value
    missing = [name for name in sorted(required) if name not in args]
    return args, missing


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "⚠ yes" if value else "no"
    return str(value).replace("|", "\\|")


def _table(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row if not isinstance(row[key], (list, dict))))
    lines = ["| " + " | ".join(c.replace("_", " ") for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _label(key: str) -> str:
    return key.replace("_", " ")


def result_render(content: Any) -> str:
    """Tool output as markdown: tables for lists of records, bullets for records, sections for both."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return content
    if isinstance(content, list):
        if not content:
            return "Nothing matched."
        if all(isinstance(row, dict) for row in content):
            return f"{len(content)} found:\n\n" + _table(content)
        return "\n".join(f"- {_cell(item)}" for item in content)
    if isinstance(content, dict):
        if "error" in content:
            return str(content["error"])
        lines, sections = [], []
        for key, value in content.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                sections.append(f"**{_label(key)}** ({len(value)}):\n\n" + _table(value))
            elif isinstance(value, list):
                items = "\n".join(f"    - {_cell(v)}" for v in value) or "    - none"
                lines.append(f"- **{_label(key)}**:\n{items}")
            elif isinstance(value, dict):
                lines.append(f"- **{_label(key)}**:")
                lines += [f"    - {_label(k)}: {_cell(v)}" for k, v in value.items()]
            else:
                lines.append(f"- **{_label(key)}**: {_cell(value)}")
        return "\n\n".join(part for part in ["\n".join(lines), *sections] if part)
    return _cell(content)


def _chunks(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


async def offline_stream(
    messages: list[ModelMessage], info: AgentInfo
) -> AsyncIterator[str | dict[int, DeltaToolCall]]:
    latest = messages[-1]
    parts = latest.parts if isinstance(latest, ModelRequest) else []
    returns = [p for p in parts if isinstance(p, ToolReturnPart)]
    retries = [p for p in parts if isinstance(p, RetryPromptPart)]
    if returns:
        answer = "\n\n".join(result_render(part.content) for part in returns)
    elif retries:
        answer = "I could not complete that: " + "; ".join(str(part.content) for part in retries)
    else:
        text = _user_text(messages)
        tools = info.function_tools
        if not tools:
            answer = "This skill has no tools I can call offline; a configured model can answer it."
        else:
            asked = words(text)
            tool = max(tools, key=lambda t: (_tool_score(t, asked), -tools.index(t)))
            args, missing = arguments_extract(tool, text)
            if not missing:
                yield {
                    0: DeltaToolCall(
                        name=tool.name, json_args=json.dumps(args), tool_call_id=f"offline-{tool.name}-{len(messages)}"
                    )
                }
                return
            props = (tool.parameters_json_schema or {}).get("properties", {})
            needs = ", ".join(
                props.get(name, {}).get("description", name.replace("_", " ")).rstrip(".") for name in missing
            )
            answer = f"I need more to do that: {needs}."
    for chunk in _chunks(answer + "\n\n" + OFFLINE_LABEL):
        yield chunk


def offline_model() -> FunctionModel:
    return FunctionModel(stream_function=offline_stream, model_name=OFFLINE_MODEL_NAME)
