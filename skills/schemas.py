from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from ninja import Field, Schema


class ProblemOut(Schema):
    type: str = "about:blank"
    title: str
    status: int
    detail: str


class SkillOut(Schema):
    name: str
    domain: str
    description: str
    version: int
    examples: list[str]
    tools: list[str]
    confirm: list[str]
    requires_context: list[str]


class RunCreateIn(Schema):
    message: str = Field(min_length=1, max_length=4000, description="What the person asks, in their words.")
    skill: str | None = Field(default=None, description="Run this skill; without it the message is routed.")
    team: str | None = Field(default=None, description="Slug of the team to ask as; default: the primary team.")
    context: dict[str, str] = Field(default_factory=dict, description="Extra context ids, e.g. ticket_id.")
    conversation_id: UUID | None = Field(default=None, description="Continue this conversation.")


class RunDecisionIn(Schema):
    approve: bool
    note: str = Field(default="", max_length=500)


class RunEventOut(Schema):
    seq: int
    type: str
    data: dict[str, Any]
    created_at: datetime


class RunOut(Schema):
    id: UUID
    skill: str | None
    skill_version: int | None
    conversation_id: UUID | None
    channel: str
    message: str
    status: str
    model: str
    offline: bool
    answer: str
    error: str
    queued_at: datetime
    started_at: datetime | None
    first_token_at: datetime | None
    finished_at: datetime | None
    latency_ms: int | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    pending_tool_calls: list[dict[str, Any]]


class RunDetailOut(RunOut):
    events: list[RunEventOut]
