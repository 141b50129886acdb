"""Admin for the factory: the risk policy is edited, imported and exported here; runs, findings,
approvals and deployments are shown read-only (approvals are made in the portal, on an exact SHA,
and a record of who approved what must never be edited). See docs/factory-policy.md."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from pydantic import ValidationError

from factory.models import Approval, Deployment, FactoryRun, FactoryStage, Finding, RiskRule, RiskTier
from factory.policy import (
    DEFAULT_TIER_RULE_ID,
    TIER_FIELDS,
    PolicyRule,
    RiskPolicyError,
    risk_policy_export,
    risk_policy_from_db,
    risk_policy_import,
    risk_policy_parse,
)

POLICY_CHANGE_LIST = "admin/factory/policy_change_list.html"
MAX_POLICY_BYTES = 256 * 1024
IMPORT_PERMISSIONS = (
    "factory.add_riskrule",
    "factory.change_riskrule",
    "factory.delete_riskrule",
    "factory.change_risktier",
)
EXPORT_PERMISSIONS = ("factory.view_riskrule", "factory.view_risktier")


class ReadOnlyAdminMixin:
    """Shown, searchable, never written from the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- the risk policy --------------------------------------------------------------------------


class RiskRuleForm(forms.ModelForm):
    """Checks a rule as the policy file's schema does, so the database never holds one a file could not."""

    class Meta:
        model = RiskRule
        fields = ["rule_id", "tier", "paths", "kinds", "reason", "position", "enabled"]

    FIELDS = {"id": "rule_id", "paths": "paths", "kinds": "kinds", "tier": "tier", "reason": "reason"}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        rule_id, paths, kinds = cleaned.get("rule_id"), cleaned.get("paths"), cleaned.get("kinds")
        if rule_id == DEFAULT_TIER_RULE_ID:
            if paths or kinds:
                raise forms.ValidationError(
                    "The default-tier rule only names the tier used when no rule matches; leave paths and kinds empty."
                )
            return cleaned
        # In the tier's inline the tier is the page's, not a field of the form.
        tier = cleaned.get("tier") or (self.instance.tier if self.instance.tier_id else None)
        try:
            PolicyRule(
                id=rule_id,
                paths=paths if paths is not None else [],
                kinds=kinds if kinds is not None else [],
                tier=tier.name if tier else "",
                reason=cleaned.get("reason") or "",
                enabled=cleaned.get("enabled", True),
            )
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = error["loc"]
                where = "".join(f"[{part}]" for part in loc[1:] if isinstance(part, int))
                message = error["msg"].removeprefix("Value error, ")
                field = self.FIELDS.get(loc[0]) if loc else None
                self.add_error(field, f"{where} {message}".strip() if where else message)
        return cleaned


class RiskRuleInline(admin.TabularInline):
    model = RiskRule
    form = RiskRuleForm
    fields = ["rule_id", "paths", "kinds", "reason", "position", "enabled"]
    extra = 0


@admin.register(RiskTier)
class RiskTierAdmin(admin.ModelAdmin):
    """The four tiers are fixed (their order is what "highest tier wins" means); what each requires is not."""

    change_list_template = POLICY_CHANGE_LIST
    list_display = [
        "name",
        "rank",
        "required_approvals",
        "auto_deploy",
        "blocking_severity",
        "requires_tests",
        "requires_evals",
        "requester_may_approve",
        "rule_count",
    ]
    readonly_fields = ["name", "rank"]
    fields = ["name", "rank", "description", *[f for f in TIER_FIELDS if f != "description"]]
    inlines = [RiskRuleInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Rules")
    def rule_count(self, obj: RiskTier) -> int:
        return obj.rules.count()


@admin.register(RiskRule)
class RiskRuleAdmin(admin.ModelAdmin):
    change_list_template = POLICY_CHANGE_LIST
    form = RiskRuleForm
    list_display = ["rule_id", "tier", "path_list", "kind_list", "reason", "position", "enabled"]
    list_filter = ["tier", "enabled"]
    list_editable = ["position", "enabled"]
    search_fields = ["rule_id", "reason"]
    ordering = ["position", "rule_id"]

    @admin.display(description="Paths")
    def path_list(self, obj: RiskRule) -> str:
        if obj.rule_id == DEFAULT_TIER_RULE_ID:
            return "(when no other rule matches)"
        return ", ".join(obj.paths) or "any"

    @admin.display(description="Kinds")
    def kind_list(self, obj: RiskRule) -> str:
        return ", ".join(obj.kinds) or "any"

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="factory_riskrule_import"),
            path("export/", self.admin_site.admin_view(self.export_view), name="factory_riskrule_export"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        if not request.user.has_perms(EXPORT_PERMISSIONS):
            raise PermissionDenied
        response = HttpResponse(risk_policy_export(), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="risk-policy.json"'
        return response

    def import_view(self, request):
        if not request.user.has_perms(IMPORT_PERMISSIONS):
            raise PermissionDenied
        form = PolicyImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            before = risk_policy_from_db()
            after = risk_policy_import(form.policy)
            for line in _policy_changes(before, after):
                messages.info(request, line)
            messages.success(
                request,
                f"Imported {form.source}: {len(after.rules)} rules, default tier {after.default_tier}.",
            )
            return redirect(reverse("admin:factory_riskrule_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a risk policy",
            "form": form,
            "opts": self.model._meta,
            "current": risk_policy_export(),
        }
        return TemplateResponse(request, "admin/factory/policy_import.html", context)


class PolicyImportForm(forms.Form):
    file = forms.FileField(required=False, help_text="A .aspora/risk-policy.json file.")
    text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 16, "style": "font-family: monospace; width: 100%"}),
        help_text="Or paste the policy's JSON.",
    )

    def clean(self):
        cleaned = super().clean()
        upload, text = cleaned.get("file"), cleaned.get("text")
        if upload:
            if upload.size > MAX_POLICY_BYTES:
                raise forms.ValidationError(f"{upload.name} is larger than {MAX_POLICY_BYTES // 1024} KB.")
            self.source = upload.name
            raw = upload.read()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise forms.ValidationError(f"{upload.name} is not UTF-8 text.") from exc
        elif text:
            self.source = "the pasted policy"
        else:
            raise forms.ValidationError("Choose a policy file or paste its JSON.")
        try:
            self.policy = risk_policy_parse(text, source=self.source)
        except RiskPolicyError as exc:
            raise forms.ValidationError(exc.message) from exc
        return cleaned


