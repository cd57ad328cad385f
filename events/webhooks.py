"""Sending webhook requests: one signed POST per delivery, over a kept-alive connection for a
run of deliveries to one endpoint; redirects are never followed, the address is checked once a
run (destinations.refused_address)."""

import http.client
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from .destinations import refused_address
from .models import Delivery, WebhookEndpoint
from .signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature

USER_AGENT = "Skylark-Webhooks/1"


@dataclass(frozen=True)
class Attempt:
    ok: bool
    response_code: int | None
    latency_ms: int
    error: str


def headers_for(delivery: Delivery, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Skylark-Event": delivery.event.type,
        "X-Skylark-Event-Id": str(delivery.event.event_id),
        "X-Skylark-Delivery": str(delivery.pk),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


class WebhookSender:
    """POSTs deliveries to one endpoint, reusing its connection while the receiver keeps it."""

    def __init__(self, endpoint: WebhookEndpoint) -> None:
        self.endpoint = endpoint
        parts = urlsplit(endpoint.url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.refusal = refused_address(self.host)
        self.connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        timeout = settings.WEBHOOK_TIMEOUT_S
        if self.https:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _post(self, body: bytes, headers: dict[str, str]) -> int:
        reused = self.connection is not None
        if self.connection is None:
            self.connection = self._connect()
        try:
            self.connection.request("POST", self.path, body, headers)
            response = self.connection.getresponse()
            response.read(65536)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
            # The receiver closed the idle kept-alive connection: once more, on a new one.
            return self._post(body, headers)
        except Exception:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status

    def send(self, delivery: Delivery, payload: dict[str, Any]) -> Attempt:
        if self.refusal:
            return Attempt(False, None, 0, f"refused: {self.refusal}")
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = headers_for(delivery, self.endpoint.secret, body, int(time.time()))
        started = time.monotonic()
        try:
            code = self._post(body, headers)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            elapsed = int((time.monotonic() - started) * 1000)
            return Attempt(False, None, elapsed, f"{type(exc).__name__}: {exc}"[:300])
        elapsed = int((time.monotonic() - started) * 1000)
        if 200 <= code < 300:
            return Attempt(True, code, elapsed, "")
        error = f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
        return Attempt(False, code, elapsed, error)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
