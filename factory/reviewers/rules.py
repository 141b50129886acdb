"""Aspora's own rules, as AST checks that need nothing but the source.

- `aspora-tool-identity-arg` (high): a tool takes who is asking (user, team, tenant or their ids)
  as an argument. Arguments are chosen by the model, so any prompt could name someone else; a
  tool reads the asker from `ctx.deps.context`, which the executor injects (docs/executor.md).
- `aspora-secret-literal` (high): a string that looks like a credential is assigned to a name such
  as `*_KEY`, `*_TOKEN`, `*_SECRET` or `password`, or passed as such a keyword. Secrets come from
  the environment.
- `aspora-float-money` (medium): a money-named value (amount, price, balance, cost, fee, pnl, …)
  is declared or converted as a float; sums and rounding of money must be exact (Decimal, or
  integer minor units).

Test code is exempt from the secret rule (fake tokens are the point there). A reviewed exception
is marked on its line: `# aspora: allow aspora-float-money - why`; the secret rule also honours the
ruff/bandit marks for hard-coded passwords (`# noqa: S105`, `S106`, `S107`, `# nosec`). A file that
does not parse is left to ruff, which reports the syntax error.
"""

import ast
import re
from pathlib import Path

from factory.models import Severity
from factory.reviewers.base import ReviewFinding, findings_sorted, is_test_path, reviewable

IDENTITY_ARGS = {"user", "user_id", "username", "team", "team_id", "tenant", "tenant_id"}
TOOL_DECORATORS = {"tool", "tool_plain"}
SECRET_NAME = re.compile(r"(?:^|_)(?:api_?key|key|token|secret|password|passwd|pwd|private_key)$", re.IGNORECASE)
ALLOW = re.compile(r"#.*\baspora:\s*allow\s+(?P<rules>[a-z0-9-]+(?:[\s,]+[a-z0-9-]+)*)")
SECRET_MARKS = re.compile(r"#.*(?:\bnosec\b|\bnoqa(?::[^#]*\bS10[567]\b|\s*$|\s+-))")
SECRET_PREFIXES = ("sk-", "sk_", "xox", "ghp_", "gho_", "github_pat_", "AKIA", "AIza", "-----BEGIN", "glpat-")
MONEY_WORDS = {
    "amount",
    "price",
    "balance",
    "cost",
    "fee",
    "fees",
    "pnl",
    "profit",
    "loss",
    "payout",
    "salary",
    "money",
    "notional",
    "principal",
    "usd",
    "inr",
    "aed",
    "eur",
}


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _annotation_text(node: ast.expr | None) -> str:
    return ast.unparse(node) if node is not None else ""


def _is_tool(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if any(_decorator_name(d) in TOOL_DECORATORS for d in func.decorator_list):
        return True
    params = [*func.args.posonlyargs, *func.args.args]
    return bool(params) and "RunContext" in _annotation_text(params[0].annotation)


def _looks_secret(value: str) -> bool:
    if value.startswith(SECRET_PREFIXES):
        return True
    if len(value) < 8 or any(c.isspace() for c in value):
        return False
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", value):
        return False  # the name of an environment variable, not its value
    return bool(re.search(r"[A-Za-z]", value) and re.search(r"\d", value))


def _target_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _is_moneyish(name: str) -> bool:
    return bool(set(name.lower().split("_")) & MONEY_WORDS)


def _is_float(annotation: ast.expr | None) -> bool:
    return annotation is not None and re.search(r"\bfloat\b", _annotation_text(annotation)) is not None


def _is_float_call(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float"


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: str):
        self.path = path
        self.test_code = is_test_path(path)
        self.found: list[tuple[str, str, int, str]] = []

    def _add(self, rule: str, severity: str, line: int, message: str) -> None:
        self.found.append((rule, severity, line, message))

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        if _is_tool(node):
            for arg in args:
                if arg.arg in IDENTITY_ARGS:
                    self._add(
                        "aspora-tool-identity-arg",
                        Severity.HIGH,
                        arg.lineno,
                        f"Tool `{node.name}` takes `{arg.arg}` as an argument, which the model chooses; "
                        "read who is asking from `ctx.deps.context` instead.",
                    )
        for arg in args:
            if _is_moneyish(arg.arg) and _is_float(arg.annotation):
                self._money(arg.arg, arg.lineno)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _money(self, name: str, line: int) -> None:
        self._add(
            "aspora-float-money",
            Severity.MEDIUM,
            line,
            f"`{name}` holds money as a float; use Decimal (or integer minor units) so sums and rounding stay exact.",
        )

    def _secret(self, name: str, value: ast.expr | None, line: int) -> None:
        if self.test_code or not name or not SECRET_NAME.search(name):
            return
        if isinstance(value, ast.Constant) and isinstance(value.value, str) and _looks_secret(value.value):
            self._add(
                "aspora-secret-literal",
                Severity.HIGH,
                line,
                f"`{name}` is set to a literal that looks like a credential; read it from the environment.",
            )

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            name = _target_name(target)
            self._secret(name, node.value, node.lineno)
            if _is_moneyish(name) and _is_float_call(node.value):
                self._money(name, node.lineno)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        name = _target_name(node.target)
        self._secret(name, node.value, node.lineno)
        if _is_moneyish(name) and (_is_float(node.annotation) or _is_float_call(node.value)):
            self._money(name, node.lineno)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        for keyword in node.keywords:
            if keyword.arg:
                self._secret(keyword.arg, keyword.value, keyword.value.lineno)
        self.generic_visit(node)


def _allowed(lines: list[str], line: int, rule: str) -> bool:
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    marked = ALLOW.search(text)
    if marked and rule in re.split(r"[\s,]+", marked["rules"]):
        return True
    return rule == "aspora-secret-literal" and SECRET_MARKS.search(text) is not None


def rules_check(*, source: str, path: str, reviewer: str = "aspora-rules") -> list[ReviewFinding]:
    """The project rules' findings in one file's source (empty when it does not parse)."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError:
        return []
    visitor = _Visitor(path)
    visitor.visit(tree)
    lines = source.splitlines()
    return [
        ReviewFinding(reviewer=reviewer, rule_id=rule, severity=severity, path=path, line=line, message=message)
        for rule, severity, line, message in visitor.found
        if not _allowed(lines, line, rule)
    ]


class ProjectRulesReviewer:
    name = "aspora-rules"

    def review(self, *, worktree: Path, paths: list[str]) -> list[ReviewFinding]:
        root = worktree.resolve()
        findings = []
        for path in reviewable(root, paths, reviewer=self.name):
            findings += rules_check(source=(root / path).read_text(errors="replace"), path=path, reviewer=self.name)
        return findings_sorted(findings)
