"""Reviewers on real worktrees: ruff, bandit and Aspora's rules offline, the LLM reviewer on pydantic-ai
test models and a loopback OpenAI server, Greptile against a loopback server speaking its v2 API."""

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from factory.reviewers import (
    BanditReviewer,
    GreptileReviewer,
    LLMReviewer,
    ProjectRulesReviewer,
    ReviewerError,
    ReviewFinding,
    RuffReviewer,
    findings_to_sarif,
    review,
    reviewers_configured,
)
from factory.reviewers.llm import factory_model
from tests.loopback import OpenAIChatServer, Reply

IDENTITY_TOOL = '''\
from pydantic_ai import FunctionToolset, RunContext

from skills.deps import SkillDeps
from domains.ecm.selectors import ticket_list_for_context, ticket_list_for_user

toolset = FunctionToolset[SkillDeps]()


@toolset.tool
def list_my_tickets(ctx: RunContext[SkillDeps], status: str = "active") -> list[dict]:
    """The asker's tickets, read from the injected context."""
    return ticket_list_for_context(context=ctx.deps.context, status=status)


@toolset.tool
def list_tickets_for(
    ctx: RunContext[SkillDeps],
    user_id: int,
    status: str = "active",
) -> list[dict]:
    """Anyone's tickets: the model picks whose."""
    return ticket_list_for_user(user_id=user_id, status=status)


@toolset.tool_plain
def team_summary(team_id: int) -> dict:
    return {"team": team_id}
'''


def _tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def _git(tree: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    result = subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True, check=True, env=env)
    return result.stdout.strip()


def _keyed(findings: list[ReviewFinding]) -> list[tuple]:
    return [(f.reviewer, f.rule_id, f.severity, f.path, f.line) for f in findings]


# --- ruff ---


def test_ruff_reports_an_unused_import_as_low_and_fixable(tmp_path):
    tree = _tree(tmp_path, {"app/main.py": "import os\nimport json\n\nprint(json.dumps({}))\n"})

    findings = RuffReviewer().review(worktree=tree, paths=["app/main.py"])

    assert _keyed(findings) == [("ruff", "F401", "low", "app/main.py", 1)]
    assert findings[0].message == "`os` imported but unused (ruff can fix this)"


def test_ruff_calls_undefined_names_high_and_bugbear_medium(tmp_path):
    source = "def total(items, seen=[]):\n    return sum(items) + missing\n"
    tree = _tree(tmp_path, {"app/calc.py": source})

    findings = RuffReviewer().review(worktree=tree, paths=["app/calc.py"])

    assert _keyed(findings) == [
        ("ruff", "B006", "medium", "app/calc.py", 1),
        ("ruff", "F821", "high", "app/calc.py", 2),
    ]


def test_a_syntax_error_is_a_high_finding(tmp_path):
    tree = _tree(tmp_path, {"app/broken.py": "def f(:\n    pass\n"})

    findings = RuffReviewer().review(worktree=tree, paths=["app/broken.py"])

    assert [(f.rule_id, f.severity, f.line) for f in findings][:1] == [("invalid-syntax", "high", 1)]
    assert type(findings[0].severity) is str


def test_ruff_follows_the_worktrees_own_configuration(tmp_path):
    config = '[tool.ruff]\nline-length = 30\n\n[tool.ruff.lint]\nselect = ["E501"]\n'
    source = "import os\nNAME = 'a fairly long line of text here'\n"
    tree = _tree(tmp_path, {"pyproject.toml": config, "app/main.py": source})

    findings = RuffReviewer().review(worktree=tree, paths=["app/main.py"])

    assert _keyed(findings) == [("ruff", "E501", "info", "app/main.py", 2)]


