import pytest

from domains.fincrime.demo import fincrime_demo_seed
from domains.fincrime.models import OPEN_ALERT_STATUSES, Alert, Case
from domains.fincrime.services import alert_escalate_to_case
from tenants.context import Channel
from tenants.demo import demo_seed
from tenants.models import User
from tenants.services import asker_context_build
from tests.skills.conftest import demo, eager_tasks  # noqa: F401 - shared fixtures


@pytest.fixture
def case(db) -> Case:
    """An alert of Aspora Remit's FinCrime team that Raj (analyst) escalated to a case."""
    demo_seed(password=None)
    fincrime_demo_seed(count=40)
    alert = Alert.objects.filter(status__in=OPEN_ALERT_STATUSES, case__isnull=True).order_by("pk").first()
    raj = asker_context_build(user=User.objects.get(username="raj"), channel=Channel.WEB)
    return alert_escalate_to_case(context=raj, alert=alert, reason="structuring below the reporting threshold")
