from django.contrib import admin

from domains.ecm.models import Ticket, TicketEvent


class TicketEventInline(admin.TabularInline):
    model = TicketEvent
    extra = 0
    readonly_fields = ["at", "actor", "action", "detail"]
    can_delete = False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "title",
        "kind",
        "corridor",
        "amount",
        "currency",
        "status",
        "priority",
        "sla_due_at",
        "assignee",
        "team",
    ]
    list_filter = ["tenant", "team", "status", "kind", "priority"]
    search_fields = ["number", "title", "customer", "corridor"]
    list_select_related = ["assignee", "team"]
    date_hierarchy = "sla_due_at"
    inlines = [TicketEventInline]