def test_ruff_ignores_a_parent_folders_configuration_that_excludes_the_worktree(tmp_path):
    # The factory's worktrees live under Aspora's var/, which Aspora's own ruff settings exclude.
    parent = '[tool.ruff]\nextend-exclude = ["var"]\n\n[tool.ruff.lint]\nselect = ["E501"]\n'
    _tree(tmp_path, {"pyproject.toml": parent})
    tree = _tree(tmp_path / "var" / "wt", {"app/main.py": "import os\n"})

    findings = RuffReviewer().review(worktree=tree, paths=["app/main.py"])

    assert _keyed(findings) == [("ruff", "F401", "low", "app/main.py", 1)]


def test_ruff_leaves_security_rules_to_bandit(tmp_path):
    config = '[tool.ruff.lint]\nselect = ["F", "S"]\n'
    source = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
    tree = _tree(tmp_path, {"pyproject.toml": config, "app/run.py": source})

    assert RuffReviewer().review(worktree=tree, paths=["app/run.py"]) == []


# --- bandit ---

SHELL = """\
import subprocess


def run(cmd):
    return subprocess.call(cmd, shell=True)
"""


def test_bandit_reports_shell_true_as_high(tmp_path):
    tree = _tree(tmp_path, {"app/run.py": SHELL})

    findings = BanditReviewer().review(worktree=tree, paths=["app/run.py"])

    assert _keyed(findings) == [
        ("bandit", "B404", "info", "app/run.py", 1),
        ("bandit", "B602", "high", "app/run.py", 5),
    ]
    assert findings[1].message == (
        "subprocess call with shell=True identified, security issue. "
        "(subprocess_popen_with_shell_equals_true, confidence high)"
    )


def test_a_ruff_noqa_for_the_same_rule_silences_bandit(tmp_path):
    source = SHELL.replace("shell=True)", "shell=True)  # noqa: S602 - a fixed command")
    tree = _tree(tmp_path, {"app/run.py": source})

    findings = BanditReviewer().review(worktree=tree, paths=["app/run.py"])

    assert [f.rule_id for f in findings] == ["B404"]


def test_bandit_drops_asserts_and_fake_passwords_in_test_code_only(tmp_path):
    source = 'password = "hunter2"\n\n\ndef test_x():\n    assert password\n'
    tree = _tree(tmp_path, {"tests/test_login.py": source, "app/login.py": source})

    findings = BanditReviewer().review(worktree=tree, paths=["tests/test_login.py", "app/login.py"])

    assert _keyed(findings) == [
        ("bandit", "B105", "low", "app/login.py", 1),
        ("bandit", "B101", "low", "app/login.py", 5),
    ]


# --- Aspora's rules ---


def test_a_tool_that_takes_identity_from_its_arguments_is_high(tmp_path):
    tree = _tree(tmp_path, {"domains/ecm/tools.py": IDENTITY_TOOL})

    findings = ProjectRulesReviewer().review(worktree=tree, paths=["domains/ecm/tools.py"])

    assert _keyed(findings) == [
        ("aspora-rules", "aspora-tool-identity-arg", "high", "domains/ecm/tools.py", 18),
        ("aspora-rules", "aspora-tool-identity-arg", "high", "domains/ecm/tools.py", 26),
    ]
    assert findings[0].message == (
        "Tool `list_tickets_for` takes `user_id` as an argument, which the model chooses; "
        "read who is asking from `ctx.deps.context` instead."
    )


def test_an_endpoint_that_takes_a_user_id_is_not_a_tool(tmp_path):
    source = (
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
        '@app.get("/portfolio/{user_id}")\ndef portfolio(user_id: str) -> dict:\n    return {}\n'
    )
    tree = _tree(tmp_path, {"app/main.py": source})

    assert ProjectRulesReviewer().review(worktree=tree, paths=["app/main.py"]) == []


def test_the_real_domain_tools_pass_the_identity_rule():
    root = Path(__file__).resolve().parents[2]
    paths = sorted(p.relative_to(root).as_posix() for p in root.glob("domains/*/tools.py"))

    assert len(paths) == 3
    assert ProjectRulesReviewer().review(worktree=root, paths=paths) == []


