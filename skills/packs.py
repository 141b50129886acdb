"""Reading and validating domain packs: `aspora.config.yaml` plus `SKILL.md` files.

Pure functions over files, no database: `pack_read()` returns what is valid and a list of
`PackProblem`s, each naming the file, the line when known, the field and what was expected.
"""

import hashlib
import importlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aspora.redaction import ALL_KINDS, RedactionKind
from skills.deps import tool_writes
from tenants.models import Role

CONFIG_FILE = "aspora.config.yaml"
SKILL_FILE = "SKILL.md"
NAME_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_FRONTMATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)


class SkillFrontmatter(BaseModel):
    """The Agent Skills `SKILL.md` frontmatter. Fields other clients add are kept, not rejected."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    description: str = Field(min_length=1, max_length=1024)
    license: str | None = None
    compatibility: str | None = Field(default=None, max_length=500)
    metadata: dict[str, str] = Field(default_factory=dict)
    allowed_tools: str | None = Field(default=None, alias="allowed-tools")


class Grants(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: list[str] = Field(default_factory=list, description="team slugs that may run every skill")
    change: list[str] = Field(default_factory=list, description="team slugs that may change the skills")


class Governance(BaseModel):
    """What a domain's data may do outside Aspora's database (see docs/security.md).

    `redact`: the PII kinds replaced before a message, tool result or history reaches a model
    provider (all of them unless the domain lists fewer). `transcript_retention_days`: how long
    run transcripts (message, answer, events, model history) are kept before the purge job blanks
    them; the unredacted originals live only in those transcripts."""

    model_config = ConfigDict(extra="forbid")

    redact: list[RedactionKind] = Field(default_factory=lambda: list(ALL_KINDS))
    transcript_retention_days: int = Field(default=90, ge=1, le=3650)


class DomainMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    description: str = ""
    scope: Literal["user", "team", "tenant"] = "team"
    owner: str = ""
    grants: Grants = Field(default_factory=Grants)
    governance: Governance = Field(default_factory=Governance)


def domain_governance(config: dict | None) -> Governance:
    """A domain's governance from its stored config; the safe default when it predates the field."""
    return Governance.model_validate((config or {}).get("governance") or {})


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_limit: int = Field(default=8, ge=1, le=100)
    tool_calls_limit: int | None = Field(default=None, ge=0, le=200)
    total_tokens_limit: int | None = Field(default=None, ge=1)


