"""Notifications as Slack direct messages, for people with a linked Slack identity."""

from bridges.slack.config import slack_config
from bridges.slack.dispatch import slack_job_submit
from tenants.models import ChannelIdentity, User


def slack_notification_deliver(*, user: User, title: str, text: str, link: str = "") -> None:
    """Queue a DM per linked Slack identity; nothing when the bridge is off or the person is unlinked."""
    if not slack_config().is_configured:
        return
    for identity in ChannelIdentity.objects.filter(user=user, provider=ChannelIdentity.Provider.SLACK):
        body = {
            "team_id": identity.workspace,
            "slack_user": identity.external_user_id,
            "title": title,
            "text": text,
            "link": link,
        }
        slack_job_submit(kind="notify", body=body)


def slack_notification_send(body: dict) -> None:
    from bridges.slack.client import slack_client_for

    config = slack_config()
    client = slack_client_for(team_id=body["team_id"])
    channel = client.conversations_open(users=body["slack_user"])["channel"]["id"]
    link = f"\n<{config.public_url.rstrip('/')}{body['link']}|Open in Aspora>" if body.get("link") else ""
    client.chat_postMessage(channel=channel, text=f"*{body['title']}*\n{body['text']}{link}")
