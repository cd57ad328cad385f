"""Keyset pages of alerts, newest first, shared by the API and the dashboard's history page.

A page seeks from the (created_at, id) of the row it continues from: no COUNT, no OFFSET, and
alerts that arrive while someone pages neither shift nor repeat rows.
"""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q, QuerySet

from .models import Alert

OLDER, NEWER = "o", "n"
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Page:
    alerts: list[Alert]
    older: str | None  # cursor of the next page towards the oldest alert, if there is one
    newer: str | None  # cursor of the page before this one (towards the newest), if any


def encode_cursor(direction: str, alert: Alert) -> str:
    raw = f"{direction}{alert.created_at.astimezone(UTC).isoformat()},{alert.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, datetime, int]:
    """(direction, created_at, id) of a cursor this module made; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, rest = raw[:1], raw[1:]
        created_at, _, pk = rest.rpartition(",")
        position = datetime.fromisoformat(created_at).astimezone(UTC), int(pk)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"malformed cursor: {exc}") from exc
    # Only what encode_cursor writes: a UTC time, a direction, an id PostgreSQL can hold.
    if direction not in (OLDER, NEWER) or not 0 < position[1] <= MAX_ID:
        raise ValueError("malformed cursor")
    if raw != f"{direction}{position[0].isoformat()},{position[1]}":
        raise ValueError("malformed cursor")
    return direction, *position


def keyset_page(alerts: QuerySet[Alert], cursor: str | None, size: int) -> Page:
    """The page `cursor` points to (the newest alerts when None); ValueError if it is malformed."""
    if not cursor:
        rows = list(alerts.order_by("-created_at", "-id")[: size + 1])
        return _page(rows[:size], has_older=len(rows) > size, has_newer=False)
    direction, created_at, pk = decode_cursor(cursor)
    if direction == NEWER:
        newer = alerts.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=pk))
        rows = list(newer.order_by("created_at", "id")[: size + 1])
        return _page(rows[:size][::-1], has_older=True, has_newer=len(rows) > size)
    older = alerts.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    rows = list(older.order_by("-created_at", "-id")[: size + 1])
    return _page(rows[:size], has_older=len(rows) > size, has_newer=True)


def _page(alerts: list[Alert], *, has_older: bool, has_newer: bool) -> Page:
    return Page(
        alerts=alerts,
        older=encode_cursor(OLDER, alerts[-1]) if alerts and has_older else None,
        newer=encode_cursor(NEWER, alerts[0]) if alerts and has_newer else None,
    )