def test_secret_literals_are_high_outside_tests(tmp_path):
    source = (
        "import os\n\n"
        'STRIPE_API_KEY = "sk-live-4eC39HqLyjWDarjtT1zdp7dc"\n'
        'SLACK_TOKEN_ENV = "SLACK_BOT_TOKEN"\n'
        'HEADER_KEY = "X-Api-Key"\n'
        'GITHUB_TOKEN = os.environ.get("GITHUB_TOKEN", "")\n'
        'client = make_client(api_key="ghp_16C7e42F292c6912E7710c838347Ae178B4a")\n'
        'db_password: str = "s3cretpass99"\n'
    )
    tree = _tree(tmp_path, {"app/settings.py": source, "tests/test_settings.py": source})

    findings = ProjectRulesReviewer().review(worktree=tree, paths=["app/settings.py", "tests/test_settings.py"])

    assert _keyed(findings) == [
        ("aspora-rules", "aspora-secret-literal", "high", "app/settings.py", 3),
        ("aspora-rules", "aspora-secret-literal", "high", "app/settings.py", 7),
        ("aspora-rules", "aspora-secret-literal", "high", "app/settings.py", 8),
    ]
    assert findings[0].message == (
        "`STRIPE_API_KEY` is set to a literal that looks like a credential; read it from the environment."
    )


def test_money_held_as_float_is_medium(tmp_path):
    source = (
        "from decimal import Decimal\n\n\n"
        "def position_size(bankroll: Decimal, kelly_fraction: float) -> Decimal:\n"
        "    return bankroll * Decimal(str(kelly_fraction))\n\n\n"
        "def pnl(amount: float, cost_basis: Decimal) -> Decimal:\n"
        "    unit_price = float(row_price())\n"
        "    return Decimal(amount) - cost_basis\n"
    )
    tree = _tree(tmp_path, {"app/blocks/pnl.py": source})

    findings = ProjectRulesReviewer().review(worktree=tree, paths=["app/blocks/pnl.py"])

    assert _keyed(findings) == [
        ("aspora-rules", "aspora-float-money", "medium", "app/blocks/pnl.py", 8),
        ("aspora-rules", "aspora-float-money", "medium", "app/blocks/pnl.py", 9),
    ]
    assert findings[1].message.startswith("`unit_price` holds money as a float; use Decimal")


# --- the interface ---


def test_review_collects_every_reviewer_in_path_and_line_order(tmp_path):
    tree = _tree(tmp_path, {"app/run.py": "import os\n" + SHELL, "domains/ecm/tools.py": IDENTITY_TOOL})

    findings = review(worktree=tree, paths=["domains/ecm/tools.py", "app/run.py", "README.md", "gone.py"])

    assert _keyed(findings) == [
        ("ruff", "F401", "low", "app/run.py", 1),
        ("bandit", "B404", "info", "app/run.py", 2),
        ("bandit", "B602", "high", "app/run.py", 6),
        ("aspora-rules", "aspora-tool-identity-arg", "high", "domains/ecm/tools.py", 18),
        ("aspora-rules", "aspora-tool-identity-arg", "high", "domains/ecm/tools.py", 26),
    ]


def test_a_path_outside_the_worktree_is_an_error_not_a_skip(tmp_path):
    tree = _tree(tmp_path / "wt", {"app.py": "x = 1\n"})
    _tree(tmp_path, {"secret.py": "import os\n"})

    with pytest.raises(ReviewerError) as caught:
        RuffReviewer().review(worktree=tree, paths=["../secret.py"])

    assert caught.value.message == f"'../secret.py' is outside the worktree {tree}"
    assert caught.value.reviewer == "ruff"


