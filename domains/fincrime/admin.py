from django.contrib import admin

from domains.fincrime.models import (
    Alert,
    Case,
    CaseNote,
    Customer,
    DispositionRequest,
    SanctionsEntry,
    SanctionsMatch,
    Transaction,
)


class CaseNoteInline(admin.TabularInline):
    model = CaseNote
    extra = 0
    readonly_fields = ["created_at", "author", "text"]


class SanctionsMatchInline(admin.TabularInline):
    model = SanctionsMatch
    extra = 0
    autocomplete_fields = ["entry"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["number", "type", "score", "customer", "status", "assignee", "created_at", "closed_at"]
    readonly_fields = ["closed_at"]  # set by the disposition service: retention counts from it
    list_filter = ["tenant", "team", "type", "status"]
    search_fields = ["number", "summary", "customer__name", "customer__reference"]
    list_select_related = ["customer", "assignee"]
    raw_id_fields = ["customer", "source_ticket", "transactions"]
    inlines = [SanctionsMatchInline, CaseNoteInline]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["reference", "name", "country", "risk_rating", "onboarded_at"]
    list_filter = ["tenant", "risk_rating", "country"]
    search_fields = ["reference", "name"]


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ["reference", "customer", "direction", "amount", "currency", "counterparty", "created_at"]
    list_filter = ["tenant", "direction", "currency"]
    search_fields = ["reference", "counterparty", "customer__name"]
    raw_id_fields = ["customer"]


@admin.register(SanctionsEntry)
class SanctionsEntryAdmin(admin.ModelAdmin):
    list_display = ["reference", "name", "list_name", "country", "program"]
    list_filter = ["list_name", "program"]
    search_fields = ["reference", "name"]


@admin.register(DispositionRequest)
class DispositionRequestAdmin(admin.ModelAdmin):
    list_display = ["alert", "requested_by", "decision", "decided_by", "requested_at", "decided_at"]
    list_filter = ["decision"]
    search_fields = ["alert__number", "reason"]
    raw_id_fields = ["alert"]


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["alert", "opened_by", "opened_at", "closed_at", "outcome"]
    # Set by case_close / case_reopen, with a note and an audit event: retention counts from closed_at.
    readonly_fields = ["closed_at", "closed_by", "outcome", "outcome_detail"]
    search_fields = ["alert__number", "reason"]
    raw_id_fields = ["alert"]
