"""The product generator: a product spec becomes a standalone FastAPI service.

Two passes. `product_plan()` resolves every name the spec uses (fields, parameters, rule inputs and
outputs, response fields, example expectations) against the data and the block catalog, in rule
order, and collects every gap as a sentence for `SpecIncomplete`. Only a complete plan is rendered:
templates in `templates/product/` for the fixed files, small emitters for the code that depends on
the spec. The output is formatted as `ruff format` would write it, so it passes `ruff check` and
`ruff format --check` with the repository's rules as written.
"""

import json
import keyword
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from string import Template
from typing import Any

from factory.blocks import CATALOG, Block
from factory.blocks import fx as fx_block
from factory.blocks.catalog import COMMON_MODULES
from factory.blocks.numbers import money, percent, ratio
from factory.generators import Generation, SpecIncomplete
from factory.specs import NUMBER_TYPES, EndpointSpec, ProductSpec, RuleSpec, endpoint_for_request

TEMPLATES = Path(__file__).resolve().parent / "templates" / "product"
BLOCKS_DIR = Path(__file__).resolve().parents[1] / "blocks"
LINE = 120
# What a generated product needs at run time and for its tests; kept equal to Aspora's own pins.
RUNTIME_PINS = ("fastapi==0.165.0", "uvicorn==0.54.0", "pydantic==2.14.4")
POSTGRES_PINS = ("psycopg[binary]==3.3.9",)
TEST_PINS = ("pytest==9.2.0", "httpx==0.28.1")
RUFF_SELECT = ["E", "F", "W", "I", "B", "UP", "DJ", "S", "BLE", "SIM", "RUF"]
RUFF_IGNORE = ["RUF012", "S101", "DJ001"]
# Names the generated modules use themselves: a parameter or field with one of them would shadow it.
PARAMETER_RESERVED = {
    "app", "item", "items", "values", "result", "name", "store", "services", "router", "schemas", "blocks",
    "fx", "kelly", "pnl", "numbers", "money", "ratio", "percent", "date", "decimal", "client", "body", "response",
}  # fmt: skip
# Pydantic models have these attributes: a response field must not shadow them.
FIELD_RESERVED = {"schema", "json", "dict", "copy", "validate", "construct", "fields", "parse_obj", "parse_raw"}
_SUM = re.compile(r"^sum\(([a-z][a-z0-9_]*)\)$")
_EXPECT = re.compile(r"^([a-z][a-z0-9_]*)(?:\[(\d+|[a-z][a-z0-9_]*=[^\]]+)\]\.([a-z][a-z0-9_]*))?$")
_ASCII = str.maketrans({"\u2014": "-", "\u2013": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                        "\u00d7": "x", "\u00a0": " ", "\u2026": "..."})  # fmt: skip
ROUNDING = {"money": "money", "ratio": "ratio", "percent": "percent"}
PY_TYPES = {"text": "str", "currency": "str", "integer": "int", "decimal": "Decimal", "money": "Decimal",
            "ratio": "Decimal", "percent": "Decimal", "date": "date", "boolean": "bool"}  # fmt: skip
SQLITE_TYPES = {"integer": "INTEGER", "boolean": "INTEGER"}
POSTGRES_TYPES = {"integer": "BIGINT", "boolean": "BOOLEAN", "date": "DATE", "text": "TEXT", "currency": "TEXT"}


# --- the plan --------------------------------------------------------------------------------------


@dataclass
class Value:
    """A name in scope while an endpoint's rules run."""

    name: str
    type: str
    level: str  # "item" or "endpoint"
    origin: str  # for people: "a field of holding", "the rule position-pnl", ...
    rule: str | None = None  # the rule that last set it
    nullable: bool = False

    @property
    def code(self) -> str:
        return f'item["{self.name}"]' if self.level == "item" else f'values["{self.name}"]'


@dataclass
class Output:
    """One field of a response: its name, where its value comes from, and how it is rounded."""

    name: str
    code: str
    type: str
    nullable: bool
    rule: str | None


@dataclass
class RulePlan:
    rule: RuleSpec
    block: Block
    level: str
    arguments: list[tuple[str, str]]  # (block input, code)
    publishes: list[tuple[str, str]]  # (block output, name)
    apply_to: list[str]
    sums: list[str]  # item names summed before a per-item rule runs
    constants: list[str]  # module constants its arguments use


@dataclass
class EndpointPlan:
    spec: EndpointSpec
    operation: str
    group: str
    schema: str
    item_schema: str | None
    path_params: list[tuple[str, str]]  # (name, field type)
    query: list[tuple[str, str, Any]]  # (name, type, default)
    rules: list[RulePlan]
    fields: list[Output]
    item_fields: list[Output]
    list_function: str | None
    uses_total: bool = False


@dataclass
class ExamplePlan:
    index: int
    request: str
    endpoint: EndpointPlan
    status: int
    checks: list[tuple[str, str, str | None]]  # (expression on `body`, comparison, the rule it checks)


@dataclass
class ProductPlan:
    spec: ProductSpec
    endpoints: list[EndpointPlan]
    examples: list[ExamplePlan]
    blocks: list[str]  # catalog names used
    modules: list[str]  # block modules to copy
    constants: dict[str, str] = field(default_factory=dict)  # name -> code (rates tables)
    currencies: tuple[str, ...] | None = None  # the codes a currency parameter accepts


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_\-]", name) if part)


def _operation(endpoint: EndpointSpec) -> tuple[str, str]:
    """(operation id, router group) from the path: GET /portfolio/{user_id} → portfolio_get, portfolio."""
    static = [s.replace("-", "_") for s in endpoint.path.strip("/").split("/") if s and not s.startswith("{")]
    group = static[0] if static else "root"
    return endpoint.operation or "_".join([*static, endpoint.method.lower()] if static else ["root", "get"]), group


def _bad_name(name: str, *, parameter: bool) -> str | None:
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
    if parameter and name in PARAMETER_RESERVED:
        return "is a name the generated code uses itself"
    if not parameter and (name in FIELD_RESERVED or name.startswith("model_")):
        return "would shadow an attribute of pydantic models"
    return None


def _compatible(wanted: str, given: str) -> bool:
    if wanted in NUMBER_TYPES:
        return given in NUMBER_TYPES
    if wanted == "text":
        return given in ("text", "currency")
    return wanted == given


