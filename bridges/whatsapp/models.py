from django.db import models


class WhatsAppInbound(models.Model):
    """One inbound WhatsApp message we acted on, keyed by Meta's message id (wamid)."""

    message_id = models.CharField(max_length=200, unique=True)
    phone_number_id = models.CharField(max_length=64)
    sender = models.CharField(max_length=32, help_text="The sender's WhatsApp number (wa_id).")
    kind = models.CharField(max_length=16)
    sent_at = models.DateTimeField(help_text="When the person sent it: the 24-hour window starts here.")
    run = models.ForeignKey("skills.SkillRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=24, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "bridges"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.outcome or 'pending'})"
