"""Factory specs: markdown with YAML frontmatter, parsed into a `SkillSpec`, a `ProductSpec` or a `ChangeSpec`.

The format is documented in `factory/specs/README.md`. `spec_parse()` checks shape and cross
references (an endpoint names a known entity and known rules, seed rows match their fields); what a
generator can or cannot build from a valid spec (unknown blocks, underivable fields) is the
generator's call, reported as `SpecIncomplete`. Decimals in the frontmatter are read from their
text, never through a float, so `price: 2450.55` is exactly 2450.55.
"""

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aspora.errors import ApplicationError
from skills.packs import Example, Limits, field_path, yaml_line_of
from tenants.models import Role

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
IDENTIFIER = r"^[a-z][a-z0-9_]*$"
TARGET = r"^(pack|product)-[a-z0-9]+(-[a-z0-9]+)*$"
FIELD_TYPES = ("text", "integer", "decimal", "money", "ratio", "percent", "currency", "date", "boolean")
NUMBER_TYPES = ("integer", "decimal", "money", "ratio", "percent")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_FRONTMATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)
_PATH_PARAM = re.compile(r"\{([^}]*)\}")
_REQUEST = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/\S*)$")

Identifier = Annotated[str, Field(pattern=IDENTIFIER, max_length=63)]
# What a PM reads instead of a regular expression.
_PATTERN_WORDS = {
    SLUG: "must be lowercase letters and digits joined by single hyphens (like wealth-checker)",
    IDENTIFIER: "must start with a lowercase letter, then lowercase letters, digits or underscores (like avg_cost)",
    _REQUEST.pattern: "must be a method and a path, like GET /portfolio/asha",
    r"^/[A-Za-z0-9_\-/{}]*$": "must be a path starting with /, like /portfolio/{user_id}",
    TARGET: "must be a repository the factory manages: pack-<domain> or product-<name>",
}
FieldType = Literal["text", "integer", "decimal", "money", "ratio", "percent", "currency", "date", "boolean"]


class SpecError(ApplicationError, ValueError):
    """A spec that cannot be read. `problems` name the source, the line and the field of each."""

    status_code = 422

    def __init__(self, problems: list["SpecProblem"]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass(frozen=True)
class SpecProblem:
    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- product specs --------------------------------------------------------------------------------


class FieldSpec(_Strict):
    type: FieldType
    description: str = ""


class EntitySpec(_Strict):
    """A table of the product's store: typed fields, the key that orders and identifies rows, seed rows."""

    fields: dict[Identifier, FieldSpec] = Field(min_length=1)
    key: list[Identifier] = Field(min_length=1)
    seed: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value):
        # `price: money` is short for `price: {type: money}`.
        if isinstance(value, dict):
            return {name: {"type": spec} if isinstance(spec, str) else spec for name, spec in value.items()}
        return value


class QuerySpec(_Strict):
    type: FieldType = "text"
    default: Any = None
    description: str = ""

    @field_validator("type")
    @classmethod
    def _query_type(cls, value: str) -> str:
        if value not in ("text", "integer", "decimal", "currency", "boolean", "date"):
            raise ValueError("a query parameter is text, integer, decimal, currency, boolean or date")
        return value


class ItemsSpec(_Strict):
    name: Identifier
    fields: list[str | dict[str, str]] = Field(min_length=1)


class ResponseSpec(_Strict):
    fields: list[str | dict[str, str]] = Field(default_factory=list)
    items: ItemsSpec | None = None


class EndpointSpec(_Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str = Field(pattern=r"^/[A-Za-z0-9_\-/{}]*$")
    summary: str = Field(min_length=1, max_length=300)
    operation: Identifier | None = None
    entity: Identifier | None = None
    query: dict[Identifier, QuerySpec] = Field(default_factory=dict)
    rules: list[str] = Field(default_factory=list)
    response: ResponseSpec

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.upper() if isinstance(value, str) else value

    @field_validator("query", mode="before")
    @classmethod
    def _query_shorthand(cls, value):
        if isinstance(value, dict):
            return {name: {"type": spec} if isinstance(spec, str) else spec for name, spec in value.items()}
        return value

    @field_validator("path")
    @classmethod
    def _path_params(cls, value: str) -> str:
        for name in _PATH_PARAM.findall(value):
            if not re.match(IDENTIFIER, name):
                raise ValueError(f"path parameter {{{name}}} must be a lowercase identifier, like {{user_id}}")
        return value

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)


