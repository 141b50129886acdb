"""Admin for model prices and budgets: ops managers change a price or raise a budget here, no deploy."""

from django.contrib import admin
from django.utils import timezone

from usage.models import Budget, ModelPrice
from usage.selectors import budget_spend
from usage.services import month_bounds


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ["model", "input_usd_per_mtok", "output_usd_per_mtok", "effective_from", "note"]
    list_filter = ["model"]
    search_fields = ["model", "note"]
    date_hierarchy = "effective_from"


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["__str__", "tenant", "scope", "monthly_limit_usd", "warn_at_percent", "spent_this_month", "enabled"]
    list_filter = ["scope", "enabled", "tenant"]
    list_select_related = ["tenant", "team", "domain", "skill"]
    readonly_fields = ["updated_by", "updated_at"]
    fields = ["tenant", "scope", "team", "domain", "skill", "monthly_limit_usd", "warn_at_percent", "enabled"]

    @admin.display(description="Spent this month (USD)")
    def spent_this_month(self, obj: Budget) -> str:
        start, end = month_bounds(timezone.now())
        return f"{budget_spend(budget=obj, start=start, end=end):,.2f}"

    def save_model(self, request, obj: Budget, form, change) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
