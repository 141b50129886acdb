from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from guardian.admin import GuardedModelAdmin

from tenants.models import ApiToken, ChannelIdentity, Membership, Team, Tenant, User
from tenants.services import api_token_create, api_token_revoke


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["team"]


class ChannelIdentityInline(admin.TabularInline):
    model = ChannelIdentity
    extra = 0


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "display_name", "email", "tenant", "primary_team", "is_staff", "is_active"]
    list_filter = ["tenant", "is_staff", "is_superuser", "is_active", "memberships__role"]
    search_fields = ["username", "display_name", "email", "first_name", "last_name"]
    list_select_related = ["tenant"]
    inlines = [MembershipInline, ChannelIdentityInline]
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Aspora", {"fields": ["tenant", "display_name"]}))
    add_fieldsets = (*DjangoUserAdmin.add_fieldsets, ("Aspora", {"fields": ["tenant", "display_name"]}))

    @admin.display(description="Primary team")
    def primary_team(self, obj: User) -> str:
        membership = obj.memberships.filter(is_primary=True).select_related("team").first()
        return membership.team.name if membership else "—"


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "team_count", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="Teams")
    def team_count(self, obj: Tenant) -> int:
        return obj.teams.count()


@admin.register(Team)
class TeamAdmin(GuardedModelAdmin):
    list_display = ["name", "tenant", "slug", "member_count"]
    list_filter = ["tenant"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    @admin.display(description="Members")
    def member_count(self, obj: Team) -> int:
        return obj.memberships.count()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "is_primary", "joined_at"]
    list_filter = ["role", "is_primary", "team__tenant", "team"]
    search_fields = ["user__username", "user__display_name", "team__name"]
    autocomplete_fields = ["user", "team"]
    list_select_related = ["user", "team"]


@admin.register(ChannelIdentity)
class ChannelIdentityAdmin(admin.ModelAdmin):
    list_display = ["provider", "workspace", "external_user_id", "user", "created_at"]
    list_filter = ["provider", "workspace"]
    search_fields = ["external_user_id", "workspace", "user__username", "user__display_name"]
    autocomplete_fields = ["user"]
    list_select_related = ["user"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at", "expires_at"]
    search_fields = ["name", "prefix", "user__username"]
    autocomplete_fields = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "expires_at"]
        return ["user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", *self.readonly_fields] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, raw = api_token_create(user=obj.user, name=obj.name, expires_at=obj.expires_at)
        obj.pk, obj.prefix, obj.digest, obj.created_at = token.pk, token.prefix, token.digest, token.created_at
        obj._state.adding = False
        messages.warning(request, f"Copy this token now; it is not stored and will not be shown again: {raw}")

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token)
