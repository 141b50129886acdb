"""Remediation on real worktrees: ruff's fixes offline, a bounded model rewrite when one is configured,
and a re-review that says what was fixed and what is left. It never commits."""

import subprocess
from pathlib import Path

import pytest
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from factory.models import Finding
from factory.remediation import RemediationError, remediate
from factory.reviewers import ReviewFinding, review, static_reviewers

MESSY = """\
import os
import subprocess
from pydantic_ai import RunContext


def run(cmd):
    return subprocess.call(cmd, shell=True)


def lookup(ctx: RunContext, user_id: int):
    return {'user':user_id}
"""

TIDY = """\
import subprocess
from pydantic_ai import RunContext


def run(cmd):
    return subprocess.call(cmd, shell=True)


def lookup(ctx: RunContext, user_id: int):
    return {"user": user_id}
"""

TOOL = """\
from pydantic_ai import RunContext


def lookup(ctx: RunContext, user_id: int) -> dict:
    return {"user": user_id}
"""

TOOL_FIXED = """\
from pydantic_ai import RunContext


def lookup(ctx: RunContext) -> dict:
    return {"user": ctx.deps.context.user_id}
"""


def _tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def _keyed(findings) -> list[tuple]:
    return [(f.reviewer, f.rule_id, f.path, f.line) for f in findings]


def _review(tree: Path, paths: list[str]) -> list[ReviewFinding]:
    return review(worktree=tree, paths=paths, reviewers=static_reviewers())


def _rewriting(contents: dict[str, str], calls: list):
    """A model that rewrites each file it is asked about to `contents[path]`."""

    def model(messages, info: AgentInfo) -> ModelResponse:
        prompt = messages[-1].parts[-1].content
        path = prompt.splitlines()[0].removeprefix("File: ")
        calls.append(path)
        rewrite = {"content": contents[path], "fixed": ["aspora-tool-identity-arg"]}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, rewrite)])

    return FunctionModel(model)


def test_offline_remediation_applies_ruffs_fixes_and_says_what_is_left(tmp_path):
    tree = _tree(tmp_path, {"app/ops.py": MESSY})
    findings = _review(tree, ["app/ops.py"])
    assert _keyed(findings) == [
        ("ruff", "F401", "app/ops.py", 1),
        ("bandit", "B404", "app/ops.py", 2),
        ("bandit", "B602", "app/ops.py", 7),
        ("aspora-rules", "aspora-tool-identity-arg", "app/ops.py", 10),
    ]

    result = remediate(worktree=tree, findings=findings, model=None)

    assert (tree / "app/ops.py").read_text() == TIDY
    assert result.changed_paths == ["app/ops.py"]
    assert _keyed(result.fixed) == [("ruff", "F401", "app/ops.py", 1)]
    assert _keyed(result.remaining) == [
        ("bandit", "B404", "app/ops.py", 1),
        ("bandit", "B602", "app/ops.py", 6),
        ("aspora-rules", "aspora-tool-identity-arg", "app/ops.py", 9),
    ]
    assert result.log == ["ruff: fixed and formatted 1 file(s)"]
    assert result.tokens == 0


def test_remediation_touches_only_the_files_the_findings_name(tmp_path):
    tree = _tree(tmp_path, {"app/ops.py": "import os\nx = 1\n", "app/other.py": "import os\nx = {'a':1}\n"})
    findings = _review(tree, ["app/ops.py"])

    result = remediate(worktree=tree, findings=findings, model=None)

    assert result.changed_paths == ["app/ops.py"]
    assert (tree / "app/ops.py").read_text() == "x = 1\n"
    assert (tree / "app/other.py").read_text() == "import os\nx = {'a':1}\n"


def test_the_pipelines_finding_rows_are_accepted_as_they_are(tmp_path):
    tree = _tree(tmp_path, {"app/ops.py": "import os\nx = 1\n"})
    row = Finding(
        reviewer="ruff",
        rule_id="F401",
        severity="low",
        path="app/ops.py",
        line=1,
        message="`os` imported but unused (ruff can fix this)",
        sha="a" * 40,
    )

    result = remediate(worktree=tree, findings=[row], model=None)

    assert _keyed(result.fixed) == [("ruff", "F401", "app/ops.py", 1)]
    assert result.remaining == []


def test_nothing_fixable_changes_nothing(tmp_path):
    source = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
    tree = _tree(tmp_path, {"app/run.py": source})
    findings = _review(tree, ["app/run.py"])

    result = remediate(worktree=tree, findings=findings, model=None)

    assert (result.changed_paths, result.fixed) == ([], [])
    assert [f.rule_id for f in result.remaining] == ["B404", "B602"]
    assert (tree / "app/run.py").read_text() == source


