"""The risk policy: which tier a change lands in, and why (docs/factory-policy.md).

A policy is `.aspora/risk-policy.json` in a target repo, or the RiskTier/RiskRule rows in the
database. Both go through the same pydantic schema, so a policy the admin exports re-imports to
the same rows. Deciding a tier is pure: `risk_tier_for` reads only the policy it is given and
explains itself (the rule, its reason and the paths that put the change in its tier).

Tier order is fixed (low < medium < high < critical); a policy can tune what each tier requires
but cannot add tiers or reorder them. The database has no field for the default tier, so it is
kept as a reserved rule, `default-tier`, with no paths and no kinds.
"""

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

from django.db import transaction
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aspora.errors import ApplicationError
from factory.models import SEVERITY_RANK, Kind, RiskRule, RiskTier

TIER_RANKS = {"low": 10, "medium": 20, "high": 30, "critical": 40}
DEFAULT_TIER_RULE_ID = "default-tier"
DEFAULT_TIER_REASON = "No rule matched: the policy's default tier applies."
POLICY_PATH = ".aspora/risk-policy.json"


class RiskPolicyError(ApplicationError, ValueError):
    """A policy that cannot be used; the message names the file and the field path."""


# --- globs ------------------------------------------------------------------------------------


def glob_problem(pattern: str) -> str | None:
    """Why `pattern` is not a usable path glob, or None when it is."""
    if not pattern or not pattern.strip():
        return "is empty"
    if pattern != pattern.strip():
        return "has leading or trailing spaces"
    if "\\" in pattern:
        return "uses a backslash; write paths with forward slashes"
    if pattern.startswith("/"):
        return "is absolute; paths are relative to the repository root"
    if pattern.endswith("/"):
        return f"ends with '/'; write '{pattern}**' to match everything under it"
    segments = pattern.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return "has an empty, '.' or '..' segment"
    for segment in segments:
        if "**" in segment and segment != "**":
            return f"uses '**' inside the segment '{segment}'; '**' must be a whole segment, as in 'app/**/x.py'"
        try:
            _segment_regex(segment)
        except ValueError as exc:
            return str(exc)
    return None


