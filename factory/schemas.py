"""API input and output of the Code Factory (`factory.api`). Fields are listed one by one: nothing
leaks that the API did not mean to show."""

from datetime import datetime
from uuid import UUID

from ninja import Field, Schema


class FactoryRunCreateIn(Schema):
    spec: str = Field(
        min_length=1,
        max_length=100_000,
        description="The spec: markdown with YAML frontmatter (factory/specs/README.md).",
    )
    spec_name: str = Field(default="", max_length=120, description="The file it came from; errors name it.")


class FactoryApprovalIn(Schema):
    sha: str = Field(min_length=1, max_length=40, description="The exact commit approved: the run's head.")
    approve: bool = Field(default=True, description="False rejects the commit and stops the run.")
    comment: str = Field(default="", max_length=2000)


class FactoryRunOut(Schema):
    id: UUID
    title: str
    kind: str
    status: str
    status_label: str
    head_sha: str
    tier: str | None
    stop_reason: str
    requester: str
    created_at: datetime


class FactoryStageOut(Schema):
    id: int
    name: str
    label: str
    iteration: int
    status: str
    sha: str
    summary: str
    duration_ms: int | None


class FactoryFindingOut(Schema):
    reviewer: str
    rule_id: str
    severity: str
    path: str
    line: int | None
    message: str
    sha: str
    fixed_in_sha: str | None


class FactoryApprovalOut(Schema):
    approver: str
    sha: str
    decision: str
    counts: bool = Field(description="Whether it still counts: for the run's head, and not the requester's own.")


class FactoryDeploymentOut(Schema):
    target: str
    deployer: str
    status: str
    sha: str
    url: str | None
    skill: str | None
    skill_version: int | None


class FactoryRunDetailOut(FactoryRunOut):
    target_repo: str
    branch: str
    base_sha: str
    tier_rule: str | None
    tier_reason: str
    iterations: int
    duration_seconds: float | None
    stages: list[FactoryStageOut]
    findings: list[FactoryFindingOut]
    approvals: list[FactoryApprovalOut]
    deployment: FactoryDeploymentOut | None


class FactoryApprovalCreatedOut(FactoryApprovalOut):
    run_status: str = Field(description="The run's status after the decision: running once approved enough.")
