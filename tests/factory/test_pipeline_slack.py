"""The promise of the factory's skill path: seconds after a PM's spec deploys, a manager mentions
the bot in Slack in their own words and the new skill answers in the thread."""

import json
import time
from pathlib import Path

from django.conf import settings as django_settings

from factory.models import RunStatus
from factory.services import factory_run_queue
from skills.models import SkillRun
from tenants.models import User
from tests.bridges.conftest import drain, linked, mention, post_event, slack_api, slack_env  # noqa: F401
from tests.skills.conftest import demo, eager_tasks  # noqa: F401 - fixtures

SPEC = Path(django_settings.BASE_DIR) / "factory" / "specs" / "ecm-stale-escalations.md"


def test_a_deployed_skill_answers_a_slack_mention_seconds_later(
    client,
    factory_world,
    linked,  # noqa: F811 - the imported fixture
    slack_env,  # noqa: F811 - the imported fixture
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        run = factory_run_queue(requester=User.objects.get(username="paula"), spec_text=SPEC.read_text())
    run.refresh_from_db()
    assert run.status == RunStatus.DEPLOYED, run.stop_reason
    deployed_at = time.monotonic()

    response = post_event(client, mention("which escalations have gone stale?", user="UOMAR", event_id="EvF1"))
    assert response.status_code == 200
    drain()

    asked = SkillRun.objects.get(channel="slack")
    assert (asked.user.username, asked.skill.name) == ("omar", "stale-escalations")
    answer = slack_env.of("chat.update")[-1].params
    assert "#1048" in answer["text"] + json.dumps(answer.get("blocks", []))
    assert time.monotonic() - deployed_at < 10
