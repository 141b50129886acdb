from datetime import date
from decimal import Decimal

import pytest

from factory.specs import ProductSpec, SkillSpec, SpecError, endpoint_for_request, spec_parse

PRODUCT = """\
---
kind: product
name: tiny-ledger
title: Tiny ledger
data:
  holding:
    key: [user_id, symbol]
    fields:
      user_id: text
      symbol: text
      price: {type: money, description: last traded price}
      bought: date
    seed:
      - {user_id: asha, symbol: TCS, price: 3450.10, bought: 2024-03-01}
rules:
  - id: convert
    block: fx.convert
    each: holding
    inputs: {source: {literal: INR}, target: currency}
    apply_to: [price]
endpoints:
  - method: get
    path: /holdings/{user_id}
    summary: A user's holdings.
    entity: holding
    query:
      currency: {type: currency, default: INR}
    rules: [convert]
    response:
      fields: [user_id, currency]
      items: {name: holdings, fields: [symbol, price]}
examples:
  - request: GET /holdings/asha?currency=USD
    expect:
      holdings[0].price: 39.84
---
A ledger to show the spec format.
"""

SKILL = """\
---
kind: skill
name: overdue-tickets
title: Overdue tickets
domain: ecm
description: Lists the asker's overdue tickets.
tools: [list_my_tickets]
roles: [field_agent]
eval_as: sarah
examples:
  - ask: which of my tickets are overdue?
    tools: [list_my_tickets]
    facts: ["#1042"]
---
Call `list_my_tickets` and show the breached ones first.
"""


def _problems(text: str, source: str = "specs/tiny.md") -> list[str]:
    with pytest.raises(SpecError) as caught:
        spec_parse(text, source=source)
    return [str(problem) for problem in caught.value.problems]


def test_a_product_spec_parses_with_exact_decimals_and_dates():
    spec = spec_parse(PRODUCT, source="specs/tiny.md")

    assert isinstance(spec, ProductSpec)
    assert spec.description == "A ledger to show the spec format."
    row = spec.data["holding"].seed[0]
    assert row == {"user_id": "asha", "symbol": "TCS", "price": Decimal("3450.10"), "bought": date(2024, 3, 1)}
    assert spec.endpoints[0].method == "GET"
    assert spec.endpoints[0].path_params == ["user_id"]
    assert spec.endpoints[0].query["currency"].default == "INR"
    assert spec.examples[0].expect == {"holdings[0].price": Decimal("39.84")}
    endpoint, params, query = endpoint_for_request(spec, "GET /holdings/asha?currency=USD")
    assert (endpoint.path, params, query) == ("/holdings/{user_id}", {"user_id": "asha"}, "currency=USD")


def test_a_skill_spec_takes_its_instruction_from_the_body():
    spec = spec_parse(SKILL)

    assert isinstance(spec, SkillSpec)
    assert spec.instruction == "Call `list_my_tickets` and show the breached ones first."
    assert spec.requires_context == ["user", "team"]
    assert spec.examples[0].as_user is None
    assert spec.examples[0].facts == ["#1042"]


def test_errors_name_the_source_line_and_field():
    text = PRODUCT.replace("price: 3450.10", "price: lots").replace("type: money", "type: cash")

    assert _problems(text) == [
        "specs/tiny.md:11: data.holding.fields.price.type: Input should be 'text', 'integer', 'decimal', 'money', "
        "'ratio', 'percent', 'currency', 'date' or 'boolean'"
    ]
    assert _problems(PRODUCT.replace("price: 3450.10", "price: lots")) == [
        "specs/tiny.md:14: data.holding.seed[0].price: must be a number (money)"
    ]


def test_unknown_and_missing_fields_are_named_at_their_line():
    text = PRODUCT.replace("    summary: A user's holdings.\n", "    sumary: A user's holdings.\n")

    assert _problems(text) == [
        "specs/tiny.md:22: endpoints[0].summary: is required",
        "specs/tiny.md:24: endpoints[0].sumary: is not a known field",
    ]


def test_cross_references_are_checked():
    text = (
        PRODUCT.replace("rules: [convert]", "rules: [convert, totals]")
        .replace("key: [user_id, symbol]", "key: [user_id, ticker]")
        .replace("GET /holdings/asha", "GET /holding/asha")
    )

    assert _problems(text) == [
        "specs/tiny.md:7: data.holding.key[1]: 'ticker' is not a field of holding",
        "specs/tiny.md:28: endpoints[0].rules[1]: 'totals' is not a rule of this spec",
        "specs/tiny.md:33: examples[0].request: 'GET /holding/asha?currency=USD' matches no endpoint of this spec",
    ]