class Example(BaseModel):
    """A request the skill answers: routing for the offline model, help for people, an eval case.

    `as` is the demo user the eval asks as; `tools` the tool calls it expects (in order); `facts`
    strings the answer must contain.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    ask: str = Field(min_length=1, max_length=500)
    as_user: str | None = Field(default=None, alias="as")
    tools: list[str] | None = None
    facts: list[str] = Field(default_factory=list)


class SkillEntry(BaseModel):
    """Aspora's own settings for one skill; they stay out of SKILL.md so skills remain portable."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    path: str
    requires_context: list[str] = Field(default_factory=lambda: ["user", "team"])
    model: str | None = None
    tools: list[str] = Field(default_factory=list)
    confirm: list[str] = Field(default_factory=list, description="tools whose calls wait for the asker to confirm")
    roles: list[Role] = Field(default_factory=list, description="roles allowed to run it; empty means any")
    limits: Limits = Field(default_factory=Limits)
    timeout_seconds: int = Field(default=120, ge=1, le=3600)
    max_turns: int = Field(default=10, ge=1, le=100, description="turns a conversation keeps as context")
    examples: list[Example] = Field(default_factory=list)
    eval_as: str | None = Field(default=None, description="demo user the examples are asked as by default")

    @field_validator("examples", mode="before")
    @classmethod
    def _plain_examples(cls, value):
        if isinstance(value, list):
            return [{"ask": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        if value.startswith("/") or ".." in Path(value).parts:
            raise ValueError("must be a path inside the pack, like skills/<name>/SKILL.md")
        return value


class PackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: DomainMeta
    skills: list[SkillEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class PackProblem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass(frozen=True)
class ParsedSkill:
    entry: SkillEntry
    frontmatter: dict[str, Any]
    description: str
    instructions: str
    content: str

    @property
    def config(self) -> dict[str, Any]:
        return self.entry.model_dump(mode="json")

    @property
    def sha256(self) -> str:
        return skill_sha256(content=self.content, config=self.config)


@dataclass
class PackReadResult:
    path: Path
    config: PackConfig | None = None
    skills: list[ParsedSkill] = field(default_factory=list)
    problems: list[PackProblem] = field(default_factory=list)


def example_texts(config: dict[str, Any]) -> list[str]:
    return [example["ask"] if isinstance(example, dict) else str(example) for example in config.get("examples", [])]


def skill_sha256(*, content: str, config: dict[str, Any]) -> str:
    payload = content + "\n\x00" + json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def yaml_line_of(node: yaml.Node | None, loc: tuple, offset: int = 0) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    line = node.start_mark.line + 1 + offset if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == str(key)), None)
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1 + offset
    return line


def field_path(loc: tuple) -> str:
    text = ""
    for key in loc:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def validation_problems(error: ValidationError, file: str, node, offset: int = 0, prefix=()) -> list[PackProblem]:
    problems = []
    for err in error.errors():
        loc = tuple(prefix) + tuple(err["loc"])
        message = err["msg"]
        if err["type"] == "missing":
            message = "is required"
        elif err["type"] == "extra_forbidden":
            message = "is not a known setting"
        problems.append(PackProblem(file, yaml_line_of(node, loc, offset), field_path(loc), message))
    return problems


def domain_tool_names(domain: str) -> set[str] | None:
    """The tools a domain's `tools.py` offers, or None when the domain ships no tools module."""
    try:
        module = importlib.import_module(f"domains.{domain}.tools")
    except ModuleNotFoundError as exc:
        if exc.name in (f"domains.{domain}", f"domains.{domain}.tools"):
            return None
        raise
    return set(module.toolset.tools)


def domain_write_tool_names(domain: str) -> set[str]:
    """The domain's tools declared as writes (`metadata=WRITES`)."""
    module = importlib.import_module(f"domains.{domain}.tools")
    return {name for name, tool in module.toolset.tools.items() if tool_writes(tool.tool_def)}


def skill_text_parse(*, text: str, file: str, entry: SkillEntry | None) -> tuple[ParsedSkill | None, list[PackProblem]]:
    """Parse one SKILL.md. With no entry (a skill dropped in without config) defaults apply."""
    match = _FRONTMATTER.match(text)
    if not match:
        return None, [PackProblem(file, 1, "frontmatter", "expected the file to start with a '---' YAML block")]
    raw, body = match.groups()
    try:
        node = yaml.compose(raw)
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [PackProblem(file, mark.line + 2 if mark else 1, "frontmatter", f"is not valid YAML: {exc}")]
    if not isinstance(data, dict):
        return None, [PackProblem(file, 2, "frontmatter", "expected a mapping of fields")]
    try:
        front = SkillFrontmatter.model_validate(data)
    except ValidationError as exc:
        return None, validation_problems(exc, file, node, offset=1)
    if entry is None:
        entry = SkillEntry(name=front.name, path=f"skills/{front.name}/SKILL.md")
    if front.name != entry.name:
        return None, [
            PackProblem(
                file,
                yaml_line_of(node, ("name",), 1),
                "name",
                f"is {front.name!r} but the config names it {entry.name!r}",
            )
        ]
    if not body.strip():
        return None, [PackProblem(file, None, "body", "is empty: the body is the skill's instructions")]
    frontmatter = front.model_dump(mode="json", by_alias=True, exclude_none=True)
    return ParsedSkill(entry, frontmatter, front.description, body.strip(), text), []


def _entry_problems(entry: SkillEntry, index: int, tools: set[str] | None, file: str, node) -> list[PackProblem]:
    problems = []
    available = tools or set()
    for position, tool in enumerate(entry.tools):
        if tool not in available:
            known = ", ".join(sorted(available)) or "none"
            loc = ("skills", index, "tools", position)
            problems.append(
                PackProblem(
                    file, yaml_line_of(node, loc), field_path(loc), f"unknown tool {tool!r}; the domain offers: {known}"
                )
            )
    for position, tool in enumerate(entry.confirm):
        if tool not in entry.tools:
            loc = ("skills", index, "confirm", position)
            problems.append(
                PackProblem(file, yaml_line_of(node, loc), field_path(loc), f"{tool!r} is not in this skill's tools")
            )
    return problems


def pack_read(path: Path) -> PackReadResult:
    result = PackReadResult(path=path)
    config_path = path / CONFIG_FILE
    config_file = _display(config_path)
    if not config_path.is_file():
        result.problems.append(PackProblem(config_file, None, "", "missing: every pack needs an aspora.config.yaml"))
        return result
    text = config_path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        result.problems.append(
            PackProblem(config_file, mark.line + 1 if mark else None, "", f"is not valid YAML: {exc}")
        )
        return result
    try:
        result.config = PackConfig.model_validate(data or {})
    except ValidationError as exc:
        result.problems.extend(validation_problems(exc, config_file, node))
        return result
    if result.config.domain.name != path.name:
        loc = ("domain", "name")
        result.problems.append(
            PackProblem(
                config_file,
                yaml_line_of(node, loc),
                "domain.name",
                f"is {result.config.domain.name!r} but the folder is {path.name!r}",
            )
        )
        result.config = None
        return result

    tools = domain_tool_names(result.config.domain.name)
    listed: set[Path] = set()
    for index, entry in enumerate(result.config.skills):
        skill_path = path / entry.path
        listed.add(skill_path.resolve())
        problems = _entry_problems(entry, index, tools, config_file, node)
        if not skill_path.is_file():
            loc = ("skills", index, "path")
            problem = PackProblem(config_file, yaml_line_of(node, loc), field_path(loc), f"no file at {entry.path}")
            problems.append(problem)
        if problems:
            result.problems.extend(problems)
            continue
        parsed, problems = skill_text_parse(
            text=skill_path.read_text(encoding="utf-8"), file=_display(skill_path), entry=entry
        )
        result.problems.extend(problems)
        if parsed:
            result.skills.append(parsed)

    # A SKILL.md dropped into the pack without a config entry still imports, with defaults.
    for skill_path in sorted((path / "skills").glob(f"**/{SKILL_FILE}")):
        if skill_path.resolve() in listed:
            continue
        text = skill_path.read_text(encoding="utf-8")
        parsed, problems = skill_text_parse(text=text, file=_display(skill_path), entry=None)
        result.problems.extend(problems)
        if parsed:
            relative = str(skill_path.relative_to(path))
            result.skills.append(
                ParsedSkill(
                    parsed.entry.model_copy(update={"path": relative}),
                    parsed.frontmatter,
                    parsed.description,
                    parsed.instructions,
                    parsed.content,
                )
            )
    return result