def _policy_changes(before, after) -> list[str]:
    """What an import changed in the tiers, in words an ops manager can check."""
    lines = []
    for name, tier in after.tiers.items():
        old = before.tiers.get(name)
        for key, value in tier.given().items():
            previous = old.given().get(key) if old else None
            if previous != value:
                lines.append(f"Tier {name}: {key} {json.dumps(previous)} → {json.dumps(value)}.")
    if before.default_tier != after.default_tier:
        lines.append(f"Default tier: {before.default_tier} → {after.default_tier}.")
    return lines


# --- runs and their records (read-only) ----------------------------------------------------------


class StageInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = FactoryStage
    fields = ["name", "iteration", "status", "sha", "summary", "started_at", "duration_ms"]
    readonly_fields = fields
    extra = 0
    show_change_link = False


class FindingInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Finding
    fields = ["severity", "reviewer", "rule_id", "path", "line", "message", "sha", "fixed_in_sha"]
    readonly_fields = fields
    extra = 0


class ApprovalInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Approval
    fields = ["approver", "decision", "sha", "comment", "created_at"]
    readonly_fields = fields
    extra = 0


class DeploymentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Deployment
    fk_name = "run"
    fields = ["target", "deployer", "status", "sha", "url", "created_at", "stopped_at"]
    readonly_fields = fields
    extra = 0


@admin.register(FactoryRun)
class FactoryRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["title", "kind", "status", "tier", "tier_rule", "requester", "tenant", "created_at", "iterations"]
    list_filter = ["status", "kind", "tier", "tenant"]
    search_fields = ["title", "spec_name", "target_repo", "branch", "head_sha", "requester__username"]
    list_select_related = ["tier", "requester", "tenant"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "title",
        "kind",
        "status",
        "stop_reason",
        "tenant",
        "requester",
        "spec_name",
        "target_repo",
        "branch",
        "base_sha",
        "head_sha",
        "tier",
        "tier_rule",
        "tier_reason",
        "iterations",
        "tokens",
        "cost_usd",
        "created_at",
        "started_at",
        "finished_at",
        "spec",
    ]
    readonly_fields = fields
    inlines = [StageInline, FindingInline, ApprovalInline, DeploymentInline]


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["rule_id", "severity", "reviewer", "path", "line", "run", "sha", "fixed_in_sha"]
    list_filter = ["severity", "reviewer"]
    search_fields = ["rule_id", "path", "message", "sha"]
    list_select_related = ["run"]


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["run", "approver", "decision", "sha", "created_at"]
    list_filter = ["decision"]
    search_fields = ["sha", "approver__username", "run__title", "comment"]
    list_select_related = ["run", "approver"]
    fields = ["run", "approver", "decision", "sha", "comment", "created_at"]
    readonly_fields = fields


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["target", "deployer", "status", "sha", "url", "run", "created_at", "stopped_at"]
    list_filter = ["status", "deployer"]
    search_fields = ["target", "sha", "url", "run__title"]
    list_select_related = ["run"]
    fields = [
        "run",
        "target",
        "deployer",
        "status",
        "sha",
        "url",
        "port",
        "pid",
        "path",
        "skill_version",
        "previous",
        "created_at",
        "stopped_at",
        "log",
    ]
    readonly_fields = fields
