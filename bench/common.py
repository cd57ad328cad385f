"""Shared helpers of the benchmark scripts: statistics, CPU accounting from /proc, figure output,
and the dedicated benchmark database and Redis database (never the dev or test data).
"""

import atexit
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
PYTHON = sys.executable
BIN = Path(PYTHON).parent

# Benchmarks use Redis database 7 and databases named skylark_bench_*; tests use 9, dev uses 0.
# On a shared machine SKYLARK_BENCH_REDIS_URL (another Redis, or database) and
# SKYLARK_BENCH_DB_SUFFIX (appended to the database names) keep two runs out of each other's way.
BENCH_REDIS_URL = os.environ.get("SKYLARK_BENCH_REDIS_URL") or "redis://127.0.0.1:6379/7"
BENCH_DB_SUFFIX = os.environ.get("SKYLARK_BENCH_DB_SUFFIX", "")
PG_URL = "postgres://postgres@127.0.0.1:5432"
DEFAULT_MODEL = Path(
    os.environ.get("FACE_DETECTOR_MODEL") or ROOT.parent / "shared/models/yunet.onnx"
)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def detectors_available(model: Path, wanted: Sequence[str] = ("haar", "yunet")) -> list[str]:
    """The wanted detectors that can run here: YuNet needs its ONNX model file."""
    if "yunet" in wanted and not model.is_file():
        say(f"YuNet model not found at {model} (set FACE_DETECTOR_MODEL): YuNet figures skipped")
        return [d for d in wanted if d != "yunet"]
    return list(wanted)


# -- statistics --------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def spread(values: Sequence[float]) -> dict[str, float]:
    """n, p50, p95, p99, max of values (milliseconds or whatever unit they are in)."""
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }


# -- CPU accounting ----------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards), or None if gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may hold spaces and parentheses: everything after the last ')' is fixed.
    return data[data.rindex(")") + 2 :].split()


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by the process (all its threads)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_tree(roots: Iterable[int]) -> set[int]:
    """The given processes and all their descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid for pid in roots if Path(f"/proc/{pid}").exists()]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


@dataclass
class CpuWindow:
    """CPU used by some process trees over a wall-clock window, in % of one core."""

    wall_s: float
    cpu_pct: float  # the measured trees, summed (200 = both cores of a 2-core machine)
    machine_busy_pct: float  # everything on the machine, other engineers' work included
    by_pid: dict[int, float] = field(default_factory=dict)  # CPU seconds in the window


class CpuMeter:
    """Measures the CPU of process trees between start() and stop(), from /proc.

    Processes alive at both ends count their difference; those born in the window count all
    their CPU; those that end inside the window are lost (long-lived processes are measured here).
    """

    def __init__(self, roots: Iterable[int]) -> None:
        self.roots = list(roots)
        self._start: dict[int, float] = {}
        self._t0 = 0.0
        self._machine0 = (0, 0)

    def _sample(self) -> dict[int, float]:
        sample = {}
        for pid in process_tree(self.roots):
            cpu = process_cpu_seconds(pid)
            if cpu is not None:
                sample[pid] = cpu
        return sample

    def start(self) -> None:
        self._start = self._sample()
        self._machine0 = machine_cpu_ticks()
        self._t0 = time.monotonic()

    def stop(self) -> CpuWindow:
        end = self._sample()
        wall = time.monotonic() - self._t0
        busy1, total1 = machine_cpu_ticks()
        busy0, total0 = self._machine0
        ncpu = os.cpu_count() or 1
        by_pid = {pid: cpu - self._start.get(pid, 0.0) for pid, cpu in end.items()}
        machine = 100.0 * ncpu * (busy1 - busy0) / max(1, total1 - total0)
        return CpuWindow(wall, 100.0 * sum(by_pid.values()) / wall, machine, by_pid)


# -- output ------------------------------------------------------------------------------


@dataclass
class Figure:
    """One row of docs/benchmarks.md: printed as a JSON line that run_quick.py collects."""

    figure: str
    goal: str
    measured: str
    baseline: str
    ratio: str
    command: str
    ok: bool | None = None  # None: no pass/fail goal, or not measurable
    details: dict = field(default_factory=dict)

    def emit(self) -> None:
        print(json.dumps({"kind": "figure", **asdict(self)}, default=str), flush=True)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A plain-text table, columns padded to their widest cell."""
    text_rows = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in text_rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.1f}"
    return str(value)


