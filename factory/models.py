"""The factory's records: runs and their stages, findings, approvals pinned to a SHA, deployments,
and the risk policy (tiers and the rules that put a change in one)."""

import uuid

from django.conf import settings
from django.db import models


class Kind(models.TextChoices):
    SKILL = "skill", "Skill"
    PRODUCT = "product", "FastAPI product"
    CHANGE = "change", "Change to an existing repo"


class Severity(models.TextChoices):
    """Ordered from least to most severe; `SEVERITY_RANK` gives the order."""

    INFO = "info", "Info"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {value: rank for rank, value in enumerate(Severity.values)}


class RiskTier(models.Model):
    """What a change in this tier must pass before it may deploy."""

    name = models.SlugField(max_length=32, unique=True)
    rank = models.PositiveSmallIntegerField(unique=True, help_text="Higher is riskier; the highest tier touched wins.")
    description = models.TextField(blank=True)
    requires_tests = models.BooleanField(default=True)
    requires_evals = models.BooleanField(default=True, help_text="Skills only: their eval examples must pass.")
    blocking_severity = models.CharField(
        max_length=16,
        choices=Severity.choices,
        default=Severity.HIGH,
        help_text="A review finding at or above this severity blocks the change.",
    )
    required_approvals = models.PositiveSmallIntegerField(default=0)
    requester_may_approve = models.BooleanField(default=False)
    auto_deploy = models.BooleanField(default=True, help_text="Deploys on its own once every check passes.")

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class RiskRule(models.Model):
    """Path globs (and kinds of change) that put a change in a tier, with the reason shown to people."""

    rule_id = models.SlugField(max_length=64, unique=True)
    tier = models.ForeignKey(RiskTier, on_delete=models.PROTECT, related_name="rules")
    paths = models.JSONField(
        default=list, blank=True, help_text='Glob patterns, e.g. ["skills/executor.py", "domains/*/tools.py"].'
    )
    kinds = models.JSONField(default=list, blank=True, help_text="Kinds of change the rule applies to; empty: any.")
    reason = models.CharField(max_length=300)
    position = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "rule_id"]

    def __str__(self) -> str:
        return self.rule_id


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting_approval", "Waiting for approval"
    DEPLOYED = "deployed", "Deployed"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"
    REJECTED = "rejected", "Rejected"


TERMINAL_RUN_STATUSES = (RunStatus.DEPLOYED, RunStatus.FAILED, RunStatus.STOPPED, RunStatus.REJECTED)


class FactoryRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="factory_runs")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="factory_runs")
    title = models.CharField(max_length=200)
    spec = models.TextField()
    spec_name = models.CharField(max_length=120, blank=True, help_text="The spec file it came from, if any.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target_repo = models.CharField(
        max_length=200, help_text="The target's name; its repository lives under the factory's workspace."
    )
    branch = models.CharField(max_length=200, blank=True)
    base_sha = models.CharField(max_length=40, blank=True)
    head_sha = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=24, choices=RunStatus.choices, default=RunStatus.QUEUED)
    stop_reason = models.TextField(blank=True)
    tier = models.ForeignKey(RiskTier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    tier_rule = models.CharField(max_length=64, blank=True)
    tier_reason = models.TextField(blank=True)
    iterations = models.PositiveSmallIntegerField(default=0, help_text="Review and remediation rounds.")
    tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "status", "-created_at"])]
        permissions = [
            ("queue_factoryrun", "Can queue a factory run"),
            ("approve_factoryrun", "Can approve a factory run's commit"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def pack_domain(self) -> str | None:
        """The domain whose pack the run changes (a skill, or a change to `pack-<domain>`); else None."""
        return self.target_repo.removeprefix("pack-") if self.target_repo.startswith("pack-") else None

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        return ((self.finished_at or self.started_at).timestamp()) - self.started_at.timestamp()


class StageName(models.TextChoices):
    GENERATE = "generate", "Generate"
    GATE = "gate", "Risk gate"
    REVIEW = "review", "Review"
    REMEDIATE = "remediate", "Remediate"
    TEST = "test", "Test"
    APPROVE = "approve", "Approve"
    DEPLOY = "deploy", "Deploy"


class StageStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    WAITING = "waiting", "Waiting"
    SKIPPED = "skipped", "Skipped"


class FactoryStage(models.Model):
    """One stage of a run, as it judged one commit; remediation rounds add new rows."""

    run = models.ForeignKey(FactoryRun, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=16, choices=StageName.choices)
    iteration = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=StageStatus.choices, default=StageStatus.RUNNING)
    sha = models.CharField(max_length=40, blank=True, help_text="The commit this stage judged or made.")
    summary = models.CharField(max_length=300, blank=True)
    log = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} #{self.iteration} {self.status}"

    @property
    def duration_ms(self) -> int | None:
        if not self.finished_at:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000)


class Finding(models.Model):
    run = models.ForeignKey(FactoryRun, on_delete=models.CASCADE, related_name="findings")
    stage = models.ForeignKey(FactoryStage, on_delete=models.CASCADE, related_name="findings")
    reviewer = models.CharField(max_length=32)
    rule_id = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    path = models.CharField(max_length=500, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True)
    message = models.TextField()
    sha = models.CharField(max_length=40, help_text="The commit the finding was made on.")
    fixed_in_sha = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.path}:{self.line}"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Approval(models.Model):
    """A person's decision on one exact commit; void once the run's head moves past it."""

    run = models.ForeignKey(FactoryRun, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="factory_approvals")
    sha = models.CharField(max_length=40)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["run", "approver", "sha"], name="approval_one_per_person_per_sha"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} {self.sha[:10]} by {self.approver}"


class DeploymentStatus(models.TextChoices):
    LIVE = "live", "Live"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded"
    ROLLED_BACK = "rolled_back", "Rolled back"


class Deployment(models.Model):
    run = models.ForeignKey(FactoryRun, on_delete=models.PROTECT, related_name="deployments")
    target = models.CharField(max_length=200, help_text="What was deployed: a skill's name or a product's name.")
    deployer = models.CharField(max_length=32)
    sha = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.LIVE)
    url = models.CharField(max_length=300, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    path = models.CharField(max_length=500, blank=True, help_text="Where the deployed files live.")
    skill_version = models.ForeignKey(
        "skills.SkillVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    log = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.target} @ {self.sha[:10]} ({self.status})"