def test_findings_export_as_sarif():
    findings = [
        ReviewFinding(reviewer="bandit", rule_id="B602", severity="high", path="app/run.py", line=5, message="shell"),
        ReviewFinding(reviewer="ruff", rule_id="F401", severity="low", path="app/main.py", line=None, message="os"),
    ]

    sarif = findings_to_sarif(findings)

    assert sarif["version"] == "2.1.0"
    assert [run["tool"]["driver"]["name"] for run in sarif["runs"]] == ["bandit", "ruff"]
    assert sarif["runs"][0]["results"][0] == {
        "ruleId": "B602",
        "level": "error",
        "message": {"text": "shell"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app/run.py"}, "region": {"startLine": 5}}}],
        "properties": {"severity": "high"},
    }
    assert sarif["runs"][1]["results"][0]["level"] == "note"
    assert "region" not in sarif["runs"][1]["results"][0]["locations"][0]["physicalLocation"]


def test_offline_only_the_static_reviewers_run(monkeypatch, settings):
    settings.ASPORA_MODEL = ""
    monkeypatch.delenv("ASPORA_FACTORY_MODEL", raising=False)
    monkeypatch.delenv("GREPTILE_API_KEY", raising=False)

    assert [r.name for r in reviewers_configured()] == ["ruff", "bandit", "aspora-rules"]


def test_a_model_name_without_its_providers_key_is_not_configured(monkeypatch, settings):
    settings.ASPORA_MODEL = ""
    monkeypatch.setenv("ASPORA_FACTORY_MODEL", "anthropic:claude-haiku-4-5")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("GREPTILE_API_KEY", raising=False)

    assert [r.name for r in reviewers_configured()] == ["ruff", "bandit", "aspora-rules"]


# --- the LLM reviewer ---

CALC = "from decimal import Decimal\n\n\ndef fee(amount):\n    return amount * 0.01\n"


def _answering(findings: list[dict], seen: list):
    def model(messages, info: AgentInfo) -> ModelResponse:
        seen.append(messages)
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {"findings": findings})])

    return FunctionModel(model)


def test_the_llm_reviewer_maps_its_structured_answer_to_findings(tmp_path):
    tree = _tree(tmp_path, {"app/fees.py": CALC, "README.md": "# Fees\n"})
    seen: list = []
    model = _answering(
        [
            {"path": "app/fees.py", "line": 5, "severity": "error", "rule_id": "Float Money", "message": "Float fee."},
            {"path": "app/other.py", "line": 1, "severity": "high", "rule_id": "x", "message": "Not shown."},
            {"path": "README.md", "line": 99, "severity": "bogus", "rule_id": "docs", "message": "Vague."},
        ],
        seen,
    )

    findings = LLMReviewer(model=model).review(worktree=tree, paths=["app/fees.py", "README.md"])

    assert _keyed(findings) == [
        ("llm", "docs", "medium", "README.md", None),
        ("llm", "float-money", "high", "app/fees.py", 5),
    ]
    prompt = seen[0][0].parts[-1].content
    assert "=== app/fees.py ===" in prompt
    assert "    5      return amount * 0.01" in prompt


def test_a_file_beyond_the_llm_budget_is_reported_not_skipped_silently(tmp_path):
    tree = _tree(tmp_path, {"app/big.py": "x = 1\n" * 200, "app/small.py": "y = 2\n"})
    seen: list = []

    findings = LLMReviewer(model=_answering([], seen), max_chars=100).review(
        worktree=tree, paths=["app/big.py", "app/small.py"]
    )

    assert _keyed(findings) == [("llm", "not-reviewed", "info", "app/big.py", None)]
    assert "app/big.py" not in seen[0][0].parts[-1].content


def test_the_llm_reviewer_through_a_real_provider_client(tmp_path, monkeypatch, settings):
    settings.ASPORA_MODEL = ""
    monkeypatch.setenv("ASPORA_FACTORY_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-review")
    monkeypatch.delenv("GREPTILE_API_KEY", raising=False)
    tree = _tree(tmp_path, {"app/fees.py": CALC})
    answer = {
        "findings": [{"path": "app/fees.py", "line": 4, "severity": "medium", "rule_id": "untyped", "message": "Type."}]
    }

    with OpenAIChatServer(lambda body: Reply(tool_calls=[("final_result", answer)])) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        reviewers = reviewers_configured()
        findings = reviewers[-1].review(worktree=tree, paths=["app/fees.py"])

    assert [r.name for r in reviewers] == ["ruff", "bandit", "aspora-rules", "llm"]
    assert _keyed(findings) == [("llm", "untyped", "medium", "app/fees.py", 4)]
    assert server.headers[0]["authorization"] == "Bearer sk-loopback-review"
    assert server.requests[0]["model"] == "gpt-4o-mini"
    assert reviewers[-1].usage.input_tokens == 120