class RuleSpec(_Strict):
    """One use of a building block: its inputs taken from fields, parameters or earlier results."""

    id: str = Field(pattern=SLUG, max_length=64)
    block: str = Field(min_length=1)
    description: str = ""
    each: Identifier | None = Field(default=None, description="apply per row of this entity")
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Identifier] = Field(default_factory=dict)
    apply_to: list[Identifier] = Field(default_factory=list)


class ExampleCheck(_Strict):
    """A request and what its answer must hold: the product's acceptance tests, computed by hand."""

    request: str = Field(pattern=_REQUEST.pattern)
    status: int = Field(default=200, ge=100, le=599)
    expect: dict[str, Any] = Field(default_factory=dict)


class ProductSpec(_Strict):
    kind: Literal["product"]
    name: str = Field(pattern=SLUG, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    data: dict[Identifier, EntitySpec] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)
    endpoints: list[EndpointSpec] = Field(min_length=1)
    examples: list[ExampleCheck] = Field(default_factory=list)

    def rule(self, rule_id: str) -> RuleSpec | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)


# --- skill specs ----------------------------------------------------------------------------------


class SkillSpec(_Strict):
    kind: Literal["skill"]
    name: str = Field(pattern=SLUG, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    domain: str = Field(pattern=SLUG, max_length=64)
    description: str = Field(min_length=1, max_length=1024, description="what the skill does and when to use it")
    tools: list[Identifier] = Field(min_length=1)
    requires_context: list[Literal["user", "team", "tenant"]] = Field(default_factory=lambda: ["user", "team"])
    confirm: list[Identifier] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=list)
    model: str | None = None
    limits: Limits | None = None
    timeout_seconds: int | None = Field(default=None, ge=1, le=3600)
    eval_as: str | None = None
    examples: list[Example] = Field(min_length=1)
    instruction: str = ""


# --- change specs ---------------------------------------------------------------------------------


class ChangeSpec(_Strict):
    """A change to an existing repository, in prose: only the LLM coding agent takes these."""

    kind: Literal["change"]
    name: str = Field(pattern=SLUG, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    target: str = Field(
        pattern=TARGET,
        max_length=120,
        description="the repository the factory manages to change: pack-<domain> or product-<name>",
    )
    description: str = ""
    test_paths: list[str] = Field(default_factory=list, description="tests the agent must keep passing")


Spec = SkillSpec | ProductSpec | ChangeSpec


# --- parsing --------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML whose floats are Decimals read from their text: money never passes through a float."""


def _decimal_constructor(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = loader.construct_scalar(node).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # .inf, .nan
        message = f"{text!r} is not a finite number"
        raise yaml.constructor.ConstructorError(None, None, message, node.start_mark) from exc


def _date_constructor(loader: yaml.SafeLoader, node: yaml.ScalarNode):
    # `2024-13-01` looks like a date but is not one: keep the text, and the field check names it.
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal_constructor)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _date_constructor)


def _clean_loc(loc: tuple) -> tuple:
    # pydantic adds union branch names (`str`, `dict[str,str]`) and `[key]` markers to locations.
    return tuple(k for k in loc if not (isinstance(k, str) and (k in ("str", "dict[str,str]") or k.startswith("["))))


