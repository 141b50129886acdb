from django.contrib import admin

from domains.fraud.models import Condition, Rule, Transaction


class ConditionInline(admin.TabularInline):
    model = Condition
    extra = 0


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "enabled", "fires_when", "updated_at")
    list_filter = ("tenant", "enabled")
    search_fields = ("name", "description")
    inlines = [ConditionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tenant").prefetch_related("conditions")

    @admin.display(description="Fires when")
    def fires_when(self, rule: Rule) -> str:
        return " and ".join(condition.text for condition in rule.conditions.all())


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ("id", "tenant", "amount", "currency", "velocity", "country_risk", "device_age_days", "label")
    list_filter = ("tenant", "label", "country_risk")
    search_fields = ("=id",)
    list_select_related = ("tenant",)
    # A million rows: no exact count on every page, and no full-table sort.
    show_full_result_count = False
    ordering = ("-id",)
