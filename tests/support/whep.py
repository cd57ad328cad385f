"""A test-only stand-in for MediaMTX's WHEP endpoint: real WebRTC video from aiortc, over HTTP.

POST {path}/whep with an SDP offer answers 201 + SDP + Location; DELETE on the Location ends the
session; CORS headers and OPTIONS preflights are answered the way MediaMTX answers them.
"""

import asyncio
import fractions
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from unittest import mock

import aioice.ice
import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)

WIDTH, HEIGHT, FPS = 320, 180, 15
T = TypeVar("T")


class MovingPatternTrack(VideoStreamTrack):
    """A colour-bar picture with a white bar sweeping across it, so every frame differs."""

    def __init__(self) -> None:
        super().__init__()
        self.background = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        colours = [(200, 60, 60), (60, 200, 60), (60, 60, 200), (200, 200, 60)]
        for i, colour in enumerate(colours):
            self.background[:, i * WIDTH // 4 : (i + 1) * WIDTH // 4] = colour
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        # Paced at FPS rather than VideoStreamTrack's 30 fps: less encoding work on 2 cores.
        await asyncio.sleep(1 / FPS)
        image = self.background.copy()
        x = (self.count * 8) % WIDTH
        image[:, x : x + 12] = 255
        self.count += 1
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = self.count * (90000 // FPS)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


@dataclass
class WhepRequest:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class WhepResponder:
    """Serves WHEP on 127.0.0.1:`port` from its own thread and asyncio loop."""

    port: int
    allowed_origin: str = "*"
    requests: list[WhepRequest] = field(default_factory=list)
    sessions: dict[str, RTCPeerConnection] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = field(default=None, init=False)

    @property
    def running(self) -> bool:
        return self.server is not None

    def start(self) -> "WhepResponder":
        """Listen (again, after stop(), on the same port)."""
        # aioice leaves 127.0.0.1 out of its host candidates; here everything runs on loopback.
        self._loopback_only = mock.patch.object(
            aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"]
        )
        self._loopback_only.start()
        self.loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._loop_thread.start()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        self.server.daemon_threads = True
        self._http_thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._http_thread.start()
        return self

    def stop(self) -> None:
        """Close every session and the listening socket: later connections are refused."""
        self.server.shutdown()
        self.server.server_close()
        asyncio.run_coroutine_threadsafe(self._close_all(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._loop_thread.join(10)
        self.loop.close()
        self._loopback_only.stop()
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def wait_for(self, method: str, timeout: float = 10) -> WhepRequest:
        """The first request with `method`, waiting for one to arrive."""
        if not self.wait_until(lambda: any(r.method == method for r in self.requests), timeout):
            raise TimeoutError(f"no {method} request reached the WHEP responder")
        return next(r for r in self.requests if r.method == method)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15) -> T:
        """Run `coro` on the responder's loop from an HTTP handler thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def answer(self, offer_sdp: str) -> tuple[str, str]:
        """Answer an offer with the moving pattern; returns (session id, answer SDP)."""
        # No STUN server: aiortc's default would reach out to a public one.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        await pc.setRemoteDescription(
            RTCSessionDescription(sdp=_without_mdns(offer_sdp), type="offer")
        )
        track = MovingPatternTrack()
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video":
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly"
                # VP8 keeps aiortc's encoder cheap and every Chromium decodes it.
                vp8 = [
                    c
                    for c in RTCRtpSender.getCapabilities("video").codecs
                    if c.mimeType in ("video/VP8", "video/rtx")
                ]
                transceiver.setCodecPreferences(vp8)
        await pc.setLocalDescription(await pc.createAnswer())  # gathers all candidates
        session = uuid.uuid4().hex
        self.sessions[session] = pc
        return session, pc.localDescription.sdp

    async def close(self, session: str) -> bool:
        pc = self.sessions.pop(session, None)
        if pc is None:
            return False
        await pc.close()
        return True

    async def _close_all(self) -> None:
        for session in list(self.sessions):
            await self.close(session)


def _without_mdns(sdp: str) -> str:
    """Drop the browser's obfuscated `<uuid>.local` host candidates.

    Resolving them would send mDNS multicast onto the network. The browser's connectivity checks
    still reach 127.0.0.1 and aioice learns their source as peer-reflexive candidates.
    """
    lines = sdp.splitlines()
    kept = [line for line in lines if not (line.startswith("a=candidate") and ".local " in line)]
    return "\r\n".join(kept) + "\r\n"


def _handler_for(responder: WhepResponder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # requests are recorded in responder.requests instead

        def _record(self) -> None:
            responder.requests.append(
                WhepRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}
                )
            )

        def _reply(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Access-Control-Allow-Origin", responder.allowed_origin)
            self.send_header("Access-Control-Allow-Methods", "OPTIONS, GET, POST, PATCH, DELETE")
            self.send_header(
                "Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match"
            )
            self.send_header("Access-Control-Expose-Headers", "Link, Location, ETag")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            # No keep-alive: after stop() nothing may reach the responder, as with MediaMTX down.
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def do_OPTIONS(self) -> None:
            self._record()
            self._reply(204)

        def do_POST(self) -> None:
            self._record()
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            path = self.path.split("?", 1)[0]
            if not path.endswith("/whep"):
                self._reply(404)
                return
            if self.headers.get("Content-Type") != "application/sdp":
                self._reply(400, b"offer must be application/sdp")
                return
            session, answer = responder.run(responder.answer(body.decode()))
            self._reply(
                201,
                answer.encode(),
                {"Content-Type": "application/sdp", "Location": f"{path}/{session}"},
            )

        def do_DELETE(self) -> None:
            self._record()
            session = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
            self._reply(200 if responder.run(responder.close(session)) else 404)

    return Handler
