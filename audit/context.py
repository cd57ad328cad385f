"""Who is acting, for the audit log: the request being served (its user, once authenticated by
the session or by DRF's JWT, and its address) or a command run from a shell. Services read it
when they record an entry, so every entry point is covered without passing the actor down."""

import getpass
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class Actor:
    via: str  # an AuditEntry.Via value
    request: HttpRequest | None = None
    name: str = ""  # who ran a command (the shell's user), when there is no request


SYSTEM = Actor(via="system")  # Celery tasks, the loop, anything no one asked for
_current: ContextVar[Actor | None] = ContextVar("skylark_actor", default=None)


def current_actor() -> Actor:
    return _current.get() or SYSTEM


@contextmanager
def acting_from_shell() -> Iterator[None]:
    """Entries recorded inside are the CLI's, in the name of the shell's user."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    token = _current.set(Actor(via="cli", name=name))
    try:
        yield
    finally:
        _current.reset(token)


def _via(request: HttpRequest) -> str:
    if request.path.startswith("/api/"):
        return "api"
    if request.path.startswith("/admin/"):
        return "admin"
    return "web"


class AuditContextMiddleware:
    """Makes the request the acting context for whatever its view records."""

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._acall(request)
        token = _current.set(Actor(via=_via(request), request=request))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        token = _current.set(Actor(via=_via(request), request=request))
        try:
            return await cast(Awaitable[HttpResponse], self.get_response(request))
        finally:
            _current.reset(token)
