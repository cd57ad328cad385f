"""Daphne's TCP writes go out at once when nothing is queued before them.

Twisted buffers every write and sends it on the next turn of the event loop, once the reactor
says the socket is writable: for each WebSocket message that is an epoll registration, a loop
turn, the send and an epoll deregistration. With the asyncio reactor daphne runs on, registering
the writer alone took 28 % of daphne's CPU while it fanned alerts out to 1000 dashboards
(py-spy, docs/benchmarks.md). asyncio's own transports try the send first and fall back to
waiting only for what the socket did not take; install() makes Twisted's TCP connections do the
same. Ordering is kept: the shortcut is taken only while nothing is buffered, and whatever the
socket does not take (or an error) goes through Twisted's own buffered write, which also
handles a lost connection.

It replaces a method of Twisted's FileDescriptor and reads its private buffer state, so twisted
stays pinned (pyproject.toml); an upgrade must re-run tests/realtime and bench/fanout_capacity.py.
It is the one place where Skylark still reaches into another project's internals, kept because
the latency goal (p99 < 250 ms with 1000 dashboards on one daphne) is not held without it.
Measured with bench/ws_latency.py with and without it (bench/asgi_buffered_writes.py): figures
in docs/benchmarks.md, "Daphne's socket writes sent at once".
"""

from twisted.internet import abstract, tcp

_buffered_write = abstract.FileDescriptor.write


def _write(self: abstract.FileDescriptor, data: bytes) -> None:
    if (
        data
        and isinstance(self, tcp.Connection)
        and self.connected
        and not self._writeDisconnected
        and not self._tempDataBuffer
        and self.offset == len(self.dataBuffer)
    ):
        sent = self.writeSomeData(data)
        if isinstance(sent, int) and sent > 0:
            if sent == len(data):
                return
            data = data[sent:]
    _buffered_write(self, data)


def install() -> None:
    """Make Twisted's TCP connections in this process send at once when they can."""
    abstract.FileDescriptor.write = _write  # type: ignore[method-assign]  # replacing it is the point
