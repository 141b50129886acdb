from django.contrib import admin

from identity.models import SsoGroupRule, SsoIdentity


@admin.register(SsoGroupRule)
class SsoGroupRuleAdmin(admin.ModelAdmin):
    list_display = ["group", "team", "tenant", "role"]
    list_filter = ["team__tenant", "role"]
    search_fields = ["group", "team__name", "team__slug"]
    list_select_related = ["team", "team__tenant"]
    autocomplete_fields = ["team"]

    @admin.display(description="Tenant", ordering="team__tenant__name")
    def tenant(self, obj: SsoGroupRule):
        return obj.team.tenant


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    """Links are made by sign-in only; an admin may remove one to unlink an account."""

    list_display = ["subject", "issuer", "user", "created_at", "last_login_at"]
    search_fields = ["subject", "user__username", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["user", "issuer", "subject", "created_at", "last_login_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
