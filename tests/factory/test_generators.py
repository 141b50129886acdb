import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.usage import RequestUsage

from factory.generators import SpecIncomplete, generate
from factory.generators.agent import AgentBudget, AgentStopped, agent_generate
from factory.generators.skill import config_with_entry
from factory.policy import risk_policy_parse, risk_tier_for
from factory.specs import spec_parse
from skills.evals import skill_candidate_evaluate
from skills.packs import pack_read
from tests.loopback import OpenAIChatServer, Reply
from tests.skills.conftest import demo, eager_tasks  # noqa: F401 - shared fixtures

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "factory" / "specs"


def _ecm_copy(tmp_path: Path) -> Path:
    pack = tmp_path / "ecm"
    shutil.copytree(ROOT / "domains" / "ecm", pack, ignore=shutil.ignore_patterns("__pycache__"))
    return pack


def _skill_spec(**changes):
    text = (SPECS / "ecm-stale-escalations.md").read_text()
    for old, new in changes.items():
        text = text.replace(old, new)
    return spec_parse(text, source="ecm-stale-escalations.md")


# --- skills ------------------------------------------------------------------------------------


def test_the_skill_lands_in_the_pack_and_validates(tmp_path):
    pack = _ecm_copy(tmp_path)
    before = (pack / "aspora.config.yaml").read_text()

    generation = generate(_skill_spec(), worktree=pack)

    assert generation.files == ["skills/stale-escalations/SKILL.md", "aspora.config.yaml"]
    assert generation.summary == (
        "Added the skill stale-escalations in the ecm pack: tools team_queue, 2 eval examples."
    )
    read = pack_read(pack)
    assert read.problems == []
    skill = next(s for s in read.skills if s.entry.name == "stale-escalations")
    assert skill.entry.tools == ["team_queue"]
    assert skill.entry.roles == ["manager", "ops_manager"]
    assert skill.entry.eval_as == "omar"
    assert [e.ask for e in skill.entry.examples] == [
        "which escalations have gone stale?",
        "escalated tickets still waiting on me",
    ]
    assert skill.instructions.startswith("# Stale escalations\n\nYou help an ECM manager")
    after = (pack / "aspora.config.yaml").read_text()
    assert after.startswith(before.rstrip("\n") + "\n\n  - name: stale-escalations\n")  # the rest untouched
    assert len(read.skills) == 9


def test_generating_again_replaces_the_entry_instead_of_adding_one(tmp_path):
    pack = _ecm_copy(tmp_path)
    generate(_skill_spec(), worktree=pack)

    generation = generate(_skill_spec(**{"timeout_seconds: 60": "timeout_seconds: 90"}), worktree=pack)

    config = yaml.safe_load((pack / "aspora.config.yaml").read_text())
    entries = [s for s in config["skills"] if s["name"] == "stale-escalations"]
    assert generation.summary.startswith("Updated the skill stale-escalations")
    assert [e["timeout_seconds"] for e in entries] == [90]
    assert pack_read(pack).problems == []


def test_an_entry_in_the_middle_of_the_list_is_replaced_in_place():
    text = (
        "domain:\n  name: ecm\n\nskills:\n  - name: a\n    path: skills/a/SKILL.md\n    tools: [x]\n\n"
        "  # b is the one\n  - name: b\n    path: skills/b/SKILL.md\n\n  - name: c\n    path: skills/c/SKILL.md\n"
        "# trailing comment\n"
    )

    edited = config_with_entry(text, {"name": "b", "path": "skills/b/SKILL.md", "tools": ["y"]})

    assert edited == text.replace("    path: skills/b/SKILL.md\n", "    path: skills/b/SKILL.md\n    tools: [y]\n")


def test_an_unknown_tool_stops_with_the_toolset_named(tmp_path):
    pack = _ecm_copy(tmp_path)
    spec = _skill_spec(**{"tools: [team_queue]": "tools: [team_queue, close_stale_tickets]"})

    with pytest.raises(SpecIncomplete) as caught:
        generate(spec, worktree=pack)

    assert caught.value.missing == [
        "The tool 'close_stale_tickets' is not in the ecm toolset, which offers add_ticket_note, escalate_ticket, "
        "hand_to_fincrime, list_my_tickets, reassign_ticket, resolve_ticket, team_queue, ticket_detail."
    ]
    assert not (pack / "skills" / "stale-escalations").exists()


