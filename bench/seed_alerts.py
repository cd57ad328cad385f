"""Seeds the benchmark database with alerts fast: 1,000,000 over 20 cameras by default, spread over
the last 30 days, through PostgreSQL COPY (not the service: no snapshot files, no broadcasts).

Rows look like the loop's: ids follow time, 1 or 2 faces with boxes, a snapshot name (files are
not written), older alerts mostly acknowledged. A 21st, quiet camera gets 200 alerts from 25 days
ago. Then VACUUM ANALYZE, as autovacuum would.

    .venv/bin/python bench/seed_alerts.py [--alerts 1000000] [--cameras 20] [--drop]

Run alone it seeds skylark_bench_alerts and keeps it (alerts_scale.py reuses it with --keep-db);
--drop deletes that database instead.
"""

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.common import bench_django, drop_database, say

DB_NAME = "skylark_bench_alerts"
BATCH = 50_000


def ensure_cameras(count: int) -> list[int]:
    from cameras.models import Camera

    ids = []
    for index in range(count):
        camera, _ = Camera.objects.get_or_create(
            name=f"Bench camera {index + 1:02d}",
            defaults={"url": f"rtsp://10.0.0.{index + 10}:554/stream1", "location": "Bench"},
        )
        ids.append(camera.pk)
    return ids


def seed(
    total: int,
    camera_ids: list[int],
    days: int,
    user_id: int,
    seed: int = 1,
    end: timedelta = timedelta(minutes=1),
) -> float:
    """COPY `total` alerts spread over `days` days ending `end` ago; returns the seconds it took
    (VACUUM ANALYZE included)."""
    from django.db import connection

    started = time.monotonic()
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC) - end
    span_s = days * 86400
    # Sorted offsets: ids then follow time, as they do when the loop inserts alerts.
    offsets = np.sort(rng.uniform(0, span_s, total))
    cameras = rng.choice(camera_ids, total)
    faces = np.where(rng.random(total) < 0.9, 1, 2)
    xs = rng.integers(0, 1100, total)
    ys = rng.integers(40, 500, total)
    acked = rng.random(total) < 0.8
    start = now - timedelta(seconds=span_s)
    columns = (
        "camera_id, created_at, face_count, boxes, snapshot, acknowledged_at, acknowledged_by_id"
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3: COPY through the driver
        with raw.copy(f"COPY alerts_alert ({columns}) FROM STDIN") as copy:
            for first in range(0, total, BATCH):
                lines = []
                for i in range(first, min(first + BATCH, total)):
                    at = start + timedelta(seconds=float(offsets[i]))
                    box = f"[{xs[i]}, {ys[i]}, 180, 180, 0.93]"
                    boxes = (
                        box if faces[i] == 1 else f"{box}, [{xs[i] // 2}, {ys[i]}, 170, 170, 0.88]"
                    )
                    snapshot = f"alerts/{at:%Y/%m/%d}/camera{cameras[i]}-{at:%H%M%S%f}.jpg"
                    # The newest day stays unacknowledged, as on a live system.
                    ack = acked[i] and offsets[i] < span_s - 86400
                    ack_at = (at + timedelta(minutes=5)).isoformat() if ack else "\\N"
                    ack_by = str(user_id) if ack else "\\N"
                    lines.append(
                        f"{cameras[i]}\t{at.isoformat()}\t{faces[i]}\t[{boxes}]\t{snapshot}\t"
                        f"{ack_at}\t{ack_by}\n"
                    )
                copy.write("".join(lines))
                if (first // BATCH) % 4 == 3:
                    say(f"  {first + BATCH:,} rows")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE alerts_alert")
    return time.monotonic() - started


def ensure_quiet_camera(user_id: int, alerts: int = 200, days_ago: int = 25) -> int:
    """A 21st camera that alerted only `alerts` times, weeks ago: what a camera filter must find
    without walking the whole table (most cameras are quiet most of the time)."""
    from cameras.models import Camera

    camera, created = Camera.objects.get_or_create(
        name="Bench camera quiet", defaults={"url": "rtsp://10.0.0.9:554/stream1"}
    )
    if created or not camera.alerts.exists():
        seed(alerts, [camera.pk], 1, user_id, seed=2, end=timedelta(days=days_ago))
    return camera.pk


def seeded_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        # The planner's estimate, so that checking is instant even at 1M rows.
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'alerts_alert'")
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] > 0 else 0


def ensure_seeded(total: int, cameras: int, days: int) -> tuple[list[int], float | None]:
    """Cameras, users and `total` alerts in the current database; (camera ids, the quiet camera's
    id last, seconds seeding took or None when the alerts were already there)."""
    from accounts.models import User

    operator, created = User.objects.get_or_create(
        username="bench-operator", defaults={"is_staff": True}
    )
    if created:
        operator.set_password("bench-password-123")
        operator.save()
    camera_ids = ensure_cameras(cameras)
    have = seeded_count()
    seconds = None
    if have >= total * 0.98:
        say(f"{have:,} alerts already seeded")
    else:
        say(f"seeding {total:,} alerts over {cameras} cameras")
        seconds = seed(total - have, camera_ids, days, operator.pk)
        say(f"seeded in {seconds:.1f} s ({(total - have) / seconds:,.0f} rows/s)")
    return [*camera_ids, ensure_quiet_camera(operator.pk)], seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--drop", action="store_true", help=f"drop {DB_NAME} and exit")
    args = parser.parse_args(argv)
    if args.drop:
        drop_database(DB_NAME)
        say(f"dropped {DB_NAME}")
        return 0
    with bench_django(DB_NAME, keep_db=True, fresh=False):
        _, seconds = ensure_seeded(args.alerts, args.cameras, args.days)
    if seconds is not None:
        print(f"seeded {args.alerts:,} alerts in {seconds:.1f} s into {DB_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