def _segment_regex(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = segment.find("]", i + 2 if segment[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end == -1:
                raise ValueError(f"has an unclosed '[' in '{segment}'")
            body = segment[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            elif body.startswith("^"):
                body = "\\" + body  # a literal caret, as fnmatch reads it
            out.append("[" + body.replace("\\", "\\\\").replace("/", "") + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


@lru_cache(maxsize=1024)
def _glob_compile(pattern: str) -> re.Pattern:
    parts = pattern.split("/")
    regex = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            # A whole-segment `**` spans zero or more directories; at the end, everything below.
            regex += ".+" if last else "(?:[^/]+/)*"
        else:
            regex += _segment_regex(part) + ("" if last else "/")
    return re.compile(regex)


def glob_match(pattern: str, path: str) -> bool:
    """Does the repo-relative posix `path` match `pattern` as a whole?

    `*` and `?` stay inside one path segment, `[abc]`/`[!abc]` are character classes and a
    `**` segment matches any number of directories (including none), as `PurePosixPath.full_match`
    does on Python 3.13.
    """
    return _glob_compile(pattern).fullmatch(path) is not None


# --- the schema -------------------------------------------------------------------------------


def _tier_name(value: str) -> str:
    if value not in TIER_RANKS:
        raise ValueError(f"unknown tier {value!r}; expected one of {', '.join(TIER_RANKS)}")
    return value


def _severity(value: str) -> str:
    if value not in SEVERITY_RANK:
        raise ValueError(f"unknown severity {value!r}; expected one of {', '.join(SEVERITY_RANK)}")
    return value


def _glob(value: str) -> str:
    problem = glob_problem(value)
    if problem:
        raise ValueError(f"{value!r} {problem}")
    return value


def _kind(value: str) -> str:
    if value not in Kind.values:
        raise ValueError(f"unknown kind {value!r}; expected one of {', '.join(Kind.values)}")
    return value


TierName = Annotated[str, AfterValidator(_tier_name)]
Glob = Annotated[str, AfterValidator(_glob)]
KindName = Annotated[str, AfterValidator(_kind)]
SeverityName = Annotated[str, AfterValidator(_severity)]


class TierSettings(BaseModel):
    """What one tier requires; a field left out keeps the tier's current value."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    description: str | None = None
    requires_tests: bool | None = None
    requires_evals: bool | None = None
    blocking_severity: SeverityName | None = None
    required_approvals: int | None = Field(default=None, ge=0, le=20)
    requester_may_approve: bool | None = None
    auto_deploy: bool | None = None

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PolicyRule(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    paths: list[Glob] = []
    kinds: list[KindName] = []
    tier: TierName
    reason: str = Field(min_length=1, max_length=300)
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == DEFAULT_TIER_RULE_ID:
            raise ValueError(f"'{DEFAULT_TIER_RULE_ID}' is reserved; set the policy's default_tier instead")
        return value

    @model_validator(mode="after")
    def _matches_something(self) -> "PolicyRule":
        if not self.paths and not self.kinds:
            raise ValueError("a rule needs paths, kinds or both; this one would match nothing")
        return self


class RiskPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: int
    default_tier: TierName = "medium"
    tiers: dict[TierName, TierSettings] = {}
    rules: list[PolicyRule] = []

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"unsupported version {value}; this Aspora reads version 1")
        return value

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, value: list[PolicyRule]) -> list[PolicyRule]:
        seen: set[str] = set()
        for index, rule in enumerate(value):
            if rule.id in seen:
                raise ValueError(f"[{index}] repeats the rule id {rule.id!r}")
            seen.add(rule.id)
        return value


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue  # pydantic's marker for a bad dict key; the key itself is already in the path
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "is required"
        problems.append(f"{_loc(error['loc'])}: {message}")
    return problems


def risk_policy_parse(text: str, *, source: str = POLICY_PATH) -> RiskPolicy:
    """Read a policy; any problem raises RiskPolicyError naming `source` and each field path."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RiskPolicyError(f"{source}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise RiskPolicyError(f"{source}: the policy must be a JSON object, not {type(data).__name__}")
    try:
        return RiskPolicy.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
        raise RiskPolicyError(f"{source}: " + "; ".join(problems), extra={"problems": problems}) from exc


def risk_policy_to_json(policy: RiskPolicy) -> str:
    """The policy as the JSON file a repo carries: stable key order, one rule per block."""
    data: dict[str, Any] = {"version": policy.version, "default_tier": policy.default_tier}
    data["tiers"] = {name: policy.tiers[name].given() for name in sorted(policy.tiers, key=TIER_RANKS.__getitem__)}
    data["rules"] = [rule.model_dump(exclude_defaults=False) for rule in policy.rules]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def risk_policy_merge(first: RiskPolicy, second: RiskPolicy) -> RiskPolicy:
    """Both policies' rules, so the highest tier either puts a change in wins.

    Used to add a target repo's policy to the database's: the repo can only add rules, the
    default tier is the higher of the two, and tier requirements stay those of `first` (see
    `risk_tier_requirements` for a repo asking for stricter ones). A rule both carry unchanged
    is kept once.
    """
    rules = list(first.rules)
    rules += [rule for rule in second.rules if rule not in rules]
    default = max(first.default_tier, second.default_tier, key=TIER_RANKS.__getitem__)
    return first.model_copy(update={"rules": rules, "default_tier": default})


# --- deciding a tier --------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleMatch:
    rule_id: str
    tier: str
    reason: str
    paths: list[str]


@dataclass(frozen=True)
class TierDecision:
    """The tier a change lands in, the rule that put it there (None: the default) and why."""

    tier: str
    rule_id: str | None
    reason: str
    matched_paths: list[str] = field(default_factory=list)
    matches: list[RuleMatch] = field(default_factory=list)


def _rule_paths(rule: PolicyRule, changed: list[str]) -> list[str]:
    if not rule.paths:
        return []
    return [path for path in changed if any(glob_match(pattern, path) for pattern in rule.paths)]


def _listing(paths: list[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def risk_tier_for(*, policy: RiskPolicy, changed_paths: list[str], kind: str) -> TierDecision:
    """The highest tier any enabled rule puts the change in; nothing matched → the default tier.

    A rule applies when the change's kind is among its kinds (or it names none) and, if it has
    paths, at least one changed path matches one of them. Among rules of the winning tier the
    first in policy order is the one named.
    """
    changed = sorted({path.strip().removeprefix("./") for path in changed_paths if path.strip()})
    matches: list[RuleMatch] = []
    for rule in policy.rules:
        if not rule.enabled or (rule.kinds and kind not in rule.kinds):
            continue
        paths = _rule_paths(rule, changed)
        if rule.paths and not paths:
            continue
        matches.append(RuleMatch(rule_id=rule.id, tier=rule.tier, reason=rule.reason, paths=paths))
    if not matches:
        what = f"the {len(changed)} changed path(s)" if changed else "a change with no changed paths"
        return TierDecision(
            tier=policy.default_tier,
            rule_id=None,
            reason=f"{policy.default_tier}: no rule of the policy matched {what} ({kind}); "
            f"the policy's default tier applies.",
        )
    top = max(TIER_RANKS[match.tier] for match in matches)
    winner = next(match for match in matches if TIER_RANKS[match.tier] == top)
    where = f"it touches {_listing(winner.paths)}" if winner.paths else f"it is a {kind} change"
    return TierDecision(
        tier=winner.tier,
        rule_id=winner.rule_id,
        reason=f"{winner.tier}: rule '{winner.rule_id}' applies because {where}. {winner.reason}",
        matched_paths=winner.paths,
        matches=matches,
    )


@dataclass(frozen=True)
class TierRequirements:
    """What a change must pass, from the database tier tightened (never loosened) by a repo policy."""

    tier: str
    requires_tests: bool
    requires_evals: bool
    blocking_severity: str
    required_approvals: int
    requester_may_approve: bool
    auto_deploy: bool


def risk_tier_requirements(*, tier: str, policy: RiskPolicy | None = None) -> TierRequirements:
    """The database tier's requirements; a target repo's overrides only make them stricter.

    A change could edit its own repo's policy, so the repo may ask for more (tests, approvals, a
    lower blocking severity, no auto deploy) but never for less than the database says.
    """
    row = RiskTier.objects.get(name=tier)
    base = TierRequirements(
        tier=tier,
        requires_tests=row.requires_tests,
        requires_evals=row.requires_evals,
        blocking_severity=row.blocking_severity,
        required_approvals=row.required_approvals,
        requester_may_approve=row.requester_may_approve,
        auto_deploy=row.auto_deploy,
    )
    override = policy.tiers.get(tier) if policy else None
    if override is None:
        return base
    severity = base.blocking_severity
    if override.blocking_severity and SEVERITY_RANK[override.blocking_severity] < SEVERITY_RANK[severity]:
        severity = override.blocking_severity
    return TierRequirements(
        tier=tier,
        requires_tests=base.requires_tests or bool(override.requires_tests),
        requires_evals=base.requires_evals or bool(override.requires_evals),
        blocking_severity=severity,
        required_approvals=max(base.required_approvals, override.required_approvals or 0),
        requester_may_approve=base.requester_may_approve and override.requester_may_approve is not False,
        auto_deploy=base.auto_deploy and override.auto_deploy is not False,
    )


# --- the database copy ------------------------------------------------------------------------

TIER_FIELDS = (
    "description",
    "requires_tests",
    "requires_evals",
    "blocking_severity",
    "required_approvals",
    "requester_may_approve",
    "auto_deploy",
)


def risk_policy_from_db() -> RiskPolicy:
    """The database's policy: every tier with every field, and every rule (disabled ones too)."""
    tiers = {
        tier.name: TierSettings(**{name: getattr(tier, name) for name in TIER_FIELDS})
        for tier in RiskTier.objects.filter(name__in=TIER_RANKS)
    }
    default_tier, rules = "medium", []
    for rule in RiskRule.objects.select_related("tier").order_by("position", "rule_id"):
        if rule.rule_id == DEFAULT_TIER_RULE_ID:
            default_tier = rule.tier.name
            continue
        rules.append(
            PolicyRule(
                id=rule.rule_id,
                paths=list(rule.paths),
                kinds=list(rule.kinds),
                tier=rule.tier.name,
                reason=rule.reason,
                enabled=rule.enabled,
            )
        )
    return RiskPolicy(version=1, default_tier=default_tier, tiers=tiers, rules=rules)


def risk_policy_import(policy: RiskPolicy) -> RiskPolicy:
    """Make the database hold `policy`, in one transaction: tier fields it names are updated,
    every rule is replaced (the default tier becomes the reserved `default-tier` rule).
    Returns the policy as the database now holds it."""
    with transaction.atomic():
        tiers = {}
        for name, rank in TIER_RANKS.items():
            tier, _ = RiskTier.objects.select_for_update().get_or_create(name=name, defaults={"rank": rank})
            changes = policy.tiers[name].given() if name in policy.tiers else {}
            for key, value in changes.items():
                setattr(tier, key, value)
            if changes:
                tier.full_clean()
                tier.save(update_fields=list(changes))
            tiers[name] = tier
        RiskRule.objects.all().delete()
        RiskRule.objects.create(
            rule_id=DEFAULT_TIER_RULE_ID,
            tier=tiers[policy.default_tier],
            paths=[],
            kinds=[],
            reason=DEFAULT_TIER_REASON,
            position=0,
        )
        RiskRule.objects.bulk_create(
            RiskRule(
                rule_id=rule.id,
                tier=tiers[rule.tier],
                paths=list(rule.paths),
                kinds=list(rule.kinds),
                reason=rule.reason,
                position=position,
                enabled=rule.enabled,
            )
            for position, rule in enumerate(policy.rules, start=1)
        )
    return risk_policy_from_db()


def risk_policy_export() -> str:
    """The database's policy as `.aspora/risk-policy.json` text; importing it changes nothing."""
    return risk_policy_to_json(risk_policy_from_db())
