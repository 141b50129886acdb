"""Offline static review: ruff and bandit on the changed Python files of a worktree.

Ruff runs with the worktree's own configuration when it has one (`ruff.toml`, `.ruff.toml`, or a
`[tool.ruff]` table in `pyproject.toml`), and otherwise isolated with ruff's defaults plus
bugbear. It never picks up a configuration from a folder above the worktree: the factory's
worktrees live inside Aspora's tree, whose settings exclude them. Ruff's `S` (flake8-bandit) rules
are left to bandit, so one problem is one finding.

Severity mapping (also in docs/factory-policy.md):

ruff: syntax errors and names that fail at run time (F821-F823, F63x, F7xx) → high; bugbear,
Django and blind-except rules (B, DJ, BLE) → medium; other pyflakes rules and E4/E7/E9 → low;
pure style (formatting, imports order, upgrades, simplifications) → info.
bandit: its severity as is (HIGH → high, MEDIUM → medium, LOW → low), one step lower when its
confidence is LOW; "consider the security implications of importing X" notices (B401-B415) → info.
In test code bandit's asserts, fake passwords, temp paths, pseudo-random and subprocess notices
are dropped. A ruff-style `# noqa: S603` on the line silences bandit's B603 too (B703's twin is S308).
"""

import json
import re
import tomllib
from pathlib import Path

from factory.models import Severity
from factory.reviewers.base import (
    ReviewerError,
    ReviewFinding,
    findings_sorted,
    is_test_path,
    reviewable,
    run_tool,
    severity_lower,
)

RUFF_DEFAULT_SELECT = "E4,E7,E9,F,B"
RUFF_HIGH = {"F821", "F822", "F823"}
RUFF_STYLE_PREFIXES = ("E1", "E2", "E3", "E5", "W", "I", "UP", "SIM", "C4", "Q", "COM", "RUF", "N", "D", "PT", "RET")
RUFF_MEDIUM_PREFIXES = ("B", "DJ", "BLE")

BANDIT_TEST_NOISE = {"B101", "B105", "B106", "B107", "B108", "B311", "B404", "B603", "B607"}
BANDIT_LEVELS = {"HIGH": Severity.HIGH, "MEDIUM": Severity.MEDIUM, "LOW": Severity.LOW}
NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)


def ruff_config(worktree: Path) -> list[str]:
    """The worktree's own ruff configuration, or an isolated default; never a parent folder's."""
    for name in ("ruff.toml", ".ruff.toml"):
        if (worktree / name).is_file():
            return ["--config", str(worktree / name)]
    pyproject = worktree / "pyproject.toml"
    if pyproject.is_file():
        try:
            if "ruff" in tomllib.loads(pyproject.read_text()).get("tool", {}):
                return ["--config", str(pyproject)]
        except tomllib.TOMLDecodeError:
            pass  # ruff reports a broken pyproject itself; review with the defaults
    return ["--isolated", "--select", RUFF_DEFAULT_SELECT]


def ruff_severity(code: str | None) -> str:
    if not code or not re.fullmatch(r"[A-Z]+[0-9]+", code):
        return Severity.HIGH  # a syntax error: ruff names it `invalid-syntax`, not a rule code
    if code in RUFF_HIGH or code.startswith(("F63", "F7", "E9")):
        return Severity.HIGH
    if code.startswith(RUFF_MEDIUM_PREFIXES):
        return Severity.MEDIUM
    if code.startswith(("F", "E4", "E7")):
        return Severity.LOW
    return Severity.INFO if code.startswith(RUFF_STYLE_PREFIXES) else Severity.LOW


