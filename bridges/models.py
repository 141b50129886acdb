"""What the bridges remember. Slack: event receipts, messages it posted, installations; WhatsApp:
inbound message receipts (`bridges/whatsapp/models.py`); both: the link tokens that let a person
link their Slack account or WhatsApp number to themselves.

No signing secret or app token is ever stored. Link tokens keep only a SHA-256 digest. The one
place a credential lives in the database is `SlackInstallation.data`, which holds the bot token
of each workspace that installed the app through OAuth: that is what the installation store is for.
"""

from django.conf import settings
from django.db import models

from bridges.whatsapp.models import WhatsAppInbound  # noqa: F401 - registered with the bridges app
from tenants.models import ChannelIdentity


class SlackEventReceipt(models.Model):
    """One Slack delivery we acted on, keyed by Slack's id, so a retry never starts a second run.

    A delivery is claimed (`claimed_at`) while it is handled; a failed attempt releases the claim,
    and a claim older than the lease counts as abandoned, so a retry of a lost delivery still runs.
    """

    class Outcome(models.TextChoices):
        PENDING = "", "Pending"
        RUN = "run", "Run started"
        REFUSED = "refused", "Run refused"
        LINK = "link", "Asked to link"
        HELP = "help", "Help shown"
        IGNORED = "ignored", "Ignored"

    event_id = models.CharField(max_length=120, unique=True, help_text="Slack's event_id, or command:<trigger_id>.")
    team_id = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=16)
    run = models.ForeignKey(
        "skills.SkillRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="slack_receipts"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING, blank=True)
    deliveries = models.PositiveSmallIntegerField(default=1)
    claimed_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.get_outcome_display()})"


class SlackMessage(models.Model):
    """A message the bridge posted, keyed by what it is for, so a retried job edits it instead of posting twice."""

    key = models.CharField(max_length=200, unique=True)
    run = models.ForeignKey(
        "skills.SkillRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="slack_messages"
    )
    team_id = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=64)
    ts = models.CharField(max_length=32, blank=True)
    thread_ts = models.CharField(max_length=32, blank=True)
    last_seq = models.PositiveIntegerField(default=0, help_text="The last run event shown in this message.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.key


class ChannelLinkToken(models.Model):
    """A single-use, expiring invitation to link a Slack account or WhatsApp number to a portal user.

    The token is only good for its own provider's link page; only its SHA-256 digest is kept.
    """

    digest = models.CharField(max_length=64, unique=True, editable=False)
    provider = models.CharField(max_length=16, choices=ChannelIdentity.Provider.choices)
    workspace = models.CharField(
        max_length=64, help_text="Slack workspace (team) id, or the WhatsApp business phone number id."
    )
    external_user_id = models.CharField(max_length=64, help_text="Slack user id, or the WhatsApp number.")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.workspace}/{self.external_user_id}"


class SlackInstallation(models.Model):
    """One OAuth installation of the app in a workspace (or org).

    `data` holds the whole slack_sdk `Installation`, bot and user tokens included: this is the
    installation store, the one place Aspora keeps Slack credentials. The admin never shows it.
    """

    client_id = models.CharField(max_length=64)
    app_id = models.CharField(max_length=64, blank=True)
    enterprise_id = models.CharField(max_length=64, blank=True)
    team_id = models.CharField(max_length=64, blank=True)
    team_name = models.CharField(max_length=200, blank=True)
    user_id = models.CharField(max_length=64, blank=True)
    is_enterprise_install = models.BooleanField(default=False)
    data = models.JSONField(default=dict)
    installed_at = models.DateTimeField()

    class Meta:
        ordering = ["-installed_at"]
        indexes = [models.Index(fields=["client_id", "enterprise_id", "team_id", "-installed_at"])]

    def __str__(self) -> str:
        return f"{self.team_name or self.team_id or self.enterprise_id} ({self.installed_at:%Y-%m-%d})"


class SlackOAuthState(models.Model):
    """An OAuth `state` value: issued once, consumed once, before it expires."""

    state = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.state[:8] + "…"
