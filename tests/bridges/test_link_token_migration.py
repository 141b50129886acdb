"""Slack link tokens already sent survive the move to one provider-neutral ChannelLinkToken table."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("bridges", "0002_whatsappinbound")]
AFTER = [("bridges", "0003_channellinktoken")]


@pytest.mark.django_db(transaction=True)
def test_existing_slack_link_tokens_become_slack_channel_link_tokens():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps.get_model("bridges", "SlackLinkToken")
        expires = timezone.now() + timedelta(minutes=10)
        old.objects.create(digest="d" * 64, workspace="T0001", external_user_id="URAJ", expires_at=expires)

        executor.loader.build_graph()
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps.get_model("bridges", "ChannelLinkToken")

        token = new.objects.get()
        assert (token.digest, token.provider, token.workspace, token.external_user_id) == (
            "d" * 64, "slack", "T0001", "URAJ",
        )  # fmt: skip
        assert token.expires_at == expires and token.used_at is None
    finally:
        # Leave the schema as the rest of the suite expects it.
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
