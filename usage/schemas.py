from ninja import Schema


class UsageDayOut(Schema):
    day: str
    runs: int
    succeeded: int
    failed: int
    refused: int
    error_rate: float
    cost_usd: str
    p50_ms: int | None
    p95_ms: int | None


class UsageTotalsOut(Schema):
    runs: int
    succeeded: int
    failed: int
    refused: int
    error_rate: float
    cost_usd: str
    p50_ms: int | None
    p95_ms: int | None


class SkillUsageOut(Schema):
    skill: str
    runs: int
    cost_usd: str


class DomainUsageOut(Schema):
    domain: str
    skills: list[SkillUsageOut]


class TeamUsageOut(Schema):
    team: str
    skills: list[SkillUsageOut]


class TeamChoiceOut(Schema):
    slug: str
    name: str


class UsageChoicesOut(Schema):
    domains: list[str]
    teams: list[TeamChoiceOut]


class UsageOut(Schema):
    start: str
    end: str
    domain: str | None
    team: str | None
    totals: UsageTotalsOut
    days: list[UsageDayOut]
    top_skills_by_domain: list[DomainUsageOut]
    top_skills_by_team: list[TeamUsageOut]
    choices: UsageChoicesOut
