"""What-if for the live-feed benchmarks: Skylark's ASGI application with Twisted's own buffered
TCP write, as without config/socket_writes.py.

    .venv/bin/python bench/ws_latency.py --asgi bench.asgi_buffered_writes:application
    .venv/bin/python bench/fanout_capacity.py --asgi bench.asgi_buffered_writes:application
"""

from twisted.internet import abstract

twisted_write = abstract.FileDescriptor.write

from config.asgi import application  # noqa: E402  (installs the shortcut, undone below)

abstract.FileDescriptor.write = twisted_write  # type: ignore[method-assign]

__all__ = ["application"]
