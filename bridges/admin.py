from django.contrib import admin

from bridges.models import ChannelLinkToken, SlackEventReceipt, SlackInstallation, SlackMessage


@admin.register(SlackEventReceipt)
class SlackEventReceiptAdmin(admin.ModelAdmin):
    list_display = ["event_id", "kind", "team_id", "outcome", "deliveries", "run", "created_at"]
    list_filter = ["kind", "outcome"]
    search_fields = ["event_id", "team_id"]
    readonly_fields = [f.name for f in SlackEventReceipt._meta.fields]


@admin.register(SlackMessage)
class SlackMessageAdmin(admin.ModelAdmin):
    list_display = ["key", "channel", "ts", "last_seq", "run", "created_at"]
    search_fields = ["key", "channel", "ts"]
    readonly_fields = [f.name for f in SlackMessage._meta.fields]


@admin.register(ChannelLinkToken)
class ChannelLinkTokenAdmin(admin.ModelAdmin):
    list_display = ["provider", "workspace", "external_user_id", "expires_at", "used_at", "used_by"]
    list_filter = ["provider"]
    exclude = ["digest"]
    readonly_fields = ["provider", "workspace", "external_user_id", "expires_at", "used_at", "used_by"]


@admin.register(SlackInstallation)
class SlackInstallationAdmin(admin.ModelAdmin):
    """Shows where the app is installed; the stored tokens (`data`) are never displayed."""

    list_display = ["team_name", "team_id", "enterprise_id", "user_id", "installed_at"]
    exclude = ["data"]
    readonly_fields = ["client_id", "app_id", "enterprise_id", "team_id", "team_name", "user_id", "installed_at"]