def test_a_model_that_fails_is_a_reviewer_error(tmp_path, monkeypatch, settings):
    settings.ASPORA_MODEL = ""
    monkeypatch.setenv("ASPORA_FACTORY_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-review")
    tree = _tree(tmp_path, {"app/fees.py": CALC})

    with OpenAIChatServer(lambda body: Reply(status=401)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        reviewer = LLMReviewer(model=factory_model())
        with pytest.raises(ReviewerError) as caught:
            reviewer.review(worktree=tree, paths=["app/fees.py"])

    assert caught.value.reviewer == "llm"
    assert caught.value.message.startswith("the model failed to review: status_code: 401")


# --- Greptile ---

GREPTILE_KEY = "greptile-test-key-123"
GITHUB_TOKEN = "ghp-test-token"


class GreptileServer:
    """Greptile's v2 API as documented: POST /repositories, GET /repositories/{id}, POST /query.

    It answers 401 unless both auth headers are right, reports the branch as indexed at `stale`
    for the first `polls_until_indexed` status checks, then at `head`.
    """

    def __init__(self, *, head: str, stale: str = "0" * 40, polls_until_indexed: int = 1, answer: str = ""):
        self.head, self.stale, self.polls_until_indexed, self.answer = head, stale, polls_until_indexed, answer
        self.requests: list[tuple[str, str, dict | None]] = []
        self.headers: list[dict] = []
        self.status_override: tuple[int, dict] | None = None
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                server.requests.append((method, self.path, body))
                server.headers.append({key.lower(): value for key, value in self.headers.items()})
                time.sleep(server.delay)
                if (
                    self.headers.get("Authorization") != f"Bearer {GREPTILE_KEY}"
                    or self.headers.get("X-GitHub-Token") != GITHUB_TOKEN
                ):
                    self._reply(401, {"error": "Unauthorized", "message": "Invalid API key"})
                    return
                if server.status_override:
                    status, headers = server.status_override
                    self._reply(status, {"error": "Too many requests"}, headers)
                    return
                if method == "POST" and self.path == "/v2/repositories":
                    repo_id = f"{body['remote']}:{body['branch']}:{body['repository']}"
                    self._reply(200, {"message": "started repo processing", "statusEndpoint": f"/v2/{repo_id}"})
                elif method == "GET" and self.path.startswith("/v2/repositories/"):
                    remote, branch, repository = unquote(self.path.removeprefix("/v2/repositories/")).split(":")
                    polls = sum(1 for m, p, _ in server.requests if m == "GET")
                    indexed = polls > server.polls_until_indexed
                    self._reply(
                        200,
                        {
                            "repository": repository,
                            "remote": remote,
                            "branch": branch,
                            "private": True,
                            "status": "completed" if indexed else "processing",
                            "filesProcessed": 3,
                            "numFiles": 3,
                            "sha": server.head if indexed else server.stale,
                        },
                    )
                elif method == "POST" and self.path == "/v2/query":
                    self._reply(200, {"message": server.answer, "sources": []})
                else:
                    self._reply(404, {"error": "Not found"})

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v2"

    def __enter__(self) -> "GreptileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def repo(tmp_path) -> tuple[Path, str]:
    tree = _tree(tmp_path / "wealth", {"app/fees.py": CALC, "app/run.py": SHELL})
    _git(tree, "init", "-q", "-b", "factory/run-1")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "-m", "generated")
    return tree, _git(tree, "rev-parse", "HEAD")