def ruff_diagnostics(worktree: Path, paths: list[str], *, reviewer: str = "ruff") -> list[dict]:
    """Ruff's JSON diagnostics for `paths`, with the rule and fix fields ruff gives."""
    if not paths:
        return []
    # --no-cache keeps ruff from writing into the worktree.
    args = ["ruff", "check", "--output-format", "json", "--no-cache", "--exit-zero", *ruff_config(worktree)]
    result = run_tool([*args, "--", *paths], cwd=worktree, reviewer=reviewer)
    try:
        diagnostics = json.loads(result.stdout or "[]")
    except json.JSONDecodeError as exc:
        detail = (result.stderr or result.stdout).strip()[:500]
        raise ReviewerError(f"ruff failed: {detail}", reviewer=reviewer) from exc
    # `S` is bandit's job. Filtered here rather than ignored on the command line, where ruff would
    # call every noqa comment for an S rule unused (RUF100).
    return [d for d in diagnostics if not re.fullmatch(r"S\d+", d.get("code") or "")]


class RuffReviewer:
    name = "ruff"

    def review(self, *, worktree: Path, paths: list[str]) -> list[ReviewFinding]:
        root = worktree.resolve()
        findings = []
        for item in ruff_diagnostics(root, reviewable(root, paths, reviewer=self.name), reviewer=self.name):
            code = item.get("code")
            fixable = " (ruff can fix this)" if item.get("fix") and item["fix"].get("applicability") == "safe" else ""
            findings.append(
                ReviewFinding(
                    reviewer=self.name,
                    rule_id=code or "invalid-syntax",
                    severity=ruff_severity(code),
                    path=Path(item["filename"]).resolve().relative_to(root).as_posix(),
                    line=item["location"]["row"],
                    message=item["message"] + fixable,
                )
            )
        return findings_sorted(findings)


# Bandit checks whose ruff twin has another number.
RUFF_TWINS = {"B703": "S308"}


def _noqa_silences(source_lines: list[str], line_range: list[int], test_id: str) -> bool:
    wanted = RUFF_TWINS.get(test_id, "S" + test_id[1:])
    for number in line_range:
        if 0 < number <= len(source_lines):
            match = NOQA.search(source_lines[number - 1])
            if match and (not match["codes"] or wanted in re.split(r"[\s,]+", match["codes"].upper())):
                return True
    return False


class BanditReviewer:
    name = "bandit"

    def review(self, *, worktree: Path, paths: list[str]) -> list[ReviewFinding]:
        root = worktree.resolve()
        files = reviewable(root, paths, reviewer=self.name)
        if not files:
            return []
        args = ["bandit", "--format", "json", "--quiet"]
        pyproject = root / "pyproject.toml"
        if pyproject.is_file() and "[tool.bandit" in pyproject.read_text():
            args += ["--configfile", str(pyproject)]
        result = run_tool([*args, "--", *files], cwd=root, reviewer=self.name)
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            detail = (result.stderr or result.stdout).strip()[:500]
            raise ReviewerError(f"bandit failed (exit {result.returncode}): {detail}", reviewer=self.name) from exc
        if report.get("errors"):
            problems = "; ".join(f"{e.get('filename')}: {e.get('reason')}" for e in report["errors"])
            raise ReviewerError(f"bandit could not read every file: {problems}", reviewer=self.name)
        findings, sources = [], {}
        for item in report.get("results", []):
            path = (root / item["filename"]).resolve().relative_to(root).as_posix()
            test_id = item["test_id"]
            if is_test_path(path) and test_id in BANDIT_TEST_NOISE:
                continue
            if path not in sources:
                sources[path] = (root / path).read_text(errors="replace").splitlines()
            if _noqa_silences(sources[path], item.get("line_range") or [item["line_number"]], test_id):
                continue
            findings.append(
                ReviewFinding(
                    reviewer=self.name,
                    rule_id=test_id,
                    severity=bandit_severity(test_id, item["issue_severity"], item["issue_confidence"]),
                    path=path,
                    line=item["line_number"],
                    message=f"{item['issue_text']} ({item['test_name']}, "
                    f"confidence {item['issue_confidence'].lower()})",
                )
            )
        return findings_sorted(findings)


def bandit_severity(test_id: str, severity: str, confidence: str) -> str:
    if re.fullmatch(r"B4(0[1-9]|1[0-5])", test_id):
        return Severity.INFO
    level = BANDIT_LEVELS.get(severity.upper(), Severity.MEDIUM)
    return severity_lower(level) if confidence.upper() == "LOW" else level
