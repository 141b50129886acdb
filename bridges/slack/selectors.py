"""Reads of the Slack bridge."""

from bridges.models import SlackMessage
from skills.models import SkillRun


def slack_message_last_for_run(*, run: SkillRun) -> SlackMessage | None:
    """The message that showed the run's latest events: a resumed run carries on after it."""
    return SlackMessage.objects.filter(run=run).order_by("-last_seq", "-created_at").first()
