"""On PostgreSQL a case closed on the alert page is captured below the app too, in the person's name."""

import pytest

from audit.models import AuditEvent, RowChange
from audit.services import audit_chain_verify
from tenants.models import User

pytestmark = pytest.mark.services


def test_closing_a_case_on_the_page_is_a_row_change_by_the_manager(client, case):
    client.force_login(User.objects.get(username="olivia"))

    client.post(f"/fincrime/alerts/{case.alert.number}/case/close/", {"outcome": "sar_filed"})

    change = RowChange.objects.get(table_name="fincrime_case", operation="UPDATE", row_id=str(case.pk))
    assert change.app_actor == "olivia"
    assert (change.old["closed_at"], change.new["outcome"]) == (None, "sar_filed")
    assert AuditEvent.objects.get(action="case.closed").actor_label == "olivia"
    assert audit_chain_verify().ok
