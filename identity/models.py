"""Who an identity provider says a person is, and how its groups map to teams and roles."""

from django.db import models

from tenants.models import Role, Team, User


class SsoGroupRule(models.Model):
    """A value of the provider's groups claim, granting a role in one team (and so its tenant).

    Teams named by any rule are managed by sign-on: a person's membership in them follows their
    groups at every sign-in. Teams no rule names are left to the admin."""

    group = models.CharField(max_length=200, help_text="A value of the groups claim, exactly as the provider sends it.")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="sso_rules")
    role = models.CharField(max_length=32, choices=Role.choices)

    class Meta:
        verbose_name = "SSO group rule"
        ordering = ["group", "team__name"]
        constraints = [models.UniqueConstraint(fields=["group", "team"], name="sso_rule_unique_per_group_team")]

    def __str__(self) -> str:
        return f"{self.group} → {self.team} ({self.get_role_display()})"


class SsoIdentity(models.Model):
    """The provider's stable subject for a person: a renamed email or username keeps the account."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sso_identities")
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SSO identity"
        verbose_name_plural = "SSO identities"
        ordering = ["issuer", "subject"]
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer} → {self.user}"