def test_an_unknown_domain_stops_with_the_known_domains_named(tmp_path):
    spec = _skill_spec(**{"domain: ecm": "domain: logistics"})

    with pytest.raises(SpecIncomplete) as caught:
        generate(spec, worktree=_ecm_copy(tmp_path))

    assert caught.value.missing == [
        "The domain 'logistics' does not exist: the known domains are ecm, fincrime, fraud."
    ]


def test_a_skill_that_does_not_validate_leaves_the_pack_as_it_was(tmp_path):
    pack = _ecm_copy(tmp_path)
    before = (pack / "aspora.config.yaml").read_text()
    spec = _skill_spec(**{"limits: {request_limit: 4, tool_calls_limit: 2}": "limits: {request_limit: 4}"})
    spec.limits.request_limit = 500  # past what skills.packs accepts

    with pytest.raises(SpecIncomplete) as caught:
        generate(spec, worktree=pack)

    assert caught.value.missing[0].startswith("The generated skill does not validate: ")
    assert "skills[8].limits.request_limit: Input should be less than or equal to 100" in caught.value.missing[0]
    assert (pack / "aspora.config.yaml").read_text() == before
    assert not (pack / "skills" / "stale-escalations" / "SKILL.md").exists()


def test_the_generated_skill_passes_its_evals_on_the_offline_model(demo, tmp_path):  # noqa: F811
    pack = _ecm_copy(tmp_path)
    generate(_skill_spec(), worktree=pack)

    results = skill_candidate_evaluate(pack=pack, skill_name="stale-escalations", note="test")

    assert [(r.ask, r.user, r.problems) for r in results] == [
        ("which escalations have gone stale?", "omar", []),
        ("escalated tickets still waiting on me", "omar", []),
    ]


# --- products ----------------------------------------------------------------------------------

RUFF = Path(sys.executable).parent / "ruff"