def _greptile(server: GreptileServer, **kwargs) -> GreptileReviewer:
    options = {
        "api_key": GREPTILE_KEY,
        "github_token": GITHUB_TOKEN,
        "repository": "acme/wealth",
        "base_url": server.base_url,
        "poll_seconds": 0.01,
        "index_wait": 5,
        "timeout": 5,
    }
    return GreptileReviewer(**{**options, **kwargs})


FENCED_ANSWER = """Here is my review.
```json
{"findings": [
  {"path": "app/fees.py", "line": 5, "severity": "high", "rule_id": "float-money", "message": "A fee as a float."},
  {"path": "app/run.py", "line": 5, "severity": "warning", "rule_id": "shell", "message": "shell=True."}
]}
```"""


def test_greptile_indexes_the_branch_waits_for_the_head_commit_and_maps_its_review(repo):
    tree, head = repo

    with GreptileServer(head=head, polls_until_indexed=2, answer=FENCED_ANSWER) as server:
        findings = _greptile(server).review(worktree=tree, paths=["app/fees.py", "app/run.py"])

    assert _keyed(findings) == [
        ("greptile", "float-money", "high", "app/fees.py", 5),
        ("greptile", "shell", "medium", "app/run.py", 5),
    ]
    methods = [(method, path) for method, path, _ in server.requests]
    repo_id = "github%3Afactory%2Frun-1%3Aacme%2Fwealth"
    assert methods == [
        ("POST", "/v2/repositories"),
        ("GET", f"/v2/repositories/{repo_id}"),
        ("GET", f"/v2/repositories/{repo_id}"),
        ("GET", f"/v2/repositories/{repo_id}"),
        ("POST", "/v2/query"),
    ]
    assert server.requests[0][2] == {
        "remote": "github",
        "repository": "acme/wealth",
        "branch": "factory/run-1",
        "reload": True,
        "notify": False,
    }
    query = server.requests[-1][2]
    assert query["repositories"] == [{"remote": "github", "repository": "acme/wealth", "branch": "factory/run-1"}]
    assert query["messages"][0]["role"] == "user"
    assert "- app/fees.py\n- app/run.py" in query["messages"][0]["content"]
    assert {h["authorization"] for h in server.headers} == {f"Bearer {GREPTILE_KEY}"}
    assert {h["x-github-token"] for h in server.headers} == {GITHUB_TOKEN}


def test_greptile_with_no_findings_is_a_clean_review(repo):
    tree, head = repo

    with GreptileServer(head=head, answer='{"findings": []}') as server:
        assert _greptile(server).review(worktree=tree, paths=["app/fees.py"]) == []


def test_greptile_refusing_the_key_is_a_reviewer_error(repo):
    tree, head = repo

    with GreptileServer(head=head, answer='{"findings": []}') as server, pytest.raises(ReviewerError) as caught:
        _greptile(server, api_key="wrong-key").review(worktree=tree, paths=["app/fees.py"])

    assert caught.value.message == ("Greptile: the API key or the Git token was refused (401); check GREPTILE_API_KEY")
    assert "wrong-key" not in caught.value.message
    assert len(server.requests) == 1


def test_greptile_rate_limiting_is_a_reviewer_error_with_the_wait(repo):
    tree, head = repo

    with GreptileServer(head=head, answer='{"findings": []}') as server:
        server.status_override = (429, {"Retry-After": "30"})
        with pytest.raises(ReviewerError) as caught:
            _greptile(server).review(worktree=tree, paths=["app/fees.py"])

    assert caught.value.message == "Greptile: rate limited (429); retry after 30 s"


def test_greptile_not_answering_in_time_is_a_reviewer_error(repo):
    tree, head = repo

    with GreptileServer(head=head, answer='{"findings": []}') as server:
        server.delay = 1.0
        with pytest.raises(ReviewerError) as caught:
            _greptile(server, timeout=0.2).review(worktree=tree, paths=["app/fees.py"])

    assert caught.value.message == "Greptile: no answer to POST /repositories within 0.2 s"


