"""Admin for ops managers: skills are edited here with validation on save, a rendered preview,
a diff between versions and one-click rollback. Every save goes through `skills.services`."""

import difflib

import yaml
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from guardian.admin import GuardedModelAdmin
from guardian.shortcuts import get_objects_for_user

from aspora.text import markdown_to_safe_html
from skills.models import Conversation, Domain, Skill, SkillRun, SkillRunEvent, SkillVersion, Source
from skills.services import SkillValidationError, skill_parse_edit, skill_rollback, skill_version_create


def _diffable(version: SkillVersion) -> list[str]:
    settings = yaml.safe_dump(version.config, sort_keys=True).splitlines()
    return [*version.content.splitlines(), "", "# settings", *settings]


@admin.register(Domain)
class DomainAdmin(GuardedModelAdmin):
    list_display = ["name", "scope", "owner", "skill_count", "updated_at"]
    list_filter = ["scope"]
    search_fields = ["name", "description", "owner"]
    readonly_fields = ["config", "pack_path", "updated_at"]

    @admin.display(description="Skills")
    def skill_count(self, obj: Domain) -> int:
        return obj.skills.count()


# Problems with these fields are in the SKILL.md text; any other is in Aspora's settings.
SKILL_FILE_FIELDS = {
    "frontmatter",
    "name",
    "description",
    "license",
    "compatibility",
    "metadata",
    "allowed-tools",
    "body",
}


