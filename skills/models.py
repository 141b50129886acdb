import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class Scope(models.TextChoices):
    USER = "user", "User"
    TEAM = "team", "Team"
    TENANT = "tenant", "Tenant"


class Source(models.TextChoices):
    FILE = "file", "File"
    ADMIN = "admin", "Admin"
    FACTORY = "factory", "Factory"


class Domain(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.TEAM)
    owner = models.CharField(max_length=120, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="The parsed domain section of aspora.config.yaml.")
    pack_path = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("run_domain", "Can run every skill of the domain")]

    def __str__(self) -> str:
        return self.name


class Skill(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="skills")
    name = models.SlugField(max_length=64, unique=True)
    current_version = models.ForeignKey(
        "SkillVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain__name", "name"]
        permissions = [("run_skill", "Can run the skill")]

    def __str__(self) -> str:
        return self.name

    @property
    def description(self) -> str:
        return self.current_version.description if self.current_version else ""


class SkillVersion(models.Model):
    """One immutable version of a skill: what ran is always what was stored."""

    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    content = models.TextField(help_text="The whole SKILL.md: frontmatter and body.")
    description = models.CharField(max_length=1024)
    instructions = models.TextField(help_text="The body of SKILL.md: the agent's instructions.")
    frontmatter = models.JSONField(default=dict)
    config = models.JSONField(default=dict, help_text="Aspora's settings for the skill from aspora.config.yaml.")
    sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=Source.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=240, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["skill", "-number"]
        get_latest_by = "number"
        constraints = [models.UniqueConstraint(fields=["skill", "number"], name="skill_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.skill.name} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Skill versions are immutable: make a new version instead.")
        super().save(*args, **kwargs)

    @property
    def model(self) -> str | None:
        return self.config.get("model")

    @property
    def tools(self) -> list[str]:
        return list(self.config.get("tools", []))


class SkillUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Skill, on_delete=models.CASCADE)


class SkillGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Skill, on_delete=models.CASCADE)


class DomainUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Domain, on_delete=models.CASCADE)


class DomainGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Domain, on_delete=models.CASCADE)


class Conversation(models.Model):
    """A thread of runs with one person and one skill version, so an edit never changes it mid-way."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    skill_version = models.ForeignKey(SkillVersion, on_delete=models.PROTECT, related_name="conversations")
    channel = models.CharField(max_length=16)
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title or str(self.id)


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    AWAITING_CONFIRMATION = "awaiting_confirmation", "Awaiting confirmation"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused"


FINISHED_STATUSES = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.REFUSED}


class SkillRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    skill = models.ForeignKey(Skill, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    skill_version = models.ForeignKey(
        SkillVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="skill_runs")
    team = models.ForeignKey("tenants.Team", on_delete=models.PROTECT, related_name="skill_runs")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="skill_runs")
    channel = models.CharField(max_length=16)
    message = models.TextField()
    extra = models.JSONField(default=dict, blank=True)
    routed = models.BooleanField(default=False, help_text="The skill was chosen by the router, not named.")
    status = models.CharField(max_length=32, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True)
    model = models.CharField(max_length=200, blank=True)
    is_offline = models.BooleanField(default=False)
    answer = models.TextField(blank=True)
    error = models.TextField(blank=True)
    queued_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    message_history = models.JSONField(
        default=list, blank=True, help_text="Model messages, kept to resume after a confirmation."
    )
    pending_tool_calls = models.JSONField(default=list, blank=True)
    trace_id = models.CharField(
        max_length=32, blank=True, db_index=True, help_text="The OpenTelemetry trace that executed this run."
    )

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["user", "-queued_at"]), models.Index(fields=["tenant", "-queued_at"])]

    def __str__(self) -> str:
        return f"{self.skill or 'unrouted'} · {self.user} · {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def latency_ms(self) -> int | None:
        if self.finished_at and self.queued_at:
            return int((self.finished_at - self.queued_at).total_seconds() * 1000)
        return None


class EventType(models.TextChoices):
    STARTED = "run.started"
    DELTA = "run.delta"
    TOOL_CALL = "run.tool_call"
    TOOL_RESULT = "run.tool_result"
    CONFIRMATION_NEEDED = "run.confirmation_needed"
    CONFIRMED = "run.confirmed"
    FINAL = "run.final"
    ERROR = "run.error"


class SkillRunEvent(models.Model):
    run = models.ForeignKey(SkillRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=40, choices=EventType.choices)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="skill_run_event_seq_unique")]

    def __str__(self) -> str:
        return f"{self.run_id} #{self.seq} {self.type}"