def test_a_finding_outside_the_worktree_is_refused(tmp_path):
    tree = _tree(tmp_path / "wt", {"app.py": "x = 1\n"})
    _tree(tmp_path, {"elsewhere.py": "import os\n"})
    outside = ReviewFinding(reviewer="ruff", rule_id="F401", severity="low", path="../elsewhere.py", line=1, message="")

    with pytest.raises(RemediationError) as caught:
        remediate(worktree=tree, findings=[outside], model=None)

    assert caught.value.message == f"'../elsewhere.py' is outside the worktree {tree}"
    assert (tmp_path / "elsewhere.py").read_text() == "import os\n"


def test_remediation_never_commits(tmp_path):
    tree = _tree(tmp_path, {"app/ops.py": "import os\nx = 1\n"})
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "generated"]):
        subprocess.run(["git", *args], cwd=tree, check=True, env=env)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True).stdout

    remediate(worktree=tree, findings=_review(tree, ["app/ops.py"]), model=None)

    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True).stdout == head
    status = subprocess.run(["git", "status", "--porcelain"], cwd=tree, capture_output=True, text=True).stdout
    assert status == " M app/ops.py\n"


def test_offline_no_model_is_asked(tmp_path, monkeypatch, settings):
    settings.ASPORA_MODEL = ""
    monkeypatch.delenv("ASPORA_FACTORY_MODEL", raising=False)
    tree = _tree(tmp_path, {"app/tool.py": TOOL})

    result = remediate(worktree=tree, findings=_review(tree, ["app/tool.py"]))

    assert result.log == ["ruff: fixed and formatted 1 file(s)"]
    assert [f.rule_id for f in result.remaining] == ["aspora-tool-identity-arg"]


def test_a_configured_model_fixes_what_ruff_cannot_and_the_re_review_confirms_it(tmp_path):
    tree = _tree(tmp_path, {"app/tool.py": TOOL})
    findings = _review(tree, ["app/tool.py"])
    calls: list = []

    result = remediate(worktree=tree, findings=findings, model=_rewriting({"app/tool.py": TOOL_FIXED}, calls))

    assert calls == ["app/tool.py"]
    assert (tree / "app/tool.py").read_text() == TOOL_FIXED
    assert _keyed(result.fixed) == [("aspora-rules", "aspora-tool-identity-arg", "app/tool.py", 4)]
    assert result.remaining == []
    assert result.changed_paths == ["app/tool.py"]
    assert result.log == [
        "ruff: fixed and formatted 1 file(s)",
        "llm: rewrote app/tool.py for aspora-tool-identity-arg",
    ]
    assert result.tokens > 0


def test_a_model_rewrite_that_does_not_parse_is_thrown_away(tmp_path):
    tree = _tree(tmp_path, {"app/tool.py": TOOL})
    calls: list = []

    result = remediate(
        worktree=tree,
        findings=_review(tree, ["app/tool.py"]),
        model=_rewriting({"app/tool.py": "def lookup(ctx:\n"}, calls),
    )

    assert (tree / "app/tool.py").read_text() == TOOL
    assert result.changed_paths == []
    assert result.log[-1] == "llm: its rewrite of app/tool.py does not parse (line 1); kept the original"
    assert [f.rule_id for f in result.remaining] == ["aspora-tool-identity-arg"]


def test_the_model_is_bounded_in_files_a_round(tmp_path):
    tree = _tree(tmp_path, {"app/a.py": TOOL, "app/b.py": TOOL})
    calls: list = []

    result = remediate(
        worktree=tree,
        findings=_review(tree, ["app/a.py", "app/b.py"]),
        model=_rewriting({"app/a.py": TOOL_FIXED, "app/b.py": TOOL_FIXED}, calls),
        max_files=1,
    )

    assert calls == ["app/a.py"]
    assert "llm: app/b.py left as is (at most 1 files a round)" in result.log
    assert _keyed(result.remaining) == [("aspora-rules", "aspora-tool-identity-arg", "app/b.py", 4)]
    assert result.changed_paths == ["app/a.py"]


def test_llm_and_greptile_findings_stay_until_the_next_review(tmp_path):
    tree = _tree(tmp_path, {"app/fees.py": "def fee(amount):\n    return amount * 0.01\n"})
    opinion = ReviewFinding(
        reviewer="greptile", rule_id="float-money", severity="high", path="app/fees.py", line=2, message="Float fee."
    )

    result = remediate(worktree=tree, findings=[opinion], model=None)

    assert result.fixed == []
    assert result.remaining == [opinion]
    assert result.log[-1] == "1 finding(s) of the LLM or Greptile reviewers are checked on the next review"
