"""Who is acting: set per request (middleware), per Celery task and per command.

A ``contextvars`` variable, so it follows the code into threads started with
``contextvars.copy_context`` and never leaks between requests or tasks.
"""

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    name: str
    ip: str | None = None


SYSTEM = Actor(None, "system")
_current: contextvars.ContextVar[Actor] = contextvars.ContextVar("audit_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _current.get()


@contextmanager
def acting_as(actor: Actor):
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


def actor_for_user(user, ip: str | None = None) -> Actor:
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