def _product_env(**extra: str) -> dict[str, str]:
    """The environment a generated product runs in: none of Aspora's own database or Django settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH")}
    return {**env, **extra}


def _wealth_spec(**changes):
    text = (SPECS / "wealth-portfolio-checker.md").read_text()
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    return spec_parse(text, source="wealth-portfolio-checker.md")


@pytest.fixture(scope="module")
def wealth(tmp_path_factory) -> Path:
    worktree = tmp_path_factory.mktemp("wealth")
    generate(_wealth_spec(), worktree=worktree)
    return worktree


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_product_is_laid_out_with_its_blocks_and_a_risk_policy(tmp_path):
    generation = generate(_wealth_spec(), worktree=tmp_path)

    assert sorted(generation.files) == [
        ".aspora/risk-policy.json",
        ".gitignore",
        "README.md",
        "app/__init__.py",
        "app/blocks/__init__.py",
        "app/blocks/fx.py",
        "app/blocks/kelly.py",
        "app/blocks/numbers.py",
        "app/blocks/pnl.py",
        "app/main.py",
        "app/routers/__init__.py",
        "app/routers/portfolio.py",
        "app/schemas.py",
        "app/seed.py",
        "app/services.py",
        "app/store.py",
        "pyproject.toml",
        "requirements.txt",
        "tests/__init__.py",
        "tests/conftest.py",
        "tests/test_health.py",
        "tests/test_portfolio.py",
    ]
    assert generation.summary == (
        "Wealth Portfolio Checker: 1 endpoint, 5 rules on the blocks fx.convert, pnl.position, kelly.sizing, "
        "pnl.portfolio, fx.rates, 4 examples as tests."
    )
    assert (tmp_path / "app/blocks/kelly.py").read_text() == (ROOT / "factory/blocks/kelly.py").read_text()
    policy = risk_policy_parse((tmp_path / ".aspora/risk-policy.json").read_text(), source="risk-policy.json")
    decision = risk_tier_for(policy=policy, changed_paths=["app/blocks/fx.py", "README.md"], kind="product")
    assert (decision.tier, decision.rule_id) == ("high", "money-logic")
    assert risk_tier_for(policy=policy, changed_paths=["README.md"], kind="product").tier == "low"
    assert risk_tier_for(policy=policy, changed_paths=["app/store.py"], kind="product").tier == "medium"


def test_the_product_pins_what_it_runs_on_as_aspora_does(wealth):
    pins = {line for line in (wealth / "requirements.txt").read_text().splitlines() if "==" in line}
    aspora = {
        line.strip()
        for name in ("requirements.txt", "requirements-dev.txt")
        for line in (ROOT / name).read_text().splitlines()
        if "==" in line
    }

    assert sorted(pins) == [
        "fastapi==0.165.0",
        "httpx==0.28.1",
        "psycopg[binary]==3.3.9",
        "pydantic==2.14.4",
        "pytest==9.2.0",
        "uvicorn==0.54.0",
    ]
    assert pins - aspora <= {"pydantic==2.14.4", "psycopg[binary]==3.3.9"}
    assert "psycopg[binary,pool]==3.3.9" in aspora
    assert version("pydantic") == "2.14.4"


def test_the_products_own_tests_pass(wealth):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=wealth,
        env=_product_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith("9 passed")


def test_the_product_passes_ruff_with_the_repos_rules(wealth):
    checks = [
        [RUFF, "check", "--no-cache", "."],
        [RUFF, "format", "--check", "--no-cache", "."],
        [RUFF, "check", "--no-cache", "--config", ROOT / "pyproject.toml", "."],
        [RUFF, "format", "--check", "--no-cache", "--config", ROOT / "pyproject.toml", "."],
    ]

    for command in checks:
        run = subprocess.run(command, cwd=wealth, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
    aspora_lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    product_lint = tomllib.loads((wealth / "pyproject.toml").read_text())["tool"]["ruff"]
    assert product_lint["line-length"] == aspora_lint["line-length"]
    assert product_lint["lint"]["select"] == aspora_lint["lint"]["select"]
    assert product_lint["lint"]["ignore"] == aspora_lint["lint"]["ignore"]


def test_the_product_served_by_uvicorn_answers_in_aed(wealth, tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=wealth,
        env=_product_env(DATABASE_URL=f"sqlite:///{tmp_path}/served.db"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "the product did not answer /healthz within 30 s"
            time.sleep(0.2)

        body = httpx.get(f"{base}/portfolio/karim", params={"currency": "AED"}, timeout=5).json()
        missing = httpx.get(f"{base}/portfolio/nobody", timeout=5)
    finally:
        server.terminate()
        server.wait(timeout=10)

    holdings = {h["symbol"]: h for h in body["holdings"]}
    assert body["currency"] == "AED"
    assert body["rates_as_of"] == "2025-01-31"
    assert list(holdings) == ["AAPL", "EMAAR", "TCS"]
    # AAPL: 20 at 150 USD, now 230 USD, 400 USD realized; 1 USD = 3.6725 AED.
    assert [holdings["AAPL"][k] for k in ("cost_basis", "market_value", "unrealized_pnl", "realized_pnl")] == [
        "11017.50",
        "16893.50",
        "5876.00",
        "1469.00",
    ]
    # TCS: 10 at 3464 INR (40 USD), now 4330 INR (50 USD).
    assert (holdings["TCS"]["cost_basis"], holdings["TCS"]["market_value"]) == ("1469.00", "1836.25")
    assert (holdings["EMAAR"]["unrealized_pnl"], holdings["EMAAR"]["total_pnl"]) == ("750.00", "630.00")
    assert (body["portfolio_market_value"], body["portfolio_pnl"]) == ("27979.75", "8342.25")
    # Half Kelly: EMAAR (0.55 - 0.45 / 1.5) / 2 = 0.125 of 27979.75.
    assert (holdings["EMAAR"]["kelly_fraction"], holdings["EMAAR"]["suggested_position"]) == ("0.1250", "3497.47")
    assert (holdings["TCS"]["kelly_fraction"], holdings["TCS"]["suggested_position"]) == ("0.0000", "0.00")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No holding with user_id 'nobody'."}


def _incomplete(spec) -> list[str]:
    with pytest.raises(SpecIncomplete) as caught:
        generate(spec, worktree=Path("/nonexistent/never-written"))
    return caught.value.missing


def test_a_rule_naming_an_unknown_block_stops_generation():
    missing = _incomplete(_wealth_spec(**{"block: kelly.sizing": "block: kelly.optimal_f"}))

    assert missing[0] == (
        "Rule kelly-sizing names the block 'kelly.optimal_f', which does not exist; the blocks are pnl.position, "
        "pnl.portfolio, kelly.sizing, fx.convert, fx.rates."
    )
    # What the missing rule would have given cannot be answered either, and each gap is named.
    assert "the response field 'kelly_fraction' cannot be derived" in missing[1]


def test_a_response_field_that_nothing_derives_stops_generation():
    spec = _wealth_spec(**{"payoff_odds, kelly_fraction, suggested_position]": "payoff_odds, kelly_fraction, "
                           "suggested_position, sharpe_ratio]"})  # fmt: skip

    assert _incomplete(spec) == [
        "GET /portfolio/{user_id}: the response field 'sharpe_ratio' cannot be derived: it is not among the fields "
        "of holding, the outputs of this endpoint's rules or a sum of them."
    ]


def test_a_rule_with_a_missing_input_or_an_unchecked_result_stops_generation():
    spec = _wealth_spec(**{"inputs: {probability: win_probability, odds: payoff_odds,": "inputs: {probability: "
                           "win_probability,"})  # fmt: skip

    assert _incomplete(spec)[0] == (
        "Rule kelly-sizing: the block kelly.sizing needs the input 'odds' (net odds: gain per 1 staked on a win, "
        "greater than 0)."
    )
    unchecked = _wealth_spec(
        **{
            "      holdings[symbol=TCS].kelly_fraction: 0.0000     # no edge": "      # no edge",
            "      holdings[symbol=EMAAR].kelly_fraction: 0.1250": "      #",
            "      holdings[symbol=EMAAR].suggested_position: 3497.47": "      #",
            "      holdings[symbol=AAPL].kelly_fraction: 0.1333": "      #",
            "      holdings[symbol=AAPL].suggested_position: 3730.63": "      #",
            "      holdings[symbol=TCS].suggested_position: 0.00": "      #",
            "      holdings[symbol=INFY].kelly_fraction: 0.0000": "      #",
        }
    )
    assert _incomplete(unchecked) == [
        "Rule kelly-sizing is not checked by any example: add an example for GET /portfolio/{user_id} that expects "
        "one of its results (kelly_fraction, suggested_position), computed by hand."
    ]


def test_examples_must_be_written_as_the_answer_shows_them():
    spec = _wealth_spec(**{"holdings[symbol=AAPL].avg_cost: 550.88": "holdings[symbol=AAPL].avg_cost: 550.875"})

    assert _incomplete(spec) == [
        "Example 1 (GET /portfolio/karim?currency=AED): holdings[symbol=AAPL].avg_cost expects 550.875, but a money "
        "is shown as 550.88: write it that way."
    ]


def test_currencies_the_blocks_cannot_convert_stop_generation():
    spec = _wealth_spec(**{"name: Apple, trade_currency: USD": "name: Apple, trade_currency: GBP"})

    assert _incomplete(spec) == [
        "Seed row 4 of holding has trade_currency 'GBP', which the fx blocks cannot convert (they know INR, USD, AED)."
    ]


def test_writing_endpoints_are_left_to_the_coding_agent():
    spec = _wealth_spec(**{"  - method: GET\n    path: /portfolio/{user_id}": "  - method: POST\n    path: "
                           "/portfolio/{user_id}", "GET /portfolio/": "POST /portfolio/"})  # fmt: skip

    assert _incomplete(spec) == [
        "POST /portfolio/{user_id}: the offline generator writes read-only GET endpoints; a POST needs the LLM coding "
        "agent or a spec that only reads."
    ]


LEDGER = """\
---
kind: product
name: fx-ledger
title: FX ledger
data:
  entry:
    key: [entry_id]
    fields:
      entry_id: integer
      booked: date
      amount: money
      amount_currency: currency
      settled: boolean
    seed:
      - {entry_id: 1, booked: 2024-06-01, amount: 5000, amount_currency: INR, settled: true}
      - {entry_id: 2, booked: 2024-06-02, amount: 60, amount_currency: USD, settled: false}
