"""ORM work (and services that broadcast) on a thread of its own, for tests whose own thread
runs an event loop: there Django refuses ORM calls and async_to_sync cannot run.

The worker thread's database connection is closed afterwards, since nothing else would close it
and the test database cannot be dropped while it is open.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def _closing_connection(fn: Callable[..., T], *args, **kwargs) -> T:
    try:
        return fn(*args, **kwargs)
    finally:
        connection.close()


def in_thread(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run `fn` on a fresh thread and return its result, blocking until it is done (for sync
    code that has a loop underneath, such as Playwright's sync API)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_closing_connection, fn, *args, **kwargs).result()


async def in_thread_async(fn: Callable[..., T], *args, **kwargs) -> T:
    """Await `fn` run on a worker thread, so the event loop (WebSocket clients) goes on meanwhile."""
    return await asyncio.to_thread(_closing_connection, fn, *args, **kwargs)
