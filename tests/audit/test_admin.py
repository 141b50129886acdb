"""The admin shows the audit and nothing more: no add, no change, no delete, superusers included."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit import services as audit_services
from audit.archive import audit_archive
from audit.models import AuditEvent, AuditSegment
from audit.services import audit_event_append
from tests.factories import user_make


@pytest.fixture
def root_client(client, db):
    client.force_login(user_make("root", is_staff=True, is_superuser=True))
    return client


def test_a_superuser_can_list_and_read_but_not_add_change_or_delete(root_client):
    row = audit_event_append(action="run.started", summary="ana asked my-tickets")
    change_url = f"/admin/audit/auditevent/{row.pk}/change/"

    assert "ana asked my-tickets" in root_client.get("/admin/audit/auditevent/").content.decode()
    page = root_client.get(change_url).content.decode()
    assert "ana asked my-tickets" in page and 'name="_save"' not in page
    assert root_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert root_client.post(change_url, {"summary": "nothing"}).status_code == 403
    assert root_client.post(f"/admin/audit/auditevent/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = root_client.post(
        "/admin/audit/auditevent/", {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.get(pk=row.pk).summary == "ana asked my-tickets"


def test_archived_segments_are_listed_read_only(root_client, settings, monkeypatch):
    settings.ASPORA_RETENTION = {}
    long_ago = timezone.now() - timedelta(days=200)
    monkeypatch.setattr(audit_services.timezone, "now", lambda: long_ago)
    audit_event_append(action="run.started", summary="long ago")
    monkeypatch.undo()
    (segment,) = audit_archive()

    assert segment.storage_name in root_client.get("/admin/audit/auditsegment/").content.decode()
    assert root_client.get("/admin/audit/auditsegment/add/").status_code == 403
    assert root_client.post(f"/admin/audit/auditsegment/{segment.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditSegment.objects.get().sha256 == segment.sha256
