"""Fault runs too long for `make test`: PostgreSQL stopped for 30 s and Redis away for 30 s
under a streaming camera, through the very tests of tests/faults with the outage lengthened.

Each run is the real test (a Celery worker, beat, daphne and WebSocket clients where the test has
them; a private PostgreSQL cluster or redis-server, never the machine's shared ones), started with
SKYLARK_FAULT_PG_DOWN_S / SKYLARK_FAULT_REDIS_DOWN_S. Prints what each test measured and a table;
exits 1 if one fails. Uses its own test database and Redis database (both overridable).

    .venv/bin/python bench/faults_long.py [--seconds 30] [--only postgres|redis]
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PYTHON, ROOT, print_table, say, terminate_on_signals

RUNS = {
    "postgres": ("PostgreSQL stopped", "tests/faults/test_postgres_outage.py", "PG"),
    "redis": ("Redis down (restarted empty)", "tests/faults/test_redis_outage.py", "REDIS"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each is away")
    parser.add_argument("--only", choices=sorted(RUNS), action="append")
    parser.add_argument("--test-db", default="test_skylark_faults_long")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args(argv)
    terminate_on_signals()
    rows, failed = [], 0
    for key in args.only or list(RUNS):
        title, path, variable = RUNS[key]
        env = dict(os.environ)
        env.update(
            SKYLARK_TEST_DB=args.test_db,
            REDIS_URL=args.redis_url,
            **{f"SKYLARK_FAULT_{variable}_DOWN_S": f"{args.seconds:g}"},
        )
        say(f"{title} for {args.seconds:g} s: {path}")
        started = time.monotonic()
        result = subprocess.run(
            [PYTHON, "-m", "pytest", path, "-q", "-s", "-p", "no:cacheprovider", "--timeout=600"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        took = time.monotonic() - started
        # The tests print one line of measurements; FFmpeg's and Django's lines are noise here.
        measured = [
            line.lstrip(".")
            for line in result.stdout.splitlines()
            if line.lstrip(".").startswith(("database down", "Redis down"))
        ]
        ok = result.returncode == 0
        failed += not ok
        if not ok:
            print(result.stdout[-4000:], result.stderr[-2000:], sep="\n")
        for line in measured:
            print(f"{title}: {line}")
        rows.append([title, f"{args.seconds:g} s", "pass" if ok else "FAIL", took])
    print()
    print_table(["fault", "away", "test", "run s"], rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
