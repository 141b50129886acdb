"""The audit page and its CSV export: the same filters, the same scope (audit.selectors)."""

import csv
from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit.export import CSV_COLUMNS, audit_csv_cells
from audit.models import Outcome
from audit.retention import audit_online_since
from audit.selectors import (
    audit_archive_summary,
    audit_event_list_for_user,
    audit_filter_choices_for_user,
    audit_viewer_may,
)
from tenants.models import Team

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    person = forms.CharField(required=False, max_length=150)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False)
    domain = forms.CharField(required=False, max_length=64)
    skill = forms.CharField(required=False, max_length=64)
    channel = forms.CharField(required=False, max_length=16)
    action = forms.CharField(required=False, max_length=40)
    outcome = forms.ChoiceField(required=False, choices=[("", "Any"), *Outcome.choices])
    since = forms.DateField(required=False, label="From")
    until = forms.DateField(required=False, label="To")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = (
            Team.objects.all() if user.is_superuser else Team.objects.filter(tenant_id=user.tenant_id)
        )

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("“From” is after “To”: pick a From date on or before the To date.")
        return data

    def selector_kwargs(self) -> dict:
        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        since = data.get("since")
        until = data.get("until")
        return {
            **{key: data.get(key) or "" for key in ("person", "domain", "skill", "channel", "action", "outcome")},
            "team": data.get("team"),
            # No From date: the online window (the last 3 months, or longer if configured).
            "since": timezone.make_aware(datetime.combine(since, time.min), zone) if since else audit_online_since(),
            "until": timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min), zone)
            if until
            else None,
        }


def _filtered(request):
    if not audit_viewer_may(user=request.user):
        raise PermissionDenied("The audit is for ops managers, admins and staff.")
    form = AuditFilterForm(request.GET, user=request.user)
    rows = audit_event_list_for_user(user=request.user, **form.selector_kwargs()) if form.is_valid() else None
    return form, rows


@login_required
@require_GET
def audit_list(request):
    form, rows = _filtered(request)
    page = None
    if rows is not None:
        page = Paginator(rows.select_related("team"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/list.html",
        {
            "section": "audit",
            "form": form,
            "page": page,
            "choices": audit_filter_choices_for_user(user=request.user),
            "query": query.urlencode(),
            "online_since": audit_online_since(),
            "archive": audit_archive_summary(),
        },
        status=200 if page is not None else 400,
    )


class _Echo:
    def write(self, value):
        return value


@login_required
@require_GET
def audit_export_csv(request):
    form, rows = _filtered(request)
    if rows is None:
        problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        return render(request, "audit/list.html", {"form": form, "section": "audit", "problems": problems}, status=400)
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for row in rows.iterator(chunk_size=1000):
            yield writer.writerow(audit_csv_cells(row))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="aspora-audit-{stamp}.csv"'
    return response
