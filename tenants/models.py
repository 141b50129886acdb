from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class Tenant(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person using the portal. Staff of one tenant; superusers may have none."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    display_name = models.CharField(max_length=120, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA zone answers show dates in.")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username


class Team(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    description = models.CharField(max_length=240, blank=True)
    members = models.ManyToManyField(User, through="Membership", related_name="teams")
    group = models.OneToOneField(
        Group,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="team",
        help_text="The auth group object permissions are granted to; its members mirror the team's.",
    )

    class Meta:
        ordering = ["tenant__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="team_slug_unique_per_tenant"),
            models.UniqueConstraint(fields=["tenant", "name"], name="team_name_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # Guardian grants go to groups: every team has exactly one, named after tenant and team.
        if self.group_id is None:
            self.group, _ = Group.objects.get_or_create(name=f"team:{self.tenant.slug}/{self.slug}")
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    FIELD_AGENT = "field_agent", "Field agent"
    MANAGER = "manager", "Manager"
    ANALYST = "analyst", "Analyst"
    OPS_MANAGER = "ops_manager", "Ops manager"
    PRODUCT_MANAGER = "product_manager", "Product manager"
    ADMIN = "admin", "Admin"


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    is_primary = models.BooleanField(
        default=False, help_text="The team a run is attributed to when the asker does not name one."
    )
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_unique_per_team"),
            models.UniqueConstraint(
                fields=["user"], condition=Q(is_primary=True), name="membership_one_primary_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.team} ({self.get_role_display()})"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        if self.team.group_id:
            self.user.groups.add(self.team.group_id)

    def delete(self, *args, **kwargs):
        if self.team.group_id:
            self.user.groups.remove(self.team.group_id)
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        if self.user_id and self.team_id and self.user.tenant_id != self.team.tenant_id:
            raise ValidationError({"team": "A person can only join teams of their own tenant."})


class ChannelIdentity(models.Model):
    """A Slack or WhatsApp account, mapped to the portal user it speaks for."""

    class Provider(models.TextChoices):
        SLACK = "slack", "Slack"
        WHATSAPP = "whatsapp", "WhatsApp"

    provider = models.CharField(max_length=16, choices=Provider.choices)
    workspace = models.CharField(
        max_length=64, help_text="Slack workspace (team) id, or the WhatsApp business phone number id."
    )
    external_user_id = models.CharField(max_length=64, help_text="Slack user id, or the WhatsApp number.")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="channel_identities")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "channel identities"
        ordering = ["provider", "workspace", "external_user_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "workspace", "external_user_id"], name="channel_identity_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.workspace}/{self.external_user_id} → {self.user}"


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 digest is stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