rules:
  - id: in-target
    block: fx.convert
    each: entry
    inputs:
      source: amount_currency
      target: currency
      rates: {literal: {as_of: 2024-06-30, base: INR, rates: {INR: 1, USD: "0.012", AED: "0.044"}}}
    apply_to: [amount]
  - id: stake
    block: kelly.sizing
    inputs: {probability: 0.6, odds: 1, capital: capital}
    outputs: {fraction: stake_fraction, position: stake}
endpoints:
  - method: GET
    path: /entries/{entry_id}
    summary: One ledger entry in the currency asked for.
    entity: entry
    query: {currency: {type: currency, default: USD}}
    rules: [in-target]
    response:
      fields: [entry_id, currency, {total: sum(amount)}]
      items: {name: lines, fields: [booked, amount, settled]}
  - method: GET
    path: /stake
    summary: A full-Kelly stake at even odds and a 60 % win rate.
    query: {capital: {type: decimal}}
    rules: [stake]
    response:
      fields: [capital, stake_fraction, stake]
examples:
  - request: GET /entries/1?currency=AED
    expect:
      lines[0].amount: 220.00
      total: 220.00
      lines[0].booked: 2024-06-01
      lines[0].settled: true
  - request: GET /stake?capital=1000
    expect: {stake_fraction: 0.2000, stake: 200.00}
