"""The Slack bridge: Events API, slash command and buttons in front of the Skills Executor.

`/slack/events` only acknowledges (`ack.py`, on the event loop: verify, dedupe, queue); `jobs.py`
then runs in a thread (embedded default) or a Celery task (production), hands the raw request to
bolt (`app.py`), whose listeners resolve the Slack user through `ChannelIdentity`, start or
confirm runs through `skills.services`, and follow the run's stored events into a Slack thread
(`follow.py`). See docs/bridges.md.
"""