def say(message: str) -> None:
    """Progress on stderr, so stdout keeps only tables and JSON lines."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt_ratio(measured: float, baseline: float) -> str:
    if not baseline or measured != measured or baseline != baseline:
        return "n/a"
    return f"{measured / baseline:.2f}"


# -- processes ---------------------------------------------------------------------------


def stop_process(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM the process group (start_new_session=True children), then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def terminate_on_signals() -> None:
    """Turn SIGTERM into KeyboardInterrupt so `finally` blocks clean up child processes."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def scratch_dir(prefix: str) -> Path:
    """A temporary directory for logs, removed when the script exits (SKYLARK_BENCH_KEEP=1 keeps
    it, to read the daphne/worker logs after a failure)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if not os.environ.get("SKYLARK_BENCH_KEEP"):
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (1000 WebSockets need it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the benchmark database and Redis ----------------------------------------------------


def bench_env(db_name: str, media_root: Path, **extra: str) -> dict[str, str]:
    """Environment for Django in this process and in children: bench database and Redis."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        # As deployed (docker-compose): DEBUG on would log every query in every process.
        DEBUG="0",
        SECRET_KEY="bench-only-secret-key-not-for-production-use-0123456789",
        DATABASE_URL=f"{PG_URL}/{db_name}",
        REDIS_URL=BENCH_REDIS_URL,
        CELERY_BROKER_URL=BENCH_REDIS_URL,
        MEDIA_ROOT=str(media_root),
        CAMERA_FILE_ROOT=str(media_root / "videos"),
        MEDIAMTX_RTSP_URL="",
        WORKER_METRICS_PORT="0",
        LOG_LEVEL="WARNING",  # the e2e worker sets INFO: its pipeline_start line is read
        JWT_ACCESS_MINUTES="240",  # tokens made at the start outlive the longest run
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def drop_database(db_name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name))
        )


def flush_bench_redis() -> None:
    import redis

    redis.Redis.from_url(BENCH_REDIS_URL).flushdb()


@contextlib.contextmanager
def bench_django(
    db_name: str, keep_db: bool = False, fresh: bool = True
) -> Iterator[dict[str, str]]:
    """Create (or reuse) and migrate the benchmark database, set Django up in this process,
    and on exit drop the database (unless keep_db), flush the bench Redis database and delete the
    media folder.

    fresh=False keeps an existing database (seeded alerts survive between runs with --keep-db).
    """
    if not db_name.startswith("skylark_bench"):
        raise ValueError(f"benchmark databases are named skylark_bench*, not {db_name!r}")
    db_name += BENCH_DB_SUFFIX
    media_root = Path(tempfile.mkdtemp(prefix="skylark-bench-media-"))
    (media_root / "videos").mkdir()
    env = bench_env(db_name, media_root)
    try:
        if fresh:
            drop_database(db_name)
        flush_bench_redis()
        say(f"preparing database {db_name}")
        subprocess.run([PYTHON, "-m", "config.dbsetup"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        os.environ.update(env)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        yield env
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if not keep_db:
            drop_database(db_name)
        flush_bench_redis()
        shutil.rmtree(media_root, ignore_errors=True)


def encoder_args(width: int, height: int, fps: int, *, cap: bool = True) -> list[str]:
    """The Publisher's encoder options as ffmpeg command-line arguments; cap=False leaves out
    its bitrate cap (the publisher before it had one)."""
    from detection.capture import encoder_options

    options = encoder_options(width, height, fps)
    if not cap:
        del options["maxrate"], options["bufsize"]
    return [arg for key, value in options.items() for arg in (f"-{key}", str(value))]