def test_greptile_reviewing_another_commit_than_the_head_is_an_error(repo):
    tree, head = repo

    stuck = GreptileServer(head=head, polls_until_indexed=10_000, answer='{"findings": []}')
    with stuck as server, pytest.raises(ReviewerError) as caught:
        _greptile(server, index_wait=0.1).review(worktree=tree, paths=["app/fees.py"])

    assert caught.value.message == (
        "Greptile: after 0.1 s acme/wealth@factory/run-1 is indexed at 000000000000 (processing), "
        f"but the worktree is at {head[:12]}; push the run's branch so Greptile reviews the commit the gate judges"
    )
    assert not any(path == "/v2/query" for _, path, _ in server.requests)


def test_a_greptile_answer_without_findings_json_is_an_error_not_a_pass(repo):
    tree, head = repo

    with GreptileServer(head=head, answer="Looks good to me!") as server, pytest.raises(ReviewerError) as caught:
        _greptile(server).review(worktree=tree, paths=["app/fees.py"])

    assert caught.value.message == "Greptile: the answer was not the JSON findings asked for: Looks good to me!"


def test_greptile_joins_the_reviewers_when_its_key_is_set(monkeypatch, settings, repo):
    settings.ASPORA_MODEL = ""
    monkeypatch.delenv("ASPORA_FACTORY_MODEL", raising=False)
    monkeypatch.setenv("GREPTILE_API_KEY", GREPTILE_KEY)
    monkeypatch.setenv("GREPTILE_GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("GREPTILE_REPOSITORY", "acme/wealth")
    monkeypatch.setenv("GREPTILE_POLL_SECONDS", "0.01")
    tree, head = repo

    with GreptileServer(head=head, answer=FENCED_ANSWER) as server:
        monkeypatch.setenv("GREPTILE_BASE_URL", server.base_url)
        reviewers = reviewers_configured()
        findings = reviewers[-1].review(worktree=tree, paths=["app/fees.py"])

    assert [r.name for r in reviewers] == ["ruff", "bandit", "aspora-rules", "greptile"]
    assert _keyed(findings) == [("greptile", "float-money", "high", "app/fees.py", 5)]


def test_reviewed_exceptions_are_marked_on_their_line(tmp_path):
    source = (
        'BENCH_SECRET = "benchbench00benchbench"  # noqa: S105 - a fixture, not a credential\n'
        'SIGNING_SECRET = "benchbench00benchbench"  # noqa: E501\n'
        "def show(amount: float) -> str:  # aspora: allow aspora-float-money - display only\n"
        '    return f"{amount:.2f}"\n'
        "def charge(price: float) -> None:  # aspora: allow aspora-secret-literal\n"
        "    pass\n"
    )
    tree = _tree(tmp_path, {"app/bench.py": source})

    findings = ProjectRulesReviewer().review(worktree=tree, paths=["app/bench.py"])

    assert _keyed(findings) == [
        ("aspora-rules", "aspora-secret-literal", "high", "app/bench.py", 2),
        ("aspora-rules", "aspora-float-money", "medium", "app/bench.py", 5),
    ]


def test_a_mark_safe_reviewed_for_ruff_is_reviewed_for_bandit_too(tmp_path):
    source = (
        "from django.utils.safestring import mark_safe\n\n\n"
        "def cell(html):\n"
        "    return mark_safe(html)  # noqa: S308 - sanitised upstream\n\n\n"
        "def raw(html):\n"
        "    return mark_safe(html)\n"
    )
    tree = _tree(tmp_path, {"app/cells.py": source})

    findings = BanditReviewer().review(worktree=tree, paths=["app/cells.py"])

    assert _keyed(findings) == [
        ("bandit", "B308", "medium", "app/cells.py", 9),
        ("bandit", "B703", "medium", "app/cells.py", 9),
    ]
