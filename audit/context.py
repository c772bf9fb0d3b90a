"""Who is acting: set per request (middleware), per Celery task and per command, and
handed to the database, whose triggers write the trail (``audit.triggers``).

In Python the actor is a ``contextvars`` variable (``current_actor``, ``acting_as``). The
database learns it through django-pghistory's context: while an actor is set, each
writing statement of the thread's connection carries it as a transaction-local setting
(``pghistory.context_metadata``, JSON ``{"user": id, "actor": name, "ip": address}``),
prepended to the statement itself, so no statement is added and no round trip either.
``acting_as`` nests: the inner actor holds inside, the outer one is back after it. A
transaction that goes on after the outermost ``acting_as`` (an ``atomic()`` around it)
is told that no actor is set any more, by its next writing statement (prepended too).

With no actor set, the triggers record ``system``; a management command's connections
name the command instead (``command import_ar``): ``use_command_actor`` sets that as
each new connection's session default, which a nested ``acting_as`` overrides for its
own statements.
"""

import contextvars
import ipaddress
import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import pghistory
import psycopg
from django.db import connection
from django.db.backends.signals import connection_created

# The setting the triggers read, the one pghistory.context writes.
SETTING = "pghistory.context_metadata"


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    name: str
    ip: str | None = None


SYSTEM = Actor(None, "system")
_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)
_process_actor = SYSTEM


def current_actor() -> Actor:
    return _current.get() or _process_actor


def metadata(actor: Actor) -> dict:
    """What the database is told of ``actor`` (always the same keys, so that an inner
    actor replaces every one of the outer actor's)."""
    return {"user": actor.user_id, "actor": actor.name[:150], "ip": actor.ip}


@contextmanager
def acting_as(actor: Actor):
    outermost = _current.get() is None
    if outermost:
        _ForgetOnNextWrite.cancel()
    token = _current.set(actor)
    try:
        # Outermost: starts pghistory's tracking on this thread's connection; nested:
        # replaces the metadata of the tracking already on.
        with pghistory.context(**metadata(actor)):
            yield actor
    finally:
        _current.reset(token)
        # Nested: the outer actor again (outermost: tracking is off, nothing to do).
        pghistory.context(**metadata(current_actor()))
        if outermost and connection.in_atomic_block:
            _ForgetOnNextWrite.arm()


class _ForgetOnNextWrite:
    """The setting is local to the transaction: one that goes on after the outermost
    actor would keep it for its later statements, which nobody acts for. This execute
    wrapper prepends the process's default actor to the connection's next writing
    statement (as pghistory prepends the actor), then removes itself; in a later
    transaction, where the setting is gone already, it sets the default it has."""

    # Statements that take no prefix (pghistory's list: reads, DDL, transaction control).
    IGNORED = pghistory.runtime.IGNORED_SQL_PREFIXES

    def __call__(self, execute, sql, params, many, context):
        text = sql.decode() if isinstance(sql, bytes) else sql
        cursor = context["cursor"]
        if (
            many
            or text.strip().lower().startswith(self.IGNORED)
            or getattr(cursor, "name", None)
            or cursor.connection.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        ):
            return execute(sql, params, many, context)
        self.cancel()
        value = json.dumps(metadata(_process_actor))
        if isinstance(params, dict):
            prefix = f"SELECT set_config('{SETTING}', %(audit__default_actor)s, true); "
            params = {**params, "audit__default_actor": value}
        else:
            prefix = f"SELECT set_config('{SETTING}', %s, true); "
            params = (value, *(params or ()))
        result = execute(prefix + text, params, many, context)
        while result is not None and result.nextset():  # on to the statement's own result
            pass
        return result

    @classmethod
    def arm(cls) -> None:
        if not any(isinstance(w, cls) for w in connection.execute_wrappers):
            connection.execute_wrappers.insert(0, cls())

    @classmethod
    def cancel(cls) -> None:
        connection.execute_wrappers[:] = [w for w in connection.execute_wrappers if not isinstance(w, cls)]


def _valid_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def actor_for_user(user, ip: str | None = None) -> Actor:
    ip = _valid_ip(ip)
    if user is None or not getattr(user, "is_authenticated", False):
        return Actor(None, "anonymous", ip)
    return Actor(user.pk, user.get_username(), ip)


class AuditActorMiddleware:
    """The signed-in user (and their address) is the actor of everything the request does."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ip = request.META.get("REMOTE_ADDR") or None
        with acting_as(actor_for_user(getattr(request, "user", None), ip)):
            return self.get_response(request)


# --- Jobs: Celery tasks and management commands ---------------------------------------


def task_prerun(task_id=None, task=None, **kwargs):
    """Celery ``task_prerun``: the task is the actor of what it does."""
    task.request._audit_actor = acting_as(Actor(None, f"task {task.name}"[:150]))
    task.request._audit_actor.__enter__()


def task_postrun(task_id=None, task=None, **kwargs):
    actor = getattr(task.request, "_audit_actor", None)
    if actor is not None:
        task.request._audit_actor = None
        actor.__exit__(None, None, None)


def command_name(argv: list[str]) -> str | None:
    """The management command this process runs (``manage.py NAME ...``), if any."""
    if len(argv) > 1 and argv[0].endswith("manage.py"):
        return argv[1]
    return None


def _set_session_actor(sender, connection, **kwargs):
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, false)", [SETTING, json.dumps(metadata(_process_actor))])


def use_command_actor(argv: list[str] | None = None) -> Actor | None:
    """In a ``manage.py`` process, the command is the actor when no other is set: in
    Python, and in the database as each new connection's session default."""
    global _process_actor
    name = command_name(sys.argv if argv is None else argv)
    if name is None:
        return None
    _process_actor = Actor(None, f"command {name}"[:150])
    connection_created.connect(_set_session_actor, dispatch_uid="audit.command_actor")
    return _process_actor
