"""Bridges: the front doors.

Owns the web console's websocket consumers, the Slack bridge (slack-bolt), the WhatsApp webhook
and the `manage.py ask` terminal bridge. A bridge authenticates, resolves who is asking, calls the
one service that starts a run, and renders that run's events in its medium; it knows nothing of
how a run works.
"""
