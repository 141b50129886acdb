"""The Slack bridge: Events API, slash command and buttons in front of the Skills Executor.

`app.py` builds the bolt App lazily from the environment; listeners only acknowledge and hand
the payload to `jobs.py`, which runs in a thread (embedded default) or a Celery task
(production). Jobs resolve the Slack user through `ChannelIdentity`, start or confirm runs
through `skills.services`, and follow the run's stored events into a Slack thread.
"""
