"""Signing out ends that session's websockets at once, in every process (through `user.<id>`)."""

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from aspora.realtime import broadcast, user_group
from identity.sessions import session_digest


@receiver(user_logged_out, dispatch_uid="identity.session_ended_push")
def session_ended_push(sender, request, user, **kwargs):
    if user is None or request is None:
        return
    # Sent before Django flushes the session: the digest says which one, so its sockets need not
    # wait to see it gone; the person's other sessions re-check and stay.
    broadcast(
        group=user_group(user.pk),
        event_type="session.ended",
        payload={"session": session_digest(request.session.session_key)},
    )
