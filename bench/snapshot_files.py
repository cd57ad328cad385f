"""What storing one snapshot file costs the process that writes it, while snapshots keep coming:
the CPU (user + kernel) of creating, writing and closing each file, per 5-second window, with
every file in one directory (as alerts/YYYY/MM/DD/ holds a day's) and with a new directory every
500 files. Each window splits open() (creating the file) from write() and close().

On the 2-core VM of session 7 a file cost 0.5-0.6 ms of CPU once the kernel was writing back
the files before it, in either layout, and up to 1.2 ms in open() just after other writes;
with nothing dirty, creating one took 0.02 ms and writing it 0.06 ms (docs/benchmarks.md,
"Ingest (session 7)").

    .venv/bin/python bench/snapshot_files.py [--rate 500] [--seconds 25] [--dir /path/on/the/disk]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, say  # noqa: E402  (after the path: run as a script)

SNAPSHOT_BYTES = 168_064  # the 720p annotated JPEG of bench/ws_latency.snapshot_jpeg()
WINDOW_S = 5.0


def write_files(root: Path, rate: float, seconds: float, per_dir: int | None) -> list[list]:
    """Write SNAPSHOT_BYTES files at `rate`/s for `seconds`; one row per window: the files
    written and the ms of CPU per file in open(), write() + close(), and in all."""
    data = os.urandom(SNAPSHOT_BYTES)
    rows: list[list] = []
    period, due, index = 1.0 / rate, time.monotonic(), 0
    end = due + seconds
    window_end, opening, rest, count = due + WINDOW_S, 0.0, 0.0, 0
    folder = root
    while time.monotonic() < end:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        due += period
        if per_dir and index % per_dir == 0:
            folder = root / f"d{index // per_dir}"
            folder.mkdir()
        started = time.process_time()
        fd = os.open(folder / f"camera1-{index}.jpg", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        opened = time.process_time()
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        opening += opened - started
        rest += time.process_time() - opened
        count, index = count + 1, index + 1
        if time.monotonic() >= window_end:
            rows.append([count, 1e3 * opening / count, 1e3 * rest / count])
            window_end, opening, rest, count = window_end + WINDOW_S, 0.0, 0.0, 0
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="files a second")
    parser.add_argument("--seconds", type=float, default=25.0, help="per layout")
    parser.add_argument("--dir", type=Path, default=None, help="where (default: the temp dir)")
    args = parser.parse_args(argv)
    table = []
    for layout, per_dir in (("one directory", None), ("a directory per 500", 500)):
        os.sync()  # each layout starts with nothing dirty
        with tempfile.TemporaryDirectory(dir=args.dir, prefix="skylark-bench-files-") as root:
            say(f"{layout}: {args.rate:.0f} files/s for {args.seconds:.0f} s in {root}")
            for n, (count, opening, rest) in enumerate(
                write_files(Path(root), args.rate, args.seconds, per_dir), start=1
            ):
                window = f"{(n - 1) * WINDOW_S:.0f}-{n * WINDOW_S:.0f} s"
                ms = [f"{value:.2f}" for value in (opening, rest, opening + rest)]
                table.append([layout, window, count, *ms])
    print(f"\nCPU per {SNAPSHOT_BYTES:,}-byte file while writing {args.rate:.0f} a second (ms)")
    print_table(["layout", "window", "files", "open", "write+close", "all"], table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