class SkillEditForm(forms.ModelForm):
    content = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "style": "font-family: monospace; width: 100%"}),
        help_text="The whole SKILL.md: YAML frontmatter between --- lines, then the instructions.",
    )
    settings_yaml = forms.CharField(
        label="Aspora settings",
        widget=forms.Textarea(attrs={"rows": 12, "style": "font-family: monospace; width: 100%"}),
        help_text="This skill's entry of aspora.config.yaml: tools, confirm, roles, limits, model, examples.",
    )
    note = forms.CharField(required=False, max_length=240, help_text="Why this change (kept with the version).")

    class Meta:
        model = Skill
        fields = ["is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        version = self.instance.current_version if self.instance.pk else None
        if version:
            self.fields["content"].initial = version.content
            settings = {k: v for k, v in version.config.items() if k != "name"}
            self.fields["settings_yaml"].initial = yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)

    def clean(self):
        cleaned = super().clean()
        self.parsed = None
        if "content" in cleaned and "settings_yaml" in cleaned:
            try:
                self.parsed = skill_parse_edit(
                    skill=self.instance, content=cleaned["content"], config=cleaned["settings_yaml"]
                )
            except SkillValidationError as exc:
                for problem in exc.problems:
                    self.add_error("content" if problem.field in SKILL_FILE_FIELDS else "settings_yaml", str(problem))
        return cleaned

    def clean_settings_yaml(self):
        try:
            data = yaml.safe_load(self.cleaned_data["settings_yaml"]) or {}
        except yaml.YAMLError as exc:
            raise forms.ValidationError(f"Not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise forms.ValidationError("Expected a mapping of settings.")
        return data


class SkillVersionInline(admin.TabularInline):
    model = SkillVersion
    fields = ["number", "source", "author", "note", "sha_short", "created_at", "actions_column"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-number"]
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="SHA-256")
    def sha_short(self, obj: SkillVersion) -> str:
        return obj.sha256[:12]

    @admin.display(description="")
    def actions_column(self, obj: SkillVersion):
        if obj.skill.current_version_id == obj.pk:
            return mark_safe("<strong>live</strong>")
        diff = reverse("admin:skills_skill_diff", args=[obj.skill_id, obj.pk])
        rollback = reverse("admin:skills_skill_rollback", args=[obj.skill_id, obj.pk])
        # No nested form: the button posts the change form (and its CSRF token) to the rollback URL.
        return format_html(
            '<a href="{}">diff with live</a> · <button type="submit" class="button" formaction="{}" formmethod="post" '
            "formnovalidate>Roll back to this</button>",
            diff,
            rollback,
        )


@admin.register(Skill)
class SkillAdmin(GuardedModelAdmin):
    form = SkillEditForm
    list_display = ["name", "domain", "live_version", "is_active", "updated_at"]
    list_filter = ["domain", "is_active", "versions__source"]
    search_fields = ["name", "versions__description"]
    list_select_related = ["domain", "current_version"]
    readonly_fields = ["domain", "live_version", "preview"]
    fields = ["domain", "live_version", "is_active", "content", "settings_yaml", "note", "preview"]
    inlines = [SkillVersionInline]
    change_form_template = "admin/skills/skill/change_form.html"

    def has_add_permission(self, request):
        return False  # skills arrive from packs or the factory; the admin edits them

    # Who may change a skill is decided per object: the model permission, or a guardian grant
    # (`change_skill` on the skill, `change_domain` on its domain) to the person or their team.
    def _changeable(self, request):
        user = request.user
        skills = Skill.objects.select_related("domain", "current_version")
        if user.has_perm("skills.change_skill"):
            return skills
        by_skill = get_objects_for_user(user, "skills.change_skill", klass=Skill, accept_global_perms=False)
        by_domain = get_objects_for_user(user, "skills.change_domain", klass=Domain, accept_global_perms=False)
        return skills.filter(pk__in=by_skill.values("pk")) | skills.filter(domain__in=by_domain)

    def get_queryset(self, request):
        return self._changeable(request).distinct()

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and self._changeable(request).exists()

    def has_view_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        if not (request.user.is_active and request.user.is_staff):
            return False
        changeable = self._changeable(request)
        return changeable.filter(pk=obj.pk).exists() if obj is not None else changeable.exists()

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("skills.delete_skill")

    @admin.display(description="Live version")
    def live_version(self, obj: Skill) -> str:
        version = obj.current_version
        return (
            f"v{version.number} · {version.get_source_display()} · {version.created_at:%d %b %Y %H:%M}"
            if version
            else "—"
        )

    @admin.display(description="Preview")
    def preview(self, obj: Skill):
        if not obj.current_version:
            return "—"
        return mark_safe(f'<div class="skill-preview">{markdown_to_safe_html(obj.current_version.instructions)}</div>')  # noqa: S308 - sanitised by nh3

    def save_model(self, request, obj, form, change):
        # The form already parsed and validated the edit; saving it is one service call.
        with transaction.atomic():
            obj.save(update_fields=["is_active", "updated_at"])
            version = skill_version_create(
                domain=obj.domain, parsed=form.parsed, source=Source.ADMIN, author=request.user,
                note=form.cleaned_data["note"],
            )  # fmt: skip
        obj.refresh_from_db()
        messages.success(request, f"{obj.name} is live at v{version.number}.")

    def get_urls(self):
        return [
            path(
                "<int:skill_id>/diff/<int:version_id>/",
                self.admin_site.admin_view(self.diff_view),
                name="skills_skill_diff",
            ),
            path(
                "<int:skill_id>/rollback/<int:version_id>/",
                self.admin_site.admin_view(self.rollback_view),
                name="skills_skill_rollback",
            ),
            *super().get_urls(),
        ]

    def diff_view(self, request, skill_id: int, version_id: int):
        skill = get_object_or_404(Skill, pk=skill_id)
        if not self.has_change_permission(request, skill):
            raise PermissionDenied
        old = get_object_or_404(SkillVersion, pk=version_id, skill=skill)
        live = skill.current_version
        left, right = _diffable(old), _diffable(live)
        table = difflib.HtmlDiff(wrapcolumn=80).make_table(
            left, right, f"v{old.number}", f"v{live.number} (live)", context=True, numlines=3
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{skill.name}: v{old.number} → v{live.number}",
            "skill": skill,
            "diff_table": mark_safe(table),  # noqa: S308 - difflib escapes the content
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/skills/skill/diff.html", context)

    def rollback_view(self, request, skill_id: int, version_id: int):
        skill = get_object_or_404(Skill, pk=skill_id)
        if request.method != "POST" or not self.has_change_permission(request, skill):
            raise PermissionDenied
        version = get_object_or_404(SkillVersion, pk=version_id, skill=skill)
        skill_rollback(skill=skill, version=version)
        messages.success(request, f"{skill.name} rolled back: v{version.number} is live.")
        return redirect("admin:skills_skill_change", skill.pk)


@admin.register(SkillVersion)
class SkillVersionAdmin(admin.ModelAdmin):
    list_display = ["skill", "number", "source", "author", "created_at"]
    list_filter = ["source", "skill__domain"]
    search_fields = ["skill__name", "description", "sha256", "note"]
    readonly_fields = [f.name for f in SkillVersion._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SkillRunEventInline(admin.TabularInline):
    model = SkillRunEvent
    fields = ["seq", "type", "data", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SkillRun)
class SkillRunAdmin(admin.ModelAdmin):
    list_display = ["queued_at", "skill", "user", "team", "channel", "status", "model", "latency_ms", "cost_usd"]
    list_filter = ["status", "channel", "is_offline", "skill__domain", "skill", "tenant"]
    # An operator pastes a trace id from the tracing backend to find its run.
    search_fields = ["message", "answer", "error", "user__username", "id", "trace_id"]
    list_select_related = ["skill", "user", "team"]
    date_hierarchy = "queued_at"
    readonly_fields = [f.name for f in SkillRun._meta.fields]
    inlines = [SkillRunEventInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "skill_version", "channel", "updated_at"]
    list_filter = ["channel"]
    search_fields = ["title", "user__username"]
    readonly_fields = ["user", "skill_version", "channel", "created_at", "updated_at"]
