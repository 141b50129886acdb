"""Sessions ending push their websockets at once, in every process (through `user.<id>`).

- Signing out closes that session's sockets; the person's other sessions re-check and stay.
- Deactivating an account or changing its password makes all the person's sockets re-check,
  once the change is committed, instead of waiting for the periodic re-check.
"""

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from aspora.realtime import broadcast, user_group
from identity.sessions import session_digest
from tenants.models import User

SESSION_FIELDS = {"password", "is_active"}


@receiver(user_logged_out, dispatch_uid="identity.session_ended_push")
def session_ended_push(sender, request, user, **kwargs):
    if user is None or request is None:
        return
    # Sent before Django flushes the session: the digest says which one, so its sockets need not
    # wait to see it gone.
    broadcast(
        group=user_group(user.pk),
        event_type="session.ended",
        payload={"session": session_digest(request.session.session_key)},
    )


@receiver(pre_save, sender=User, dispatch_uid="identity.session_fields_seen")
def session_fields_seen(sender, instance: User, update_fields=None, raw=False, **kwargs):
    if raw or instance.pk is None or (update_fields is not None and not SESSION_FIELDS & set(update_fields)):
        return
    before = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    instance._session_fields_changed = before is not None and (
        before["password"] != instance.password or before["is_active"] != instance.is_active
    )


@receiver(post_save, sender=User, dispatch_uid="identity.session_recheck_push")
def session_recheck_push(sender, instance: User, **kwargs):
    if getattr(instance, "_session_fields_changed", False):
        instance._session_fields_changed = False
        group = user_group(instance.pk)
        transaction.on_commit(lambda: broadcast(group=group, event_type="session.ended", payload={"session": None}))