class _Planner:
    def __init__(self, spec: ProductSpec):
        self.spec = spec
        self.missing: list[str] = []
        self.constants: dict[str, str] = {}
        self.blocks: list[str] = []
        self.currency_feeds_fx = False

    def gap(self, sentence: str) -> None:
        if sentence not in self.missing:
            self.missing.append(sentence)

    # -- expressions --

    def _literal(self, rule: RuleSpec, wanted: str, value: Any) -> tuple[str, str] | None:
        """Code and type of a literal input, or None after noting why it cannot be one."""
        if isinstance(value, dict):
            if set(value) != {"literal"}:
                self.gap(f"Rule {rule.id}: an input given as a mapping must be {{literal: ...}}.")
                return None
            value = value["literal"]
            if wanted == "rates":
                return self._rates_constant(rule, value)
            if isinstance(value, str):
                if wanted == "currency" and value not in fx_block.SUPPORTED:
                    self.gap(f"Rule {rule.id}: the currency {value!r} is not one the fx blocks convert.")
                    return None
                return _py_str(value), "currency" if wanted == "currency" else "text"
        if isinstance(value, bool):
            return ("True" if value else "False"), "boolean"
        if isinstance(value, (int, Decimal)):
            return f'Decimal("{value}")', "decimal"
        self.gap(f"Rule {rule.id}: {value!r} is neither a name in scope nor a literal; write text as {{literal: ...}}.")
        return None

    def _rates_constant(self, rule: RuleSpec, value: Any) -> tuple[str, str] | None:
        try:
            table = fx_block.RatesTable(
                as_of=date.fromisoformat(str(value["as_of"])), base=value["base"], rates=value["rates"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            self.gap(f"Rule {rule.id}: its rates table needs as_of, base and rates that are usable ({exc}).")
            return None
        name = rule.id.upper().replace("-", "_") + "_RATES"
        rates = "".join(f'        "{code}": Decimal("{rate}"),\n' for code, rate in table.rates.items())
        self.constants[name] = (
            f"{name} = fx.RatesTable(\n    as_of={_py_date(table.as_of)},\n    base={_py_str(table.base)},\n"
            f"    rates={{\n{rates}    }},\n)"
        )
        return name, "rates"

    def _reference(self, rule: RuleSpec, text: str, level: str, items: dict, values: dict, entity: str | None):
        """Code, type and nullability of a name or sum(name) used by `rule`."""
        summed = _SUM.match(text)
        if summed:
            name = summed.group(1)
            if entity is None:
                self.gap(f"Rule {rule.id}: sum({name}) needs an endpoint that lists an entity.")
                return None
            value = items.get(name)
            if value is None:
                self.gap(f"Rule {rule.id}: sum({name}) names no per-{entity} value; known: {', '.join(items)}.")
                return None
            if value.type not in NUMBER_TYPES or value.nullable:
                self.gap(f"Rule {rule.id}: sum({name}) needs a number that is never empty; {name} is {value.type}.")
                return None
            code = f"{name}_total" if level == "item" else f'_total(items, "{name}")'
            return code, value.type, False, name
        if level == "item" and text in items:
            value = items[text]
        elif text in values:
            value = values[text]
        elif text in items:
            self.gap(f"Rule {rule.id}: {text} is a per-{entity} value; a rule without `each` can use sum({text}).")
            return None
        else:
            where = f"a field of {entity}, " if entity else ""
            self.gap(
                f"Rule {rule.id}: the input {text!r} is not {where}a path or query parameter, nor an output of an "
                f"earlier rule of this endpoint."
            )
            return None
        return value.code, value.type, value.nullable, None

    # -- rules --

    def rule(self, rule: RuleSpec, endpoint: EndpointSpec, items: dict, values: dict) -> RulePlan | None:
        block = CATALOG.get(rule.block)
        if block is None:
            self.gap(
                f"Rule {rule.id} names the block {rule.block!r}, which does not exist; the blocks are "
                f"{', '.join(CATALOG)}."
            )
            return None
        if rule.block not in self.blocks:
            self.blocks.append(rule.block)
        level = "item" if rule.each else "endpoint"
        if rule.each and rule.each != endpoint.entity:
            self.gap(
                f"Rule {rule.id} applies to each {rule.each}, but {endpoint.method} {endpoint.path} lists "
                f"{endpoint.entity or 'no entity'}."
            )
            return None
        scope = items if level == "item" else values
        elementwise_input = block.elementwise[0] if (block.elementwise and rule.apply_to) else None
        arguments, sums, constants, ok = [], [], [], True
        for name in rule.inputs:
            if block.input(name) is None:
                self.gap(
                    f"Rule {rule.id}: the block {block.name} has no input {name!r}; its inputs are "
                    f"{', '.join(i.name for i in block.inputs)}."
                )
                ok = False
        for wanted in block.inputs:
            if wanted.name == elementwise_input:
                if wanted.name in rule.inputs:
                    self.gap(f"Rule {rule.id}: {wanted.name} comes from apply_to; do not give it as an input too.")
                    ok = False
                continue
            if wanted.name not in rule.inputs:
                if wanted.required:
                    self.gap(
                        f"Rule {rule.id}: the block {block.name} needs the input {wanted.name!r} "
                        f"({wanted.description})."
                    )
                    ok = False
                continue
            given = rule.inputs[wanted.name]
            if isinstance(given, str) and (_SUM.match(given) or re.match(r"^[a-z][a-z0-9_]*$", given)):
                found = self._reference(rule, given, level, items, values, endpoint.entity)
                if found is None:
                    ok = False
                    continue
                code, kind, nullable, summed = found
                if summed and level == "item" and summed not in sums:
                    sums.append(summed)
                if nullable:
                    self.gap(f"Rule {rule.id}: {given} can be empty, so it cannot feed {wanted.name}.")
                    ok = False
                    continue
            else:
                found = self._literal(rule, wanted.type, given)
                if found is None:
                    ok = False
                    continue
                code, kind = found
                if kind == "rates":
                    constants.append(code)
            if not _compatible(wanted.type, kind):
                self.gap(f"Rule {rule.id}: the input {wanted.name} wants {wanted.type} but {given!r} is {kind}.")
                ok = False
                continue
            if wanted.type == "currency" and rule.block.startswith("fx."):
                self._check_currencies(rule, given, endpoint)
            arguments.append((wanted.name, code))

        publishes: list[tuple[str, str]] = []
        if rule.apply_to:
            if block.elementwise is None:
                self.gap(f"Rule {rule.id}: the block {block.name} cannot be applied to several values; drop apply_to.")
                return None
            if rule.outputs:
                self.gap(f"Rule {rule.id}: a rule with apply_to replaces those values; it cannot also name outputs.")
                return None
            wanted = block.input(block.elementwise[0])
            for name in rule.apply_to:
                value = scope.get(name)
                if value is None:
                    self.gap(f"Rule {rule.id}: apply_to names {name!r}, which is not in scope here.")
                    ok = False
                elif not _compatible(wanted.type, value.type) or value.nullable:
                    self.gap(f"Rule {rule.id}: apply_to names {name}, a {value.type}; the block wants {wanted.type}.")
                    ok = False
        else:
            for output, alias in (rule.outputs or {o.name: o.name for o in block.outputs}).items():
                if block.output(output) is None:
                    self.gap(
                        f"Rule {rule.id}: the block {block.name} has no output {output!r}; its outputs are "
                        f"{', '.join(o.name for o in block.outputs)}."
                    )
                    ok = False
                    continue
                taken = items.get(alias) or values.get(alias)
                if taken is not None:
                    self.gap(
                        f"Rule {rule.id}: the output {alias!r} would replace {taken.origin}'s {alias}; name it "
                        f"differently under outputs."
                    )
                    ok = False
                    continue
                publishes.append((output, alias))
        if not ok:
            return None

        for name in rule.apply_to:
            out = block.output(block.elementwise[1])
            scope[name] = Value(name, out.type, level, f"the rule {rule.id}", rule.id, out.nullable)
        for output, alias in publishes:
            described = block.output(output)
            scope[alias] = Value(alias, described.type, level, f"the rule {rule.id}", rule.id, described.nullable)
        return RulePlan(rule, block, level, arguments, publishes, list(rule.apply_to), sums, constants)

    def _check_currencies(self, rule: RuleSpec, given: Any, endpoint: EndpointSpec) -> None:
        """Seed rows and parameter defaults that feed a conversion must be currencies it knows."""
        if not isinstance(given, str):
            return
        if given in endpoint.query:
            self.currency_feeds_fx = True
            default = endpoint.query[given].default
            if default is not None and default not in fx_block.SUPPORTED:
                self.gap(f"The query parameter {given} defaults to {default!r}, which the fx blocks cannot convert.")
        entity = self.spec.data.get(endpoint.entity or "")
        if entity and given in entity.fields:
            for index, row in enumerate(entity.seed):
                if row[given] not in fx_block.SUPPORTED:
                    self.gap(
                        f"Seed row {index + 1} of {endpoint.entity} has {given} {row[given]!r}, which the fx "
                        f"blocks cannot convert (they know {', '.join(fx_block.SUPPORTED)})."
                    )

    # -- endpoints --

    def _outputs(self, entries, level: str, items: dict, values: dict, where: str, entity) -> list[Output]:
        outputs, seen = [], set()
        for entry in entries:
            if isinstance(entry, dict):
                if len(entry) != 1:
                    self.gap(f"{where}: a renamed field is written as {{name: source}}, one per entry.")
                    continue
                ((name, source),) = entry.items()
            else:
                name = source = entry
            problem = _bad_name(name, parameter=False)
            if problem:
                self.gap(f"{where}: the response field {name!r} {problem}; rename it.")
                continue
            if name in seen:
                self.gap(f"{where}: the response field {name!r} is listed twice.")
                continue
            seen.add(name)
            summed = _SUM.match(source)
            if summed and level == "endpoint" and entity:
                value = items.get(summed.group(1))
                if value is None or value.type not in NUMBER_TYPES or value.nullable:
                    self.gap(
                        f"{where}: the response field {name} is sum({summed.group(1)}), which is not a "
                        f"per-{entity} number."
                    )
                    continue
                outputs.append(Output(name, f'_total(items, "{value.name}")', value.type, False, None))
                continue
            value = (items if level == "item" else values).get(source)
            if value is None:
                scope = f"the fields of {entity}, " if level == "item" else "the path and query parameters, "
                self.gap(
                    f"{where}: the response field {name!r} cannot be derived: it is not among {scope}"
                    f"the outputs of this endpoint's rules or a sum of them."
                )
                continue
            outputs.append(Output(name, value.code, value.type, value.nullable, value.rule))
        return outputs

    def endpoint(self, endpoint: EndpointSpec) -> EndpointPlan | None:
        where = f"{endpoint.method} {endpoint.path}"
        if endpoint.method != "GET":
            self.gap(
                f"{where}: the offline generator writes read-only GET endpoints; a {endpoint.method} needs the "
                f"LLM coding agent or a spec that only reads."
            )
            return None
        operation, group = _operation(endpoint)
        entity = self.spec.data.get(endpoint.entity) if endpoint.entity else None
        items: dict[str, Value] = {}
        values: dict[str, Value] = {}
        if entity:
            for name, spec_field in entity.fields.items():
                items[name] = Value(name, spec_field.type, "item", f"the field {endpoint.entity}.{name}")
        path_params = []
        for name in endpoint.path_params:
            kind = entity.fields[name].type if entity else "text"
            path_params.append((name, kind))
            values[name] = Value(name, kind, "endpoint", f"the path parameter {name}")
        query = []
        for name, spec_query in endpoint.query.items():
            query.append((name, spec_query.type, spec_query.default))
            values[name] = Value(name, spec_query.type, "endpoint", f"the query parameter {name}")
        for name in [*values]:
            problem = _bad_name(name, parameter=True)
            if problem:
                self.gap(f"{where}: the parameter {name!r} {problem}; rename it.")

        rules = []
        for rule_id in endpoint.rules:
            planned = self.rule(self.spec.rule(rule_id), endpoint, items, values)
            if planned:
                rules.append(planned)
        fields = self._outputs(endpoint.response.fields, "endpoint", items, values, where, endpoint.entity)
        item_fields = []
        if endpoint.response.items:
            item_fields = self._outputs(endpoint.response.items.fields, "item", items, values, where, endpoint.entity)
            clash = endpoint.response.items.name in {f.name for f in fields}
            if clash:
                self.gap(f"{where}: the items are named {endpoint.response.items.name!r}, like a response field.")
        base = _camel(operation.removesuffix("_get"))
        item_schema = None
        if endpoint.response.items:
            item_schema = base + _camel(_singular(endpoint.response.items.name)) + "Out"
        list_function = None
        if endpoint.entity:
            params = "_by_" + "_and_".join(endpoint.path_params) if endpoint.path_params else ""
            list_function = f"{endpoint.entity}_list{params}"
        plan = EndpointPlan(
            endpoint,
            operation,
            group,
            base + "Out",
            item_schema,
            path_params,
            query,
            rules,
            fields,
            item_fields,
            list_function,
        )
        plan.uses_total = (
            any("_total(" in c for r in rules for _, c in r.arguments)
            or any(f.code.startswith("_total(") for f in fields)
            or any(r.sums for r in rules)
        )
        return plan

    # -- examples --

    def example(self, index: int, example, plans: dict[str, EndpointPlan]) -> ExamplePlan | None:
        spec_endpoint, params, _ = endpoint_for_request(self.spec, example.request)
        plan = plans.get(f"{spec_endpoint.method} {spec_endpoint.path}")
        if plan is None:
            return None
        where = f"Example {index} ({example.request})"
        checks = []
        fields = {f.name: f for f in plan.fields}
        item_fields = {f.name: f for f in plan.item_fields}
        items_name = plan.spec.response.items.name if plan.spec.response.items else None
        for key, expected in example.expect.items():
            match = _EXPECT.match(key)
            if key == "detail":
                checks.append(('body["detail"]', f"== {_py_str(str(expected))}", None))
                continue
            if match is None:
                self.gap(f"{where}: {key!r} is not a response field or items[...].field.")
                continue
            head, selector, tail = match.groups()
            if selector is None:
                target, path = fields.get(head), f'body["{head}"]'
            elif head == items_name:
                target = item_fields.get(tail)
                if selector.isdigit():
                    path = f'body["{head}"][{selector}]["{tail}"]'
                else:
                    column, _, wanted = selector.partition("=")
                    if column not in item_fields:
                        self.gap(f"{where}: {key} selects items by {column}, which the items do not show.")
                        continue
                    path = f'_one(body["{head}"], {column}={_py_str(wanted)})["{tail}"]'
            else:
                target = None
            if target is None:
                self.gap(f"{where}: expects {key}, which {plan.spec.method} {plan.spec.path} does not answer.")
                continue
            check = self._expected(where, key, target, expected)
            if check:
                checks.append((f"Decimal({path})" if "Decimal(" in check else path, check, target.rule))
        if example.status == 200 and plan.path_params:
            entity = self.spec.data[plan.spec.entity]
            if not any(all(str(row[k]) == v for k, v in params.items()) for row in entity.seed):
                self.gap(f"{where}: no seed row of {plan.spec.entity} matches {params}, so it would answer 404.")
        return ExamplePlan(index, example.request, plan, example.status, checks)

    def _expected(self, where: str, key: str, target: Output, expected: Any) -> str | None:
        if expected is None:
            return "is None"
        kind = target.type
        if kind in ROUNDING:
            try:
                number = Decimal(str(expected))
            except ArithmeticError:
                self.gap(f"{where}: {key} expects {expected!r}, which is not a number.")
                return None
            shown = {"money": money, "ratio": ratio, "percent": percent}[kind](number)
            if shown != number:
                self.gap(f"{where}: {key} expects {expected}, but a {kind} is shown as {shown}: write it that way.")
                return None
            return f"== {_py_str(str(shown))}"
        if kind == "decimal":
            return f'== Decimal("{expected}")'
        if kind == "date":
            return f"== {_py_str(str(expected))}"
        if kind == "integer":
            return f"== {int(expected)}"
        if kind == "boolean":
            return f"is {bool(expected)}"
        return f"== {_py_str(str(expected))}"


def product_plan(spec: ProductSpec) -> ProductPlan:
    """Resolve everything the spec names; `SpecIncomplete` lists every gap found."""
    planner = _Planner(spec)
    plans: dict[str, EndpointPlan] = {}
    operations: dict[str, str] = {}
    for endpoint in spec.endpoints:
        plan = planner.endpoint(endpoint)
        if plan is None:
            continue
        where = f"{endpoint.method} {endpoint.path}"
        if plan.operation in operations:
            planner.gap(
                f"{where} and {operations[plan.operation]} would share the operation {plan.operation!r}: set "
                f"`operation` on one of them."
            )
        operations[plan.operation] = where
        plans[where] = plan
    examples = []
    for index, example in enumerate(spec.examples, start=1):
        planned = planner.example(index, example, plans)
        if planned:
            examples.append(planned)
    for where, plan in plans.items():
        for rule in plan.rules:
            checked = any(
                checked_rule == rule.rule.id
                for example in examples
                if example.endpoint is plan and example.status == 200
                for _, _, checked_rule in example.checks
            )
            if not checked:
                results = ", ".join(alias for _, alias in rule.publishes) or ", ".join(rule.apply_to)
                planner.gap(
                    f"Rule {rule.rule.id} is not checked by any example: add an example for {where} that "
                    f"expects one of its results ({results}), computed by hand."
                )
    if planner.missing:
        raise SpecIncomplete(planner.missing)
    modules = list(COMMON_MODULES)
    for name in planner.blocks:
        if CATALOG[name].module not in modules:
            modules.append(CATALOG[name].module)
    currencies = fx_block.SUPPORTED if planner.currency_feeds_fx else None
    return ProductPlan(spec, list(plans.values()), examples, planner.blocks, modules, planner.constants, currencies)


# --- python source helpers -------------------------------------------------------------------------


def _ascii(text: str) -> str:
    return text.translate(_ASCII)


def _py_str(text: str) -> str:
    """A string literal as ruff format writes it: double quotes unless single ones avoid escapes."""
    text = _ascii(text)
    if '"' in text and "'" not in text:
        return "'" + text.replace("\\", "\\\\").replace("\n", "\\n") + "'"
    return json.dumps(text, ensure_ascii=False)


def _py_date(value: date) -> str:
    return f"date({value.year}, {value.month}, {value.day})"


def _py_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, Decimal):
        return f'Decimal("{value}")'
    if isinstance(value, date):
        return _py_date(value)
    if isinstance(value, str):
        return _py_str(value)
    return repr(value)


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(_ascii(text), LINE - len(indent) - 2)]