---
A ledger with an integer key, its own dated rates table and an endpoint that stores nothing.
"""


def test_a_second_product_shape_generates_and_passes_its_tests(tmp_path):
    generation = generate(spec_parse(LEDGER, source="ledger.md"), worktree=tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=_product_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lint = subprocess.run([RUFF, "check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True)
    form = subprocess.run([RUFF, "format", "--check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True)

    assert "app/routers/entries.py" in generation.files and "app/routers/stake.py" in generation.files
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith("8 passed")
    assert (lint.returncode, form.returncode) == (0, 0), lint.stdout + form.stdout
    services = (tmp_path / "app/services.py").read_text()
    assert "IN_TARGET_RATES = fx.RatesTable(\n    as_of=date(2024, 6, 30)," in services


@pytest.mark.services
def test_the_products_own_tests_pass_on_postgresql(wealth, settings):
    """The product's store on PostgreSQL, in a database of its own that the test creates and drops."""
    import psycopg

    server = settings.DATABASES["default"]
    auth = server["USER"] + (f":{server['PASSWORD']}" if server["PASSWORD"] else "")
    base = f"postgres://{auth}@{server['HOST'] or '127.0.0.1'}:{server['PORT'] or 5432}"
    name = f"factory_product_{os.getpid()}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=wealth,
            env=_product_env(TEST_DATABASE_URL=f"{base}/{name}"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        with psycopg.connect(f"{base}/{name}") as product_db:
            stored = product_db.execute('SELECT count(*), sum("avg_cost") FROM "holding"').fetchone()
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith("9 passed")
    assert stored == (6, Decimal("7822.50"))  # 1500 + 300 + 2400 + 150 + 8.50 + 3464, exactly


# --- the LLM coding agent ----------------------------------------------------------------------

CHANGE = """\
---
kind: change
name: exact-vat
title: Exact VAT
target: product-vat-calculator
---
VAT is computed with a float; compute it exactly with Decimal.
"""


def _scripted(steps):
    """A FunctionModel answering with `steps` in turn: a list of (tool, args) calls, or the final text.

    Returns the model and the tool results it was shown, as (tool name, content)."""
    shown: list[tuple[str, str]] = []
    replies = iter(steps)

    def reply(messages, info):
        shown.extend((p.tool_name, p.content) for p in messages[-1].parts if isinstance(p, ToolReturnPart))
        step = next(replies)
        usage = RequestUsage(input_tokens=100, output_tokens=20)
        if isinstance(step, tuple):  # (calls, cost)
            step, usage = step[0], RequestUsage(input_tokens=100, output_tokens=20, cost=step[1])
        if isinstance(step, str):
            return ModelResponse(parts=[TextPart(step)], usage=usage)
        parts = [ToolCallPart(name, args, tool_call_id=f"call-{len(shown)}-{i}") for i, (name, args) in enumerate(step)]
        return ModelResponse(parts=parts, usage=usage)

    return FunctionModel(reply), shown


def _vat_repo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "calc.py").write_text("def vat(amount):\n    return amount * 0.05\n")
    (root / "test_calc.py").write_text(
        "from decimal import Decimal\n\nfrom calc import vat\n\n\n"
        "def test_vat_is_exact():\n    assert vat(Decimal('19.99')) == Decimal('0.9995')\n"
    )
    return root


