"""Webhook signatures, as Stripe and GitHub do them: HMAC-SHA256 of `timestamp.body` with the
endpoint's secret. Receivers recompute it and reject old timestamps (replays)."""

import hashlib
import hmac

SIGNATURE_HEADER = "X-Skylark-Signature"
TIMESTAMP_HEADER = "X-Skylark-Timestamp"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Skylark-Signature value: `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """What a receiver does (tests use it; README shows it): constant-time comparison."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)
