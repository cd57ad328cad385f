"""Creates alerts through alerts.services.create_alert() (row + snapshot + broadcast) at a given
rate or as fast as it can; a helper of alerts_scale.py, run with its Django environment.

Prints one JSON line at the end: the ids it created, its start/end times and errors.

    DJANGO_SETTINGS_MODULE=config.settings DEBUG=1 \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/skylark_bench_alerts \
    REDIS_URL=redis://127.0.0.1:6379/7 \
    .venv/bin/python bench/ingest_producer.py --cameras 1,2 --rate 100 --duration 10
"""

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", required=True, help="comma-separated camera ids")
    parser.add_argument("--rate", type=float, default=0.0, help="alerts/s; 0 = as fast as it can")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--snapshot", type=Path, help="JPEG stored with every alert")
    parser.add_argument("--start-at", type=float, help="unix time to begin (to start together)")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from alerts.services import create_alert
    from cameras.models import Camera

    snapshot = args.snapshot.read_bytes() if args.snapshot else None
    cameras = itertools.cycle([Camera.objects.get(pk=int(c)) for c in args.cameras.split(",")])
    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))
    ids: list[int] = []
    errors = 0
    t0 = time.time()
    cpu0 = time.process_time()  # what Django's import and setup cost is not the alerts'
    start = time.monotonic()
    period = 1.0 / args.rate if args.rate else 0.0
    next_due = start
    while time.monotonic() - start < args.duration:
        if period:
            delay = next_due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_due += period
        try:
            alert = create_alert(
                camera=next(cameras), face_count=1, boxes=[[320, 180, 180, 180, 0.93]],
                snapshot_jpeg=snapshot,
            )  # fmt: skip
            ids.append(alert.pk)
        except Exception as exc:  # counted and reported: a benchmark must finish
            errors += 1
            print(json.dumps({"ev": "error", "error": repr(exc)}), file=sys.stderr, flush=True)
    t1 = time.time()
    cpu_s = time.process_time() - cpu0
    behind = max(0.0, time.monotonic() - next_due) if period else 0.0
    print(json.dumps({"ev": "done", "ids": ids, "t0": t0, "t1": t1, "errors": errors,
                      "behind_s": behind, "cpu_s": cpu_s}), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