def test_the_coding_agent_changes_a_repo_and_runs_its_tests(tmp_path):
    repo = _vat_repo(tmp_path / "repo")
    fixed = 'from decimal import Decimal\n\nRATE = Decimal("0.05")\n\n\ndef vat(amount):\n    return amount * RATE\n'
    model, shown = _scripted(
        [
            [("read_file", {"path": "calc.py"})],
            [("write_file", {"path": "calc.py", "content": fixed})],
            [("run_tests", {})],
            "VAT now multiplies by Decimal('0.05'), so 19.99 gives exactly 0.9995.",
        ]
    )

    generation = generate(spec_parse(CHANGE), worktree=repo, model=model)

    assert generation.files == ["calc.py"]
    assert generation.summary == (
        "VAT now multiplies by Decimal('0.05'), so 19.99 gives exactly 0.9995. "
        "(4 steps, 480 tokens, cost unknown; 1 test runs)"
    )
    assert shown[0] == ("read_file", "def vat(amount):\n    return amount * 0.05\n")
    assert shown[1] == ("write_file", f"Wrote calc.py ({len(fixed)} characters).")
    assert shown[2][1].startswith("Tests passed.\n") and "1 passed" in shown[2][1]
    assert (repo / "calc.py").read_text() == fixed


def test_the_coding_agent_cannot_leave_its_worktree(tmp_path):
    repo = _vat_repo(tmp_path / "repo")
    (repo / ".git").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the payroll password")
    (repo / "link").symlink_to(outside, target_is_directory=True)
    model, shown = _scripted(
        [
            [
                ("read_file", {"path": "../outside/secret.txt"}),
                ("read_file", {"path": str(outside / "secret.txt")}),
                ("read_file", {"path": "link/secret.txt"}),
                ("write_file", {"path": "link/planted.py", "content": "x = 1\n"}),
                ("write_file", {"path": ".git/hooks/post-commit", "content": "curl evil\n"}),
                ("search", {"text": "password", "folder": ".."}),
                ("run_tests", {"path": "../outside"}),
            ],
            "I could not do that.",
        ]
    )

    generation = generate(spec_parse(CHANGE), worktree=repo, model=model)

    assert [content for _, content in shown] == [
        "Refused: ../outside/secret.txt is outside the repository.",
        f"Refused: {outside / 'secret.txt'} is absolute; give a path relative to the repository root.",
        "Refused: link/secret.txt is outside the repository.",
        "Refused: link/planted.py is outside the repository.",
        "Refused: .git/hooks/post-commit is inside .git, which is not yours to touch.",
        ["Refused: .. is outside the repository."],
        "Refused: ../outside is outside the repository.",
    ]
    assert generation.files == []
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert list((repo / ".git").iterdir()) == []


def test_the_coding_agent_stops_at_its_step_bound(tmp_path):
    repo = _vat_repo(tmp_path / "repo")
    model, shown = _scripted(itertools.repeat([("list_files", {})]))

    with pytest.raises(AgentStopped) as caught:
        agent_generate(spec_parse(CHANGE), worktree=repo, model=model, budget=AgentBudget(request_limit=3))

    assert caught.value.message == (
        "The coding agent stopped at its budget: The next request would exceed the request_limit of 3. "
        "It had written nothing."
    )
    assert shown[0] == ("list_files", ["calc.py", "test_calc.py"])
    assert len(shown) == 2  # three requests: the first, and two after seeing the files


