"""Who a database write is made for: the person behind the row changes the triggers capture
(docs/audit.md#changes-below-the-app).

The PostgreSQL triggers of `audit/migrations/0002_postgres_triggers.py` read the person from
`current_setting('aspora.actor', true)`. The entry points that act for a person wrap their work in
`audit_actor(...)`: the request middleware (`audit.middleware`, a session or, through ninja's auth
setting `request.user`, an API token), the console consumer, and the executor running a skill's
tools for its asker. `audit_actor` only records the person in a context variable; the execute
wrapper below puts it on the connection, right before each write statement, and nowhere else.

Why transaction-local (`set_config(..., true)`) and not a session setting reset at the end:
connections come from a psycopg 3 pool and go back to it after every request, task and tool call.
A session setting outlives whoever set it: a reset that is skipped (an exception before it, a
thread that hands its connection back on its own, a write by code that never set a person) leaves
the previous person's name on the pooled connection, to be stamped on the next borrower's rows. A
transaction-local setting ends with its transaction, commit or rollback, so no name can reach
another transaction, let alone another borrower. It has to be set inside the transaction that
writes, which is why it is set per write statement: inside the caller's transaction when there is
one, otherwise in a transaction opened for that one statement (what autocommit would have done).
A write with no person sets nothing, and the trigger records ''. Nor does a write to a table no
trigger captures (`CAPTURED_TABLES`): a run's events, a session, a cache row pay nothing for it.

On SQLite nothing is installed: there are no triggers to read it.
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

# The person's label, or a callable giving it (a request's user is only known once auth ran).
_actor: ContextVar[str | Callable[[], str]] = ContextVar("aspora_audit_actor", default="")
_resolving: ContextVar[bool] = ContextVar("aspora_audit_actor_resolving", default=False)
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|MERGE|WITH)\b", re.IGNORECASE)
# The tables with an `audit_capture` trigger (migrations 0002 and 0003; tests/audit/test_actor.py
# checks this against the database's triggers).
CAPTURED_TABLES = (
    "ecm_ticket",
    "fincrime_alert",
    "fincrime_case",
    "fincrime_casenote",
    "skills_skillgroupobjectpermission",
    "skills_skilluserobjectpermission",
    "skills_domaingroupobjectpermission",
    "skills_domainuserobjectpermission",
    "tenants_membership",
    "tenants_user_groups",
    "tenants_user_user_permissions",
    "auth_group_permissions",
    "factory_risktier",
    "factory_riskrule",
)
_CAPTURED = re.compile(r"\b(?:" + "|".join(CAPTURED_TABLES) + r")\b", re.IGNORECASE)
MAX_LENGTH = 150  # audit.RowChange.app_actor


def audit_actor_label(user) -> str:
    """The name rows are stamped with: the username, as `AuditEvent.actor_label` names people."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return user.get_username()[:MAX_LENGTH]


@contextmanager
def audit_actor(*, user=None, request=None) -> Iterator[None]:
    """Writes made inside this block on PostgreSQL are captured as made by `user`, or by whoever
    `request.user` is at the time of the write (a session, or an API token once ninja's auth ran)."""
    if request is not None:
        value: str | Callable[[], str] = lambda: audit_actor_label(getattr(request, "user", None))  # noqa: E731
    else:
        value = audit_actor_label(user)
    token = _actor.set(value)
    try:
        yield
    finally:
        _actor.reset(token)


def audit_actor_current() -> str:
    """The label of the person the current writes are made for; '' for none."""
    value = _actor.get()
    if not callable(value):
        return value
    if _resolving.get():  # loading request.user may itself write (a flushed session): no person
        return ""
    token = _resolving.set(True)
    try:
        return value()
    finally:
        _resolving.reset(token)


def _actor_on_write(execute, sql, params, many, context):
    connection = context["connection"]
    if isinstance(sql, str) and not (_WRITE.match(sql) and _CAPTURED.search(sql)):
        return execute(sql, params, many, context)
    label = audit_actor_current()
    if not label or connection.needs_rollback:
        return execute(sql, params, many, context)
    if not connection.get_autocommit():  # in a transaction: the setting lives exactly as long
        _set_local(connection, label)
        return execute(sql, params, many, context)
    with transaction.atomic(using=connection.alias):
        _set_local(connection, label)
        return execute(sql, params, many, context)


def _set_local(connection, label: str) -> None:
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        cursor.execute("SELECT set_config('aspora.actor', %s, true)", [label])


def audit_actor_install(sender=None, connection=None, **kwargs) -> None:
    """`connection_created` receiver: put the actor on every PostgreSQL connection's writes."""
    if connection.vendor != "postgresql" or _actor_on_write in connection.execute_wrappers:
        return
    # First, so `connection.execute_wrapper()` blocks open around us pop their own wrapper, not ours.
    connection.execute_wrappers.insert(0, _actor_on_write)