def _typed(value: Any, kind: str) -> tuple[Any, str | None]:
    """`value` as a `kind` field holds it, or the reason it cannot be."""
    if value is None:
        return None, "is empty"
    if kind == "text":
        return (value, None) if isinstance(value, str) else (value, "must be text")
    if kind == "currency":
        ok = isinstance(value, str) and re.fullmatch(r"[A-Z]{3}", value)
        return (value, None) if ok else (value, "must be a three-letter currency code, like INR")
    if kind == "boolean":
        return (value, None) if isinstance(value, bool) else (value, "must be true or false")
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return (value, None) if ok else (value, "must be a whole number")
    if kind == "date":
        if isinstance(value, date):
            return value, None
        try:
            return date.fromisoformat(str(value)), None
        except ValueError:
            return value, "must be a date, like 2025-01-31"
    # decimal, money, ratio, percent
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        return value, "must be a number"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return value, "must be a number"
    return (number, None) if number.is_finite() else (value, "must be a finite number")


def _product_problems(spec: ProductSpec, problem) -> None:
    """Cross references a valid shape can still get wrong; each reported at its own line."""
    for name, entity in spec.data.items():
        for index, key in enumerate(entity.key):
            if key not in entity.fields:
                problem(("data", name, "key", index), f"{key!r} is not a field of {name}")
        seen: set[tuple] = set()
        for row_index, row in enumerate(entity.seed):
            where = ("data", name, "seed", row_index)
            for column in row:
                if column not in entity.fields:
                    problem((*where, column), f"is not a field of {name}; its fields are {', '.join(entity.fields)}")
            for column, field in entity.fields.items():
                if column not in row:
                    problem(where, f"lacks {column!r}: every seed row gives every field")
                    continue
                value, error = _typed(row[column], field.type)
                if error:
                    problem((*where, column), f"{error} ({field.type})")
                else:
                    row[column] = value
            key = tuple(row.get(k) for k in entity.key)
            if key in seen:
                problem(where, f"repeats the key {dict(zip(entity.key, key, strict=True))} of an earlier row")
            seen.add(key)

    rule_ids: set[str] = set()
    for index, rule in enumerate(spec.rules):
        if rule.id in rule_ids:
            problem(("rules", index, "id"), f"{rule.id!r} is used by an earlier rule")
        rule_ids.add(rule.id)
        if rule.each and rule.each not in spec.data:
            problem(("rules", index, "each"), f"{rule.each!r} is not an entity under data")

    operations: set[tuple[str, str]] = set()
    for index, endpoint in enumerate(spec.endpoints):
        where = ("endpoints", index)
        if (endpoint.method, endpoint.path) in operations:
            problem((*where, "path"), f"{endpoint.method} {endpoint.path} is declared twice")
        operations.add((endpoint.method, endpoint.path))
        entity = spec.data.get(endpoint.entity) if endpoint.entity else None
        if endpoint.entity and entity is None:
            problem((*where, "entity"), f"{endpoint.entity!r} is not an entity under data")
        for name in endpoint.path_params:
            if entity is not None and name not in entity.fields:
                problem((*where, "path"), f"path parameter {{{name}}} is not a field of {endpoint.entity}")
            elif endpoint.entity is None:
                problem((*where, "path"), f"path parameter {{{name}}} needs an entity to look up")
            if name in endpoint.query:
                problem((*where, "query", name), "is also a path parameter")
        for name, query in endpoint.query.items():
            if query.default is not None:
                value, error = _typed(query.default, query.type)
                if error:
                    problem((*where, "query", name, "default"), f"{error} ({query.type})")
                else:
                    query.default = value
        for position, rule_id in enumerate(endpoint.rules):
            if rule_id not in rule_ids:
                problem((*where, "rules", position), f"{rule_id!r} is not a rule of this spec")
        if endpoint.response.items is not None and endpoint.entity is None:
            problem((*where, "response", "items"), "items need an entity to list")
        if not endpoint.response.fields and endpoint.response.items is None:
            problem((*where, "response"), "names no fields: list fields, items or both")

    for index, example in enumerate(spec.examples):
        method, path = _REQUEST.match(example.request).groups()
        if not any(_path_matches(endpoint, method, path.partition("?")[0]) for endpoint in spec.endpoints):
            problem(("examples", index, "request"), f"{example.request!r} matches no endpoint of this spec")