def test_seed_rows_must_give_every_field_once():
    text = PRODUCT.replace(
        "      - {user_id: asha, symbol: TCS, price: 3450.10, bought: 2024-03-01}\n",
        "      - {user_id: asha, symbol: TCS, price: 3450.10, bought: 2024-03-01}\n"
        "      - {user_id: asha, symbol: TCS, price: 1, bought: 2024-03-02}\n"
        "      - {user_id: ravi, symbol: TCS, bought: 2024-13-01, colour: red}\n",
    )

    assert _problems(text) == [
        "specs/tiny.md:15: data.holding.seed[1]: repeats the key {'user_id': 'asha', 'symbol': 'TCS'} of an earlier "
        "row",
        "specs/tiny.md:16: data.holding.seed[2].colour: is not a field of holding; its fields are user_id, symbol, "
        "price, bought",
        "specs/tiny.md:16: data.holding.seed[2]: lacks 'price': every seed row gives every field",
        "specs/tiny.md:16: data.holding.seed[2].bought: must be a date, like 2025-01-31 (date)",
    ]


def test_a_path_parameter_must_be_a_field_of_the_entity():
    text = PRODUCT.replace("path: /holdings/{user_id}", "path: /holdings/{owner}")

    assert _problems(text)[0] == "specs/tiny.md:23: endpoints[0].path: path parameter {owner} is not a field of holding"


def test_skill_spec_errors():
    text = (
        SKILL.replace("roles: [field_agent]", "roles: [pilot]")
        .replace("tools: [list_my_tickets]\nroles", "tools: [list_my_tickets]\nconfirm: [escalate_ticket]\nroles")
        .replace("facts:", "fact:")
    )

    assert _problems(text, source="s.md") == [
        "s.md:9: roles[0]: Input should be 'field_agent', 'manager', 'analyst', 'ops_manager', 'product_manager' "
        "or 'admin'",
        "s.md:14: examples[0].fact: is not a known field",
    ]
    assert _problems(SKILL.replace("roles:", "confirm: [escalate_ticket]\nroles:"), source="s.md") == [
        "s.md:8: confirm[0]: 'escalate_ticket' is not one of this skill's tools"
    ]
    no_body = SKILL.replace("Call `list_my_tickets` and show the breached ones first.\n", "")
    assert _problems(no_body, source="s.md") == ["s.md:15: body: is empty: the body is the skill's instruction"]


def test_the_frontmatter_itself_is_checked():
    assert _problems("no frontmatter here", source="a.md") == [
        "a.md:1: frontmatter: expected the spec to start with a '---' YAML block"
    ]
    assert _problems("---\nkind: widget\nname: x\n---\nbody\n", source="a.md") == [
        "a.md:2: kind: is 'widget'; expected skill or product"
    ]
    assert _problems("---\nname: x\n---\nbody\n", source="a.md") == ["a.md:2: kind: is required: skill or product"]
    assert _problems("---\nkind: skill\nname: [unclosed\n---\nbody\n", source="a.md")[0].startswith(
        "a.md:4: frontmatter: is not valid YAML"
    )
    assert _problems("---\nkind: skill\ninstruction: hi\n---\nbody\n", source="a.md") == [
        "a.md:3: instruction: comes from the markdown body, not the frontmatter"
    ]


def test_the_demo_specs_parse_and_the_format_doc_lists_every_block():
    from pathlib import Path

    from factory.blocks import catalog_markdown

    folder = Path(__file__).resolve().parents[2] / "factory" / "specs"
    wealth = spec_parse((folder / "wealth-portfolio-checker.md").read_text(), source="wealth-portfolio-checker.md")
    skill = spec_parse((folder / "ecm-stale-escalations.md").read_text(), source="ecm-stale-escalations.md")

    assert (wealth.name, [e.path for e in wealth.endpoints], len(wealth.data["holding"].seed)) == (
        "wealth-portfolio-checker",
        ["/portfolio/{user_id}"],
        6,
    )
    assert (skill.domain, skill.tools) == ("ecm", ["team_queue"])
    assert catalog_markdown() in (folder / "README.md").read_text()
