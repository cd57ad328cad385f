"""A TCP proxy that injects network faults between a client and an RTSP server.

Put it between the detection loop and the camera simulator (or between the publisher and the
receiver) and switch faults on and off while the stream runs:

    with FaultProxy(simulator.port) as proxy:
        url = proxy.url("door")     # rtsp://127.0.0.1:PROXY/door, forwarded to the simulator
        proxy.corrupt(rate=0.2)     # flip bytes in the payload of 20% of RTP packets
        proxy.down()                # reset every connection and refuse new ones
        proxy.up()                  # listen again on the same port

It also counts connections (connections_total, max_active), so a test can tell how many
clients were connected at once.
"""

import contextlib
import random
import socket
import struct
import threading
from typing import Self

from simulator.control import Managed

HOST = "127.0.0.1"
_CHUNK = 64 * 1024
_RTP_HEADER = 12


class FaultProxy(Managed):
    def __init__(self, target_port: int, target_host: str = HOST, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._connections: set[_Connection] = set()
        self._corrupt_rate = 0.0
        self._rng = random.Random(1)
        self.connections_total = 0
        self.max_active = 0
        self.packets_corrupted = 0

    # -- control -------------------------------------------------------------------------

    def start(self) -> Self:
        return self.up()

    def url(self, path: str = "") -> str:
        return f"rtsp://{HOST}:{self.port}/{path}"

    def up(self) -> Self:
        """Listen (again, on the same port after down()) and forward new connections."""
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept, args=(listener,), name="fault-proxy-accept", daemon=True
        )
        self._acceptor.start()
        return self

    def down(self) -> None:
        """Reset every open connection and stop listening: clients see a dead server."""
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the accept() blocked in the acceptor thread; close() alone does not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._acceptor is not None:
            self._acceptor.join(5)
            self._acceptor = None
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close(reset=True)
        for connection in connections:
            connection.join()

    def corrupt(self, rate: float) -> None:
        """From now on flip a few payload bytes in this share of RTP packets (0 = pass through).

        Only the payload is touched: the RTSP messages and the interleaved and RTP headers stay
        valid, so the stream keeps flowing and the damage reaches the video decoder.
        """
        self._corrupt_rate = rate

    def close(self) -> None:
        self.down()

    # -- forwarding ----------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # down()
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            connection = _Connection(self, client, server)
            with self._lock:
                self._connections.add(connection)
                self.connections_total += 1
                self.max_active = max(self.max_active, len(self._connections))
            connection.start()

    def _forget(self, connection: "_Connection") -> None:
        with self._lock:
            self._connections.discard(connection)

    def _maybe_corrupt(self, packet: bytearray) -> None:
        """Flip bytes in the payload of an RTP packet (in place), at the configured rate."""
        rate = self._corrupt_rate
        if rate <= 0 or len(packet) <= _RTP_HEADER + 4 or self._rng.random() >= rate:
            return
        header = _RTP_HEADER + 4 * (packet[0] & 0x0F)
        if packet[0] & 0x10 and len(packet) >= header + 4:  # header extension
            header += 4 + 4 * struct.unpack_from("!H", packet, header + 2)[0]
        # Keep the first payload bytes (the NAL/FU headers): the decoder gets damaged slices, not
        # a stream of unknown NAL types it would silently skip.
        first = header + 2
        if first >= len(packet):
            return
        for _ in range(4):
            index = self._rng.randrange(first, len(packet))
            packet[index] ^= 1 << self._rng.randrange(8)
        with self._lock:
            self.packets_corrupted += 1


class _Connection:
    """One proxied client: a thread per direction; the last one to finish closes both sockets."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self._lock = threading.Lock()
        self._closing = False
        self._running = 2
        self._threads = [
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True),
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(5)

    def close(self, reset: bool = False) -> None:
        """Wake both pumps (they then close the sockets). reset=True resets the client's side,
        as a network outage looks to it; the server's side is closed plainly either way."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        for sock in (self.client, self.server):
            try:
                if reset and sock is self.client:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    # SHUT_RD wakes the pump blocked in recv() without sending a FIN.
                    sock.shutdown(socket.SHUT_RD)
                else:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _finished(self) -> None:
        self.close()
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self.client.close()
            self.server.close()
            self.proxy._forget(self)

    def _pump(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        parser = _InterleavedParser(self.proxy._maybe_corrupt) if from_server else None
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                out = parser.feed(data) if parser is not None else data
                if out:
                    sink.sendall(out)
        except OSError:
            pass
        finally:
            self._finished()


class _InterleavedParser:
    """Splits an RTSP-over-TCP byte stream from the server into RTSP messages and interleaved
    packets ($, channel, 16-bit length, RTP/RTCP), handing RTP packets to `on_rtp` to modify."""

    def __init__(self, on_rtp) -> None:
        self._buffer = bytearray()
        self._on_rtp = on_rtp

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = bytearray()
        while self._buffer:
            if self._buffer[0] == 0x24:  # '$': an interleaved packet
                if len(self._buffer) < 4:
                    break
                channel = self._buffer[1]
                length = struct.unpack_from("!H", self._buffer, 2)[0]
                if len(self._buffer) < 4 + length:
                    break
                packet = self._buffer[4 : 4 + length]
                if channel % 2 == 0:  # even channels carry RTP, odd ones RTCP
                    self._on_rtp(packet)
                out += self._buffer[:4] + packet
                del self._buffer[: 4 + length]
            else:  # an RTSP message: headers, then Content-Length bytes of body
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                headers = bytes(self._buffer[:end]).decode("latin-1").lower()
                length = 0
                for line in headers.split("\r\n"):
                    if line.startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                total = end + 4 + length
                if len(self._buffer) < total:
                    break
                out += self._buffer[:total]
                del self._buffer[:total]
        return bytes(out)


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0): the peer's next read fails at once."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