def _path_regex(endpoint: EndpointSpec) -> re.Pattern:
    escaped = re.escape(endpoint.path).replace(r"\{", "{").replace(r"\}", "}")
    return re.compile("^" + _PATH_PARAM.sub(r"([^/]+)", escaped) + "$")


def _path_matches(endpoint: EndpointSpec, method: str, path: str) -> bool:
    return endpoint.method == method and _path_regex(endpoint).match(path) is not None


def endpoint_for_request(spec: ProductSpec, request: str) -> tuple[EndpointSpec, dict[str, str], str]:
    """The endpoint a `GET /path?query` example calls, its path parameters and the query string."""
    method, target = _REQUEST.match(request).groups()
    path, _, query = target.partition("?")
    for endpoint in spec.endpoints:
        if _path_matches(endpoint, method, path):
            values = _path_regex(endpoint).match(path).groups()
            return endpoint, dict(zip(endpoint.path_params, values, strict=True)), query
    raise LookupError(request)


def _skill_problems(spec: SkillSpec, problem) -> None:
    for index, tool in enumerate(spec.confirm):
        if tool not in spec.tools:
            problem(("confirm", index), f"{tool!r} is not one of this skill's tools")
    if not spec.instruction.strip():
        problem(("body",), "is empty: the body is the skill's instruction")


def spec_parse(text: str, *, source: str = "spec") -> SkillSpec | ProductSpec | ChangeSpec:
    """Parse a spec. Raises `SpecError` naming the source, line and field of every problem found."""
    match = _FRONTMATTER.match(text)
    if not match:
        raise SpecError([SpecProblem(source, 1, "frontmatter", "expected the spec to start with a '---' YAML block")])
    raw, body = match.group(1) or "", match.group(2)
    body_line = text[: match.start(2)].count("\n") + 1
    try:
        node = yaml.compose(raw, Loader=_Loader)
        data = yaml.load(raw, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        raise SpecError([SpecProblem(source, line, "frontmatter", f"is not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise SpecError([SpecProblem(source, 2, "frontmatter", "expected a mapping of fields")])

    kind = data.get("kind")
    models = {"skill": SkillSpec, "product": ProductSpec, "change": ChangeSpec}
    if kind not in models:
        line = yaml_line_of(node, ("kind",), 1) if "kind" in data else 2
        expected = "skill or product"  # a `change` is for the coding agent; PMs write the other two
        message = f"is required: {expected}" if kind is None else f"is {kind!r}; expected {expected}"
        raise SpecError([SpecProblem(source, line, "kind", message)])
    field = "instruction" if kind == "skill" else "description"
    if field in data:
        line = yaml_line_of(node, (field,), 1)
        raise SpecError([SpecProblem(source, line, field, "comes from the markdown body, not the frontmatter")])
    data[field] = body.strip()

    try:
        spec = models[kind].model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = _clean_loc(error["loc"])
            message = error["msg"]
            if error["type"] == "missing":
                message = "is required"
            elif error["type"] == "extra_forbidden":
                message = "is not a known field"
            elif error["type"] == "string_pattern_mismatch":
                message = _PATTERN_WORDS.get(error["ctx"]["pattern"], message) + f", not {error['input']!r}"
            line = body_line if loc == (field,) else yaml_line_of(node, loc, 1)
            problems.append(SpecProblem(source, line, field_path(loc), message))
        raise SpecError(problems) from exc

    problems: list[SpecProblem] = []

    def problem(loc: tuple, message: str) -> None:
        line = body_line if loc == ("body",) else yaml_line_of(node, loc, 1)
        problems.append(SpecProblem(source, line, field_path(loc), message))

    if isinstance(spec, ProductSpec):
        _product_problems(spec, problem)
    elif isinstance(spec, SkillSpec):
        _skill_problems(spec, problem)
    elif not spec.description:
        problem(("body",), "is empty: the body says what to change")
    if problems:
        raise SpecError(problems)
    return spec
