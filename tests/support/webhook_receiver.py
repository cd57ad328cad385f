"""A real HTTP server standing in for a webhook receiver: it checks each request's signature as
a user's receiver would, keeps what it got, and can be told to fail, hang or redirect."""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from events.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.status = 200  # what it answers; set 500 to make deliveries fail
        self.delay_s = 0.0  # how long it takes to answer
        self.redirect_to = ""  # non-empty: answer 302 to it
        self.requests = 0  # every request that arrived, whatever it was answered
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests += 1
                headers = {k: v for k, v in self.headers.items()}
                ok = verify(
                    receiver.secret,
                    int(headers.get(TIMESTAMP_HEADER, "0")),
                    body,
                    headers.get(SIGNATURE_HEADER, ""),
                )
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                status = receiver.status
                if status < 300 and not receiver.redirect_to:
                    # Only what was answered with success counts as received.
                    with receiver._lock:
                        receiver.received.append(Received(headers, body, ok))
                self.send_response(302 if receiver.redirect_to else status)
                if receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.event for r in self.received]