def _call(target: str, function: str, arguments: list[tuple[str, str]], indent: str, suffix: str = "") -> list[str]:
    """`target = function(a=b, ...)suffix` on one line if it fits, else one argument a line."""
    joined = ", ".join(f"{name}={code}" for name, code in arguments)
    line = f"{indent}{target}{function}({joined}){suffix}"
    if len(line) <= LINE or not arguments:
        return [line]
    return [
        f"{indent}{target}{function}(",
        *[f"{indent}    {name}={code}," for name, code in arguments],
        f"{indent}){suffix}",
    ]


def _py_literal(name: str, value: Any, indent: str = "", prefix: str = "", suffix: str = "") -> list[str]:
    """A constant as ruff format lays it out: on one line when it fits, else exploded with trailing commas."""
    head = indent + (f"{name} = " if name else "") + prefix
    flat = head + _flat(value) + suffix
    collection = isinstance(value, (list, tuple, dict))
    if not collection or (len(flat) <= LINE and not _has_nested(value)):
        return [flat]
    inner = indent + "    "
    if isinstance(value, dict):
        lines = [head + "{"]
        for key, item in value.items():
            lines += _py_literal("", item, inner, prefix=f"{_py_str(key)}: ", suffix=",")
        return [*lines, indent + "}" + suffix]
    opener, closer = ("(", ")") if isinstance(value, tuple) else ("[", "]")
    lines = [head + opener]
    for item in value:
        lines += _py_literal("", item, inner, suffix=",")
    return [*lines, indent + closer + suffix]