def test_the_coding_agent_stops_at_its_cost_bound(tmp_path):
    repo = _vat_repo(tmp_path / "repo")
    write = [("write_file", {"path": "notes.md", "content": "spent\n"})]
    model, _ = _scripted(itertools.repeat((write, Decimal("0.40"))))

    with pytest.raises(AgentStopped) as caught:
        agent_generate(spec_parse(CHANGE), worktree=repo, model=model, budget=AgentBudget(cost_limit=Decimal("1.00")))

    assert caught.value.message == (
        "The coding agent stopped at its budget: Exceeded the `cost_limit` of 1.00 (`usage.cost`=Decimal('1.20')). "
        "It had written notes.md."
    )
    assert caught.value.files == ["notes.md"]


def test_a_change_without_a_configured_model_stops_at_generate(tmp_path, settings, monkeypatch):
    settings.ASPORA_MODEL = ""
    monkeypatch.delenv("ASPORA_FACTORY_MODEL", raising=False)

    with pytest.raises(SpecIncomplete) as caught:
        generate(spec_parse(CHANGE), worktree=_vat_repo(tmp_path / "repo"))

    assert caught.value.missing == [
        "A change to an existing repository needs the LLM coding agent, and no model is configured: set "
        "ASPORA_FACTORY_MODEL (or ASPORA_MODEL) and its provider's key."
    ]


def test_the_coding_agent_speaks_to_a_configured_provider(tmp_path, settings, monkeypatch):
    settings.ASPORA_MODEL = ""
    monkeypatch.setenv("ASPORA_FACTORY_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-agent")
    repo = _vat_repo(tmp_path / "repo")
    replies = iter(
        [
            Reply(tool_calls=[("write_file", {"path": "NOTES.md", "content": "VAT is exact now.\n"})]),
            Reply(text="Wrote the note."),
        ]
    )

    with OpenAIChatServer(lambda body: next(replies)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        generation = generate(spec_parse(CHANGE), worktree=repo)

    assert generation.files == ["NOTES.md"]
    assert generation.summary.startswith("Wrote the note. (2 steps, 300 tokens")
    assert (repo / "NOTES.md").read_text() == "VAT is exact now.\n"
    tools = [tool["function"]["name"] for tool in server.requests[0]["tools"]]
    assert tools == ["list_files", "read_file", "search", "write_file", "run_tests"]
    assert "VAT is computed with a float" in json.dumps(server.requests[0]["messages"])
    assert server.headers[0]["authorization"] == "Bearer sk-loopback-agent"


def test_an_entity_listed_without_rules_or_seed_rows_still_makes_a_clean_product(tmp_path):
    spec = spec_parse(
        "---\nkind: product\nname: notes\ntitle: Notes\ndata:\n  note:\n    key: [note_id]\n"
        "    fields: {note_id: integer, body: text}\nendpoints:\n  - method: GET\n    path: /notes\n"
        "    summary: Every note.\n    entity: note\n    response:\n"
        "      items: {name: notes, fields: [note_id, body]}\n"
        "---\nNotes.\n"
    )

    generation = generate(spec, worktree=tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=_product_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lint = subprocess.run([RUFF, "check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True)
    form = subprocess.run([RUFF, "format", "--check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True)

    assert generation.summary == "Notes: 1 endpoint, no rules, 0 examples as tests."
    assert "app/blocks/numbers.py" in generation.files and "app/blocks/pnl.py" not in generation.files
    assert run.stdout.strip().splitlines()[-1].startswith("3 passed"), run.stdout + run.stderr
    assert (lint.returncode, form.returncode) == (0, 0), lint.stdout + form.stdout
    risk = json.loads((tmp_path / ".aspora/risk-policy.json").read_text())
    assert [rule["id"] for rule in risk["rules"]] == ["data-and-api", "docs"]  # no money logic, no high tier