def _has_nested(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return any(isinstance(item, (list, tuple, dict)) for item in items)


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py_str(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        inner = ", ".join(_flat(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    if isinstance(value, _Code):
        return value.code
    return _py_value(value)


@dataclass(frozen=True)
class _Code:
    code: str


def _sql(name: str, sql: str) -> list[str]:
    """A SQL constant; split over lines at spaces when it does not fit."""
    literal = _py_str(sql)
    if len(name) + 3 + len(literal) <= LINE:
        return [f"{name} = {literal}"]
    words, lines, current = sql.split(" "), [], ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if len(_py_str(candidate + " ")) + 4 > LINE and current:
            lines.append(f"    {_py_str(current + ' ')}")
            current = word
        else:
            current = candidate
    lines.append(f"    {_py_str(current)}")
    return [f"{name} = (", *lines, ")"]


def _docstring(text: str, indent: str) -> list[str]:
    text = _ascii(text).replace('"""', "'''").strip()
    one = f'{indent}"""{text}"""'
    if len(one) <= LINE:
        return [one]
    wrapped = textwrap.wrap(text, LINE - len(indent))
    return [f'{indent}"""{wrapped[0]}', *[f"{indent}{line}" for line in wrapped[1:]], f'{indent}"""']


def _module(lines: list[str]) -> str:
    return "\n".join(lines).rstrip("\n") + "\n"


def _imports(stdlib: list[str], third: list[str], local: list[str]) -> list[str]:
    blocks = [sorted(set(stdlib), key=_import_key), sorted(set(third), key=_import_key), sorted(set(local))]
    lines: list[str] = []
    for block in blocks:
        if block:
            lines += [*block, ""]
    return lines


def _import_key(line: str) -> tuple:
    # isort: plain `import x` before `from x import y`, then by module name.
    return (line.startswith("from "), line.split()[1].lower())


# --- rendering -------------------------------------------------------------------------------------


def _template(template: str, /, **values: str) -> str:
    return Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(values)


def _annotation(output: Output) -> str:
    kind = PY_TYPES[output.type]
    return f"{kind} | None" if output.nullable else kind


def _shown(output: Output, code: str) -> str:
    rounding = ROUNDING.get(output.type)
    if rounding is None:
        return code
    return f"_maybe({rounding}, {code})" if output.nullable else f"{rounding}({code})"


def _render_schemas(plan: ProductPlan) -> str:
    used = {PY_TYPES[o.type] for e in plan.endpoints for o in [*e.fields, *e.item_fields]}
    used |= {PY_TYPES[t] for e in plan.endpoints for _, t, _ in e.query}
    stdlib = []
    if "date" in used:
        stdlib.append("from datetime import date")
    if "Decimal" in used:
        stdlib.append("from decimal import Decimal")
    has_currency = any(t == "currency" for e in plan.endpoints for _, t, _ in e.query)
    third = ["from pydantic import BaseModel"]
    if has_currency:
        stdlib.append("from typing import Literal" if plan.currencies else "from typing import Annotated")
        if not plan.currencies:
            third.append("from pydantic import StringConstraints")
    lines = ['"""Response shapes: every field listed, amounts as exact decimals (JSON strings)."""', ""]
    lines += _imports(stdlib, third, [])
    if has_currency:
        if plan.currencies:
            lines += [f"Currency = Literal[{', '.join(_py_str(c) for c in plan.currencies)}]", ""]
        else:
            lines += ['Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]', ""]
    for endpoint in plan.endpoints:
        if endpoint.item_schema:
            lines += ["", f"class {endpoint.item_schema}(BaseModel):"]
            lines += [f"    {o.name}: {_annotation(o)}" for o in endpoint.item_fields]
            lines.append("")
        lines += ["", f"class {endpoint.schema}(BaseModel):"]
        lines += [f"    {o.name}: {_annotation(o)}" for o in endpoint.fields]
        if endpoint.item_schema:
            lines.append(f"    {endpoint.spec.response.items.name}: list[{endpoint.item_schema}]")
        lines.append("")
    return _module(lines)


def _render_rule(rule: RulePlan) -> list[str]:
    module, function = rule.block.module, rule.block.function
    indent = "        " if rule.level == "item" else "    "
    lines = _comment(f"{rule.rule.id} ({rule.block.name}): {rule.rule.description or rule.block.summary}", "    ")
    for name in rule.sums:
        lines.append(f'    {name}_total = _total(items, "{name}")')
    if rule.level == "item":
        lines.append("    for item in items:")
    if rule.apply_to:
        target = "item" if rule.level == "item" else "values"
        names = ", ".join(_py_str(n) for n in rule.apply_to) + ("," if len(rule.apply_to) == 1 else "")
        lines.append(f"{indent}for name in ({names}):")
        arguments = [(rule.block.elementwise[0], f"{target}[name]"), *rule.arguments]
        lines += _call(
            f"{target}[name] = ",
            f"{module}.{function}",
            arguments,
            indent + "    ",
            suffix=f".{rule.block.elementwise[1]}",
        )
    else:
        lines += _call("result = ", f"{module}.{function}", rule.arguments, indent)
        target = "item" if rule.level == "item" else "values"
        lines += [f'{indent}{target}["{alias}"] = result.{output}' for output, alias in rule.publishes]
    return [*lines, ""]


def _render_services(plan: ProductPlan) -> str:
    stdlib, local = [], ["from . import store"]
    needs_decimal = (
        any(e.uses_total for e in plan.endpoints)
        or any("Decimal(" in code for e in plan.endpoints for r in e.rules for _, code in r.arguments)
        or any("Decimal(" in c for c in plan.constants.values())
    )
    if needs_decimal:
        stdlib.append("from decimal import Decimal")
    if plan.constants:
        stdlib.append("from datetime import date")
    if any(e.uses_total or _uses_values(e) for e in plan.endpoints):
        stdlib.append("from typing import Any")
    modules = sorted({CATALOG[b].module for b in plan.blocks} | ({"fx"} if plan.constants else set()))
    if modules:
        local.append(f"from .blocks import {', '.join(modules)}")
    roundings = sorted(
        {ROUNDING[o.type] for e in plan.endpoints for o in [*e.fields, *e.item_fields] if o.type in ROUNDING}
    )
    if roundings:
        local.append(f"from .blocks.numbers import {', '.join(roundings)}")
    schemas = sorted({s for e in plan.endpoints for s in (e.schema, e.item_schema) if s})
    local.append(f"from .schemas import {', '.join(schemas)}")
    nullable_rounded = any(
        o.nullable and o.type in ROUNDING for e in plan.endpoints for o in [*e.fields, *e.item_fields]
    )
    if nullable_rounded:
        stdlib.append("from collections.abc import Callable")

    lines = [
        '"""One function per endpoint: its rows from the store, the spec\'s rules in order, the answer.',
        "",
        "The rules call the building blocks in `app/blocks`, copied from Aspora's tested library; amounts stay",
        "exact Decimals until the answer rounds them.",
        '"""',
        "",
    ]
    lines += _imports(stdlib, [], local)
    for code in plan.constants.values():
        lines += [code, ""]
    lines += ["", "class NotFoundError(LookupError):", '    """Nothing matches the path: answered as 404."""', ""]
    if any(e.uses_total for e in plan.endpoints):
        lines += [
            "",
            "def _total(items: list[dict[str, Any]], name: str) -> Decimal:",
            "    return sum((item[name] for item in items), Decimal(0))",
            "",
        ]
    if nullable_rounded:
        lines += [
            "",
            "def _maybe(rounding: Callable[[Decimal], Decimal], value: Decimal | None) -> Decimal | None:",
            "    return None if value is None else rounding(value)",
            "",
        ]
    for endpoint in plan.endpoints:
        while lines and not lines[-1]:
            lines.pop()
        lines += ["", "", *_render_service(endpoint)]
    return _module(lines)


def _uses_values(endpoint: EndpointPlan) -> bool:
    """Whether anything reads the endpoint-level values (parameters, rule outputs) in its service."""
    codes = [code for rule in endpoint.rules for _, code in rule.arguments] + [o.code for o in endpoint.fields]
    codes += [o.code for o in endpoint.item_fields]
    return any("values[" in code for code in codes) or any(r.level == "endpoint" for r in endpoint.rules)


def _render_service(endpoint: EndpointPlan) -> list[str]:
    params = [f"{name}: {PY_TYPES[kind]}" for name, kind in endpoint.path_params]
    params += [f"{name}: {PY_TYPES[kind]}" for name, kind, _ in endpoint.query]
    signature = f"def {endpoint.operation}(*, {', '.join(params)}) -> {endpoint.schema}:"
    if not params:
        signature = f"def {endpoint.operation}() -> {endpoint.schema}:"
    lines = (
        [signature]
        if len(signature) <= LINE
        else [f"def {endpoint.operation}(", "    *,", *[f"    {p}," for p in params], f") -> {endpoint.schema}:"]
    )
    lines += _docstring(f"{endpoint.spec.method} {endpoint.spec.path}: {endpoint.spec.summary}", "    ")
    names = [name for name, _ in endpoint.path_params] + [name for name, _, _ in endpoint.query]
    if endpoint.list_function:
        call = ", ".join(f"{name}={name}" for name, _ in endpoint.path_params)
        lines.append(f"    items = store.{endpoint.list_function}({call})")
        if endpoint.path_params:
            described = " and ".join(f"{name} {{{name}!r}}" for name, _ in endpoint.path_params)
            lines += [
                "    if not items:",
                f'        raise NotFoundError(f"No {endpoint.spec.entity} with {described}.")',
            ]
    values = "{" + ", ".join(f'"{name}": {name}' for name in names) + "}"
    if _uses_values(endpoint):
        lines += [f"    values: dict[str, Any] = {values}", ""]
    else:
        lines.append("")
    for rule in endpoint.rules:
        lines += _render_rule(rule)
    arguments = [(o.name, _shown(o, o.code)) for o in endpoint.fields]
    if endpoint.item_schema:
        inner = [(o.name, _shown(o, o.code)) for o in endpoint.item_fields]
        items_name = endpoint.spec.response.items.name
        lines += ["    return " + endpoint.schema + "("]
        lines += [f"        {name}={code}," for name, code in arguments]
        flat = _call("", endpoint.item_schema, inner, f"        {items_name}=[", suffix=" for item in items],")
        if len(flat) == 1:
            lines += flat
        else:
            lines += [f"        {items_name}=["]
            lines += _call("", endpoint.item_schema, inner, "            ")
            lines += ["            for item in items", "        ],"]
        lines.append("    )")
    else:
        lines += _call("return ", endpoint.schema, arguments, "    ")
    return lines


def _render_router(plan: ProductPlan, group: str, endpoints: list[EndpointPlan]) -> str:
    uses_query = any(e.query for e in endpoints)
    stdlib = ["from typing import Annotated"] if uses_query else []
    types = {PY_TYPES[k] for e in endpoints for _, k in e.path_params} | {
        PY_TYPES[k] for e in endpoints for _, k, _ in e.query if k != "currency"
    }
    if "date" in types:
        stdlib.append("from datetime import date")
    if "Decimal" in types:
        stdlib.append("from decimal import Decimal")
    third = ["from fastapi import APIRouter, Query" if uses_query else "from fastapi import APIRouter"]
    schemas = sorted(
        {e.schema for e in endpoints}
        | ({"Currency"} if any(k == "currency" for e in endpoints for _, k, _ in e.query) else set())
    )
    local = ["from .. import services", f"from ..schemas import {', '.join(schemas)}"]
    lines = [f'"""Routes under /{group}: validate the request, call one service, return its answer."""', ""]
    lines += _imports(stdlib, third, local)
    lines += [f'router = APIRouter(tags=["{group}"])', ""]
    for endpoint in endpoints:
        decorator_args = [
            ("path", _py_str(endpoint.spec.path)),
            ("operation_id", _py_str(endpoint.operation)),
            ("summary", _py_str(endpoint.spec.summary)),
        ]
        decorator = (
            f"@router.get({', '.join(code for _, code in decorator_args[:1])}, "
            + ", ".join(f"{k}={v}" for k, v in decorator_args[1:])
            + ")"
        )
        if len(decorator) <= LINE:
            lines += ["", decorator]
        else:
            lines += ["", "@router.get(", f"    {decorator_args[0][1]},"]
            lines += [f"    {k}={v}," for k, v in decorator_args[1:]]
            lines.append(")")
        params = [f"{name}: {PY_TYPES[kind]}" for name, kind in endpoint.path_params]
        for name, kind, default in endpoint.query:
            annotation = "Currency" if kind == "currency" else PY_TYPES[kind]
            description = endpoint.spec.query[name].description
            query = f"Query(description={_py_str(description)})" if description else "Query()"
            suffix = f" = {_py_value(default)}" if default is not None else ""
            params.append(f"{name}: Annotated[{annotation}, {query}]{suffix}")
        signature = f"def {endpoint.operation}({', '.join(params)}) -> {endpoint.schema}:"
        if len(signature) <= LINE:
            lines.append(signature)
        else:
            lines += [f"def {endpoint.operation}(", *[f"    {p}," for p in params], f") -> {endpoint.schema}:"]
        names = [n for n, _ in endpoint.path_params] + [n for n, _, _ in endpoint.query]
        lines += _call("return ", f"services.{endpoint.operation}", [(n, n) for n in names], "    ")
        lines.append("")
    return _module(lines)


def _render_store(plan: ProductPlan) -> str:
    spec = plan.spec
    columns = {name: {f: s.type for f, s in entity.fields.items()} for name, entity in spec.data.items()}
    statements, create_sqlite, create_postgres, insert = [], [], [], {}
    for name, entity in spec.data.items():
        keys = ", ".join(f'"{k}"' for k in entity.key)
        for dialect, types, default, target in (
            ("SQLITE", SQLITE_TYPES, "TEXT", create_sqlite),
            ("POSTGRES", POSTGRES_TYPES, "NUMERIC", create_postgres),
        ):
            cols = ", ".join(f'"{f}" {types.get(s.type, default)} NOT NULL' for f, s in entity.fields.items())
            constant = f"CREATE_{dialect}_{name.upper()}"
            create = f'CREATE TABLE IF NOT EXISTS "{name}" ({cols}, PRIMARY KEY ({keys}))'
            statements += [*_sql(constant, create), ""]
            target.append(_Code(constant))
        names = ", ".join(f'"{f}"' for f in entity.fields)
        marks = ", ".join("?" for _ in entity.fields)
        constant = f"INSERT_{name.upper()}"
        insert_sql = f'INSERT INTO "{name}" ({names}) VALUES ({marks}) ON CONFLICT ({keys}) DO NOTHING'  # noqa: S608
        statements += [*_sql(constant, insert_sql), ""]
        insert[name] = _Code(constant)
    queries, functions = [], []
    done = set()
    for endpoint in plan.endpoints:
        if not endpoint.list_function or endpoint.list_function in done:
            continue
        done.add(endpoint.list_function)
        entity = spec.data[endpoint.spec.entity]
        constant = endpoint.list_function.upper()
        names = ", ".join(f'"{f}"' for f in entity.fields)
        where = " AND ".join(f'"{p}" = ?' for p, _ in endpoint.path_params)
        order = ", ".join(f'"{k}"' for k in entity.key)
        # Source text, not a query run here: identifiers are validated names, values stay parameters.
        select = f'SELECT {names} FROM "{endpoint.spec.entity}"'  # noqa: S608
        select += f" WHERE {where} ORDER BY {order}" if where else f" ORDER BY {order}"
        queries += _sql(constant, select)
        queries.append("")
        params = ", ".join(f"{p}: {PY_TYPES[k]}" for p, k in endpoint.path_params)
        signature = (
            f"def {endpoint.list_function}(*, {params}) -> list[dict[str, Any]]:"
            if params
            else (f"def {endpoint.list_function}() -> list[dict[str, Any]]:")
        )
        args = "(" + ", ".join(p for p, _ in endpoint.path_params) + ("," if len(endpoint.path_params) == 1 else "")
        args += ")"
        functions += [
            "",
            "",
            signature,
            "    with connect() as db:",
            f'        return [_decode("{endpoint.spec.entity}", row) for row in db.execute({constant}, {args})]',
        ]
    text = _template(
        "store.py.tmpl",
        name=spec.name,
        columns="\n".join(_py_literal("", columns)).strip(),
        statements="\n".join(statements).rstrip(),
        create_sqlite="\n".join(_py_literal("", tuple(create_sqlite))),
        create_postgres="\n".join(_py_literal("", tuple(create_postgres))),
        insert="\n".join(_py_literal("", insert)),
        queries="\n".join(queries).rstrip(),
        functions="\n".join(functions),
    )
    return text


def _render_seed(plan: ProductPlan) -> str:
    seed = {name: entity.seed for name, entity in plan.spec.data.items()}
    values = [v for rows in seed.values() for row in rows for v in row.values()]
    imports = []
    if any(isinstance(v, date) for v in values):
        imports.append("from datetime import date")
    if any(isinstance(v, Decimal) for v in values):
        imports.append("from decimal import Decimal")
    body = "\n".join(_py_literal("", seed))
    return _template("seed.py.tmpl", imports="\n" + "\n".join(imports) + "\n" if imports else "", seed=body)


def _render_main(plan: ProductPlan, groups: list[str]) -> str:
    return _template(
        "main.py.tmpl",
        docstring="\n".join(_docstring(f"{plan.spec.title}: the FastAPI app.", "")),
        title_literal=_py_str(plan.spec.title),
        router_imports=f"from .routers import {', '.join(groups)}",
        router_includes="\n".join(f"app.include_router({group}.router)" for group in groups),
    )


def _sample_url(endpoint: EndpointPlan, plan: ProductPlan) -> str:
    path = endpoint.spec.path
    if endpoint.path_params:
        row = plan.spec.data[endpoint.spec.entity].seed[0] if plan.spec.data[endpoint.spec.entity].seed else {}
        for name, _ in endpoint.path_params:
            path = path.replace("{" + name + "}", str(row.get(name, "x")))
    return path


def _render_tests(plan: ProductPlan, group: str, endpoints: list[EndpointPlan]) -> str:
    body: list[str] = []
    uses_decimal = uses_one = False
    for endpoint in endpoints:
        url = _sample_url(endpoint, plan)
        entity = plan.spec.data.get(endpoint.spec.entity or "")
        if endpoint.path_params and entity and not entity.seed:
            url = None
        if url is not None:
            required = [(n, k) for n, k, d in endpoint.query if d is None]
            if required:
                filler = {
                    "currency": (plan.currencies or ("USD",))[0],
                    "integer": "1",
                    "decimal": "1",
                    "boolean": "true",
                    "date": "2025-01-31",
                }
                url += "?" + "&".join(f"{n}={filler.get(k, 'x')}" for n, k in required)
            fields = sorted(
                [f.name for f in endpoint.fields]
                + ([endpoint.spec.response.items.name] if endpoint.item_schema else [])
            )
            body += ["", "", f"def test_{endpoint.operation}_answers_every_field(client):"]
            body += [f"    response = client.get({_py_str(url)})", "", "    assert response.status_code == 200"]
            body.append("    body = response.json()")
            body += _assert_equal("sorted(body)", fields)
            if endpoint.item_schema and entity.seed:
                items_name = endpoint.spec.response.items.name
                first = entity.seed[0]
                row_count = sum(all(r[n] == first[n] for n, _ in endpoint.path_params) for r in entity.seed)
                body.append(f'    assert len(body["{items_name}"]) == {row_count}')
                body += _assert_equal(f'sorted(body["{items_name}"][0])', sorted(f.name for f in endpoint.item_fields))
        if endpoint.path_params:
            missing = endpoint.spec.path
            for name, kind in endpoint.path_params:
                missing = missing.replace("{" + name + "}", "987654321" if kind == "integer" else f"no-such-{name}")
            body += ["", "", f"def test_{endpoint.operation}_not_found(client):"]
            body += [f"    response = client.get({_py_str(missing)})", "", "    assert response.status_code == 404"]
            detail = " and ".join(
                f"{n} {('987654321' if k == 'integer' else repr(f'no-such-{n}'))}" for n, k in endpoint.path_params
            )
            body.append(
                f'    assert response.json() == {{"detail": {_py_str(f"No {endpoint.spec.entity} with {detail}.")}}}'
            )
        for name, kind, _ in endpoint.query:
            if kind == "currency" and plan.currencies and url is not None:
                joiner = "&" if "?" in url else "?"
                body += ["", "", f"def test_{endpoint.operation}_refuses_an_unknown_{name}(client):"]
                body += [f"    response = client.get({_py_str(url + joiner + name + '=XYZ')})", ""]
                body += ["    assert response.status_code == 422"]
    for example in plan.examples:
        if example.endpoint not in endpoints:
            continue
        body += ["", "", f"def test_example_{example.index}_{example.endpoint.operation}(client):"]
        body += _docstring(f"{example.request}, as the spec's example {example.index} expects.", "    ")
        body += [f"    response = client.get({_py_str(example.request.split(' ', 1)[1])})", ""]
        body.append(f"    assert response.status_code == {example.status}")
        if example.checks:
            body.append("    body = response.json()")
        for path, check, _ in example.checks:
            uses_decimal |= "Decimal(" in path or "Decimal(" in check
            uses_one |= path.startswith("_one(") or "(_one(" in path
            body.append(f"    assert {path} {check}")
    header = []
    if uses_decimal:
        header += ["from decimal import Decimal", ""]
    if uses_one:
        header += [
            "",
            "def _one(items: list[dict], **match: str) -> dict:",
            '    """The one item whose fields (as text) match, e.g. _one(rows, symbol="AAPL")."""',
            "    found = [item for item in items if all(str(item[k]) == v for k, v in match.items())]",
            '    assert len(found) == 1, f"{len(found)} items match {match}"',
            "    return found[0]",
        ]
    lines = header + body
    while lines and not lines[0]:
        lines.pop(0)
    return _module(lines)


def _assert_equal(expression: str, names: list[str]) -> list[str]:
    line = f"    assert {expression} == {_flat(names)}"
    if len(line) <= LINE:
        return [line]
    return [f"    assert {expression} == [", *[f"        {_py_str(name)}," for name in names], "    ]"]


def _risk_policy(plan: ProductPlan) -> str:
    money_blocks = [name for name in plan.blocks if CATALOG[name].computes_money]
    rules = []
    if money_blocks:
        rules.append(
            {
                "id": "money-logic",
                "paths": ["app/blocks/**", "app/services.py"],
                "kinds": [],
                "tier": "high",
                "reason": f"Computes money ({', '.join(money_blocks)}): a wrong line moves someone's money.",
            }
        )
    rules += [
        {
            "id": "data-and-api",
            "paths": ["app/store.py", "app/seed.py", "app/schemas.py", "app/routers/**", "app/main.py"],
            "kinds": [],
            "tier": "medium",
            "reason": "Changes what the service stores or answers.",
        },
        {"id": "docs", "paths": ["README.md"], "kinds": [], "tier": "low", "reason": "Documentation only."},
    ]
    policy = {"version": 1, "default_tier": "medium", "rules": rules}
    return json.dumps(policy, indent=2) + "\n"


def _readme(plan: ProductPlan) -> str:
    spec = plan.spec
    endpoint_rows = "\n".join(f"| {e.spec.method} | {e.spec.path} | {e.spec.summary} |" for e in plan.endpoints)
    rule_rows = "\n".join(
        f"| {r.id} | `{r.block}` | {r.description or CATALOG[r.block].summary} |"
        for r in spec.rules
        if any(r.id == p.rule.id for e in plan.endpoints for p in e.rules)
    )
    sections = []
    for name, entity in spec.data.items():
        rows = "\n".join(f"| {f} | {s.type} | {s.description} |" for f, s in entity.fields.items())
        sections.append(
            f"`{name}` (key: {', '.join(entity.key)}; {len(entity.seed)} seed rows)\n\n"
            f"| field | type | description |\n|---|---|---|\n{rows}"
        )
    first = plan.endpoints[0]
    return _template(
        "README.md.tmpl",
        title=spec.title,
        name=spec.name,
        description=spec.description or spec.title,
        blocks=", ".join(f"`{b}`" for b in plan.blocks) or "none used",
        endpoint_rows=endpoint_rows,
        rule_rows=rule_rows or "| - | - | no rules |",
        data_sections="\n\n".join(sections) or "No stored data.",
        sample_url=f"http://127.0.0.1:8000{_sample_url(first, plan)}",
    )


def product_render(plan: ProductPlan) -> dict[str, str]:
    """Every file of the product, path → text."""
    spec = plan.spec
    groups: dict[str, list[EndpointPlan]] = {}
    for endpoint in plan.endpoints:
        groups.setdefault(endpoint.group, []).append(endpoint)
    files = {
        "README.md": _readme(plan),
        "requirements.txt": _template(
            "requirements.txt.tmpl",
            runtime="\n".join(RUNTIME_PINS),
            postgres="\n".join(POSTGRES_PINS),
            tests="\n".join(TEST_PINS),
        ),
        "pyproject.toml": _template(
            "pyproject.toml.tmpl",
            name=spec.name,
            description=json.dumps(spec.title),
            ruff_select=json.dumps(RUFF_SELECT),
            ruff_ignore=json.dumps(RUFF_IGNORE),
        ),
        ".gitignore": _template("gitignore.tmpl"),
        ".aspora/risk-policy.json": _risk_policy(plan),
        "app/__init__.py": "",
        "app/main.py": _render_main(plan, sorted(groups)),
        "app/schemas.py": _render_schemas(plan),
        "app/services.py": _render_services(plan),
        "app/store.py": _render_store(plan),
        "app/seed.py": _render_seed(plan),
        "app/routers/__init__.py": "",
        "app/blocks/__init__.py": '"""Building blocks copied from Aspora\'s library: tested there, edited there."""\n',
        "tests/__init__.py": "",
        "tests/conftest.py": _template("conftest.py.tmpl"),
        "tests/test_health.py": _template(
            "test_health.py.tmpl",
            paths=_flat(sorted({e.spec.path for e in plan.endpoints} | {"/healthz"})),
        ),
    }
    for group, endpoints in sorted(groups.items()):
        files[f"app/routers/{group}.py"] = _render_router(plan, group, endpoints)
        files[f"tests/test_{group}.py"] = _render_tests(plan, group, endpoints)
    for module in plan.modules:
        files[f"app/blocks/{module}.py"] = (BLOCKS_DIR / f"{module}.py").read_text(encoding="utf-8")
    return files


def product_generate(spec: ProductSpec, *, worktree: Path) -> Generation:
    """Write the product into `worktree`; nothing is written when the spec is incomplete."""
    plan = product_plan(spec)
    files = product_render(plan)
    stale = worktree / "app" / "routers"
    if stale.is_dir():  # routers of endpoints the spec no longer has must not linger
        shutil.rmtree(stale)
    for relative, text in files.items():
        path = worktree / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    rules = f"{len(spec.rules)} rules on the blocks {', '.join(plan.blocks)}" if plan.blocks else "no rules"
    endpoints = f"{len(plan.endpoints)} endpoint{'s' if len(plan.endpoints) != 1 else ''}"
    summary = f"{spec.title}: {endpoints}, {rules}, {len(plan.examples)} examples as tests."
    return Generation(files=list(files), summary=summary)
