"""Soak: simulated cameras with scheduled faces and many dashboards, for half an hour.

Checks what only time shows: every alert stored in PostgreSQL reached every dashboard exactly
once; the memory (RSS), open descriptors and threads of the streams worker and daphne stay flat;
the CPU per camera stays steady; the cameras stay online. Prints progress every minute, then a
summary and a verdict, and exits 1 when a check fails.

Real processes, as `make run` starts them: the GStreamer camera simulator (one stream per camera,
720p 15 fps, a face for 5 s of every 20 s), a Celery streams worker (-c 8) and default worker,
beat, daphne; the dashboards are WebSocket clients logged in by session cookie that reconnect and
resume like the dashboard's JavaScript. A private redis-server on a free port (benchmarks share
Redis db 7 and flush it; a soak must not be disturbed by them nor disturb them) and the database
skylark_bench_soak on the machine's PostgreSQL (dropped at the end unless --keep-db). Publishing
is off (no MediaMTX here); bench/pipeline_cpu.py measures its cost.

    .venv/bin/python bench/soak.py [--minutes 30] [--cameras 4] [--clients 50] [--sample-s 10]
"""

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.realtime import events_in
from bench.common import (
    PYTHON,
    ROOT,
    Figure,
    bench_env,
    drop_database,
    machine_cpu_ticks,
    percentile,
    print_table,
    process_cpu_seconds,
    raise_fd_limit,
    say,
    scratch_dir,
    terminate_on_signals,
)
from simulator.videos import FaceSpan, ensure_video

DB_NAME = "skylark_bench_soak"
VIDEO_S = 60.0
FACES_PER_MINUTE = 3  # per camera: a face for 5 s of every 20 s
WARMUP_FRACTION, WARMUP_MAX_S = 0.25, 120.0
RSS_GROWTH_MAX = 0.10
FD_SLACK = 5
CPU_DRIFT_MAX = 0.20
ONLINE_MIN = 0.99


def camera_spans(index: int) -> list[FaceSpan]:
    """5 s in view, 15 s away: well over the default 10 s cooldown, so each appearance is one
    alert whatever the detection timing. Cameras are shifted by 4 s so their alerts interleave."""
    start = 2.0 + (4.0 * index) % 16
    return [FaceSpan(start + 20 * k, start + 20 * k + 5) for k in range(3)]


# -- dashboards ----------------------------------------------------------------------------


@dataclass
class Dashboard:
    """A WebSocket client doing what the dashboard does: remember the last alert id, reconnect
    with backoff, resume. Keeps (id, created_at, received_at) of every alert event it gets."""

    url: str
    cookie: str
    alerts: list[tuple[int, float, float]] = field(default_factory=list)
    connections: int = 0

    async def run(self) -> None:
        import websockets

        delay = 0.2
        while True:
            try:
                async with websockets.connect(
                    self.url, additional_headers={"Cookie": self.cookie}, open_timeout=10
                ) as ws:
                    self.connections += 1
                    delay = 0.2
                    last = self.alerts[-1][0] if self.alerts else 0
                    await ws.send(json.dumps({"type": "resume", "after_id": last}))
                    async for raw in ws:
                        for event in events_in(json.loads(raw)):
                            if event["type"] == "alert":
                                alert = event["alert"]
                                created = datetime.fromisoformat(alert["created_at"]).timestamp()
                                self.alerts.append((alert["id"], created, time.time()))
            except (OSError, TimeoutError, websockets.WebSocketException):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    @property
    def ids(self) -> list[int]:
        return [alert_id for alert_id, _, _ in self.alerts]


class Dashboards:
    """The clients, on an event loop of their own in a background thread."""

    def __init__(self, url: str, cookie: str, count: int) -> None:
        self.clients = [Dashboard(url, cookie) for _ in range(count)]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> "Dashboards":
        self._thread.start()
        for client in self.clients:
            asyncio.run_coroutine_threadsafe(client.run(), self._loop)
        return self

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


# -- sampling ------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """RSS (kB), threads and open descriptors of one process."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            fields[key] = int(value.split()[0])
    return {
        "rss_kb": fields["VmRSS"],
        "threads": fields["Threads"],
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


@dataclass
class Sample:
    t: float  # seconds since the cameras were started
    procs: dict[str, dict[str, float]]  # name -> rss_kb, threads, fds, cpu_s
    machine_busy: tuple[int, int]
    statuses: list[str]
    fps_in: list[float]
    alerts: int


def take_sample(t: float, pids: dict[str, int], camera_ids: list[int]) -> Sample:
    from alerts.models import Alert
    from cameras.models import Camera

    procs = {}
    for name, pid in pids.items():
        info: dict[str, float] = dict(proc_status(pid))
        info["cpu_s"] = process_cpu_seconds(pid) or 0.0
        procs[name] = info
    rows = list(Camera.objects.filter(pk__in=camera_ids).order_by("pk").values("status", "fps_in"))
    return Sample(
        t=t,
        procs=procs,
        machine_busy=machine_cpu_ticks(),
        statuses=[row["status"] for row in rows],
        fps_in=[row["fps_in"] for row in rows],
        alerts=Alert.objects.filter(camera_id__in=camera_ids).count(),
    )


# -- the run -------------------------------------------------------------------------------


def prepare_database(env: dict[str, str]) -> None:
    drop_database(DB_NAME)
    say(f"preparing database {DB_NAME}")
    subprocess.run([PYTHON, "-m", "config.dbsetup"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )


def session_cookie(username: str) -> str:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user(username, password="soak-pass-123")
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--keep-db", action="store_true", help=f"keep {DB_NAME} afterwards")
    args = parser.parse_args(argv)
    terminate_on_signals()
    raise_fd_limit()

    from tests.support.redis_server import RedisServer

    logs = scratch_dir("skylark-soak-")
    media = logs / "media"
    media.mkdir()
    redis_server = RedisServer(logs).start()
    env = bench_env(
        DB_NAME,
        media,
        REDIS_URL=redis_server.url,
        CELERY_BROKER_URL=redis_server.url,
        LOG_LEVEL="INFO",
        JWT_ACCESS_MINUTES=str(int(args.minutes) + 60),
    )
    processes = []
    simulator = None
    dashboards = None
    try:
        prepare_database(env)
        os.environ.update(env)
        import django

        django.setup()
        from simulator.control import CameraSimulator
        from tests.support.processes import CeleryBeat, CeleryWorker, Daphne

        say(f"videos for {args.cameras} cameras (generated once, then cached)")
        videos = {
            f"cam{i}": ensure_video(f"soak-cam{i}", camera_spans(i), VIDEO_S, seed=i)
            for i in range(args.cameras)
        }
        simulator = CameraSimulator(videos).start()
        streams = CeleryWorker(env, logs, queues="streams", concurrency=8, name="soak-streams")
        default = CeleryWorker(env, logs, queues="default", concurrency=2, name="soak-default")
        beat = CeleryBeat(env, logs)
        daphne = Daphne(env, logs)
        processes = [streams, default, beat, daphne]
        for process in processes:
            process.start()
        pids = {"streams worker": streams.proc.pid, "daphne": daphne.proc.pid}
        pids.update(default_worker=default.proc.pid, beat=beat.proc.pid)

        from cameras.models import Camera
        from cameras.services import start_stream, stop_stream

        cookie = session_cookie("soak-viewer")
        dashboards = Dashboards(daphne.ws_url, cookie, args.clients).start()
        deadline = time.monotonic() + 60
        while sum(c.connections > 0 for c in dashboards.clients) < args.clients:
            if time.monotonic() > deadline:
                raise SystemExit("the dashboards could not all connect within 60 s")
            time.sleep(0.2)

        cameras = [
            Camera.objects.create(name=f"Soak {name}", url=simulator.url(name), location="soak")
            for name in videos
        ]
        camera_ids = [camera.pk for camera in cameras]
        for camera in cameras:
            start_stream(camera)
        started = time.monotonic()
        say(
            f"{args.cameras} cameras started, {args.clients} dashboards connected; "
            f"running {args.minutes:g} min (logs in {logs})"
        )
        samples: list[Sample] = []
        duration = args.minutes * 60
        next_report = 60.0
        while (elapsed := time.monotonic() - started) < duration:
            samples.append(take_sample(elapsed, pids, camera_ids))
            if elapsed >= next_report:
                next_report += 60
                last = samples[-1]
                say(
                    f"{elapsed / 60:4.1f} min: {last.alerts} alerts, dashboards have "
                    f"{min(len(c.alerts) for c in dashboards.clients)}.."
                    f"{max(len(c.alerts) for c in dashboards.clients)}; statuses "
                    f"{','.join(last.statuses)}; worker RSS "
                    f"{last.procs['streams worker']['rss_kb'] / 1024:.0f} MB, daphne RSS "
                    f"{last.procs['daphne']['rss_kb'] / 1024:.0f} MB"
                )
            time.sleep(max(0.0, args.sample_s - (time.monotonic() - started - elapsed)))
        samples.append(take_sample(time.monotonic() - started, pids, camera_ids))

        say("stopping the cameras; waiting for the dashboards to catch up")
        for camera in cameras:
            stop_stream(camera)
        deadline = time.monotonic() + 20
        while Camera.objects.filter(pk__in=camera_ids).exclude(status="stopped").exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        stored = stored_alerts(camera_ids)
        deadline = time.monotonic() + 30
        while any(c.ids != [a for a, _ in stored] for c in dashboards.clients):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        alive = {process.name: process.proc.poll() is None for process in processes}
        return report(args, samples, stored, dashboards, alive, simulator)
    finally:
        if dashboards is not None:
            dashboards.stop()
        for process in reversed(processes):
            process.stop()
        if simulator is not None:
            simulator.stop()
        redis_server.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if not args.keep_db:
            drop_database(DB_NAME)


def stored_alerts(camera_ids: list[int]) -> list[tuple[int, int]]:
    from alerts.models import Alert

    return list(
        Alert.objects.filter(camera_id__in=camera_ids).order_by("id").values_list("id", "camera_id")
    )


# -- the report ----------------------------------------------------------------------------


def report(args, samples, stored, dashboards, alive, simulator) -> int:
    minutes = args.minutes
    ids = [alert_id for alert_id, _ in stored]
    wanted = set(ids)
    missing = sum(len(wanted - set(c.ids)) for c in dashboards.clients)
    duplicates = sum(len(c.ids) - len(set(c.ids)) for c in dashboards.clients)
    unknown = sum(len(set(c.ids) - wanted) for c in dashboards.clients)
    exact = sum(c.ids == ids for c in dashboards.clients)
    latencies = [
        (received - created) * 1000 for c in dashboards.clients for _, created, received in c.alerts
    ]
    reconnects = sum(c.connections - 1 for c in dashboards.clients)

    warmup = min(WARMUP_MAX_S, WARMUP_FRACTION * minutes * 60)
    steady = [s for s in samples if s.t >= warmup]
    first, last = steady[0], steady[-1]
    hours = max(1e-9, (last.t - first.t) / 3600)

    print(f"\nSoak: {args.cameras} cameras, {args.clients} dashboards, {minutes:g} min")
    print(f"(flatness measured after a {warmup:.0f} s warm-up, {len(steady)} samples)\n")
    rows, checks = [], {}
    for name in ("streams worker", "daphne", "default_worker", "beat"):
        start, end = first.procs[name], last.procs[name]
        peak_fds = max(s.procs[name]["fds"] for s in steady)
        growth = end["rss_kb"] / start["rss_kb"] - 1
        cpu_pct = 100 * (end["cpu_s"] - start["cpu_s"]) / max(1e-9, last.t - first.t)
        rows.append(
            [name, start["rss_kb"] / 1024, end["rss_kb"] / 1024, f"{growth:+.1%}",
             (end["rss_kb"] - start["rss_kb"]) / 1024 / hours, f"{start['fds']:g}",
             f"{end['fds']:g}", f"{peak_fds:g}", f"{start['threads']:g}/{end['threads']:g}",
             cpu_pct]
        )  # fmt: skip
        if name in ("streams worker", "daphne"):
            checks[f"{name} RSS flat (< {RSS_GROWTH_MAX:.0%})"] = growth < RSS_GROWTH_MAX
            checks[f"{name} fds flat"] = end["fds"] <= start["fds"] + FD_SLACK
    print_table(
        ["process", "RSS MB", "RSS MB end", "growth", "MB/hour", "fds", "fds end", "fds max",
         "threads", "CPU %"],
        rows,
    )  # fmt: skip

    # CPU of the streams worker per camera, window by window; and per frame read, which stays
    # comparable when other work on the machine slows the cameras down.
    windows = []
    for before, after in zip(steady, steady[1:], strict=False):
        wall = after.t - before.t
        cpu = after.procs["streams worker"]["cpu_s"] - before.procs["streams worker"]["cpu_s"]
        frames = (sum(before.fps_in) + sum(after.fps_in)) / 2 * wall
        busy = after.machine_busy[0] - before.machine_busy[0]
        total = after.machine_busy[1] - before.machine_busy[1]
        windows.append(
            (
                100 * cpu / wall / args.cameras,
                1000 * cpu / frames if frames else float("nan"),
                100 * (os.cpu_count() or 1) * busy / max(1, total),
            )
        )
    per_camera = [w[0] for w in windows]
    per_frame = [w[1] for w in windows]
    half = len(windows) // 2
    first_half = percentile(per_frame[:half], 50)
    second_half = percentile(per_frame[half:], 50)
    drift = second_half / first_half - 1 if first_half else float("nan")
    checks[f"CPU per frame steady (halves' medians within {CPU_DRIFT_MAX:.0%})"] = (
        abs(drift) <= CPU_DRIFT_MAX
    )
    print()
    print_table(
        ["streams worker", "p5", "p50", "p95", "1st half p50", "2nd half p50", "drift"],
        [
            ["CPU % per camera", percentile(per_camera, 5), percentile(per_camera, 50),
             percentile(per_camera, 95), percentile(per_camera[:half], 50),
             percentile(per_camera[half:], 50), ""],
            ["CPU ms per frame", percentile(per_frame, 5), percentile(per_frame, 50),
             percentile(per_frame, 95), first_half, second_half, f"{drift:+.1%}"],
            ["machine busy % (200 = 2 cores)", *(percentile([w[2] for w in windows], p)
             for p in (5, 50, 95)), "", "", ""],
        ],
    )  # fmt: skip

    statuses = [status for s in samples if s.t >= 30 for status in s.statuses]
    online = sum(status == "online" for status in statuses) / max(1, len(statuses))
    fps = [f for s in steady for f in s.fps_in]
    per_camera_alerts = {}
    for _, camera_id in stored:
        per_camera_alerts[camera_id] = per_camera_alerts.get(camera_id, 0) + 1
    expected = FACES_PER_MINUTE * minutes
    checks[f"cameras online (>= {ONLINE_MIN:.0%} of samples)"] = online >= ONLINE_MIN
    print()
    print_table(
        ["cameras", "online", "fps in p50", "fps in min", "alerts per camera", "faces shown"],
        [[args.cameras, f"{online:.1%}", percentile(fps, 50), min(fps) if fps else float("nan"),
          " ".join(str(n) for n in per_camera_alerts.values()), f"~{expected:.0f}"]],
    )  # fmt: skip

    checks["every alert at every dashboard exactly once"] = (
        exact == len(dashboards.clients) and not missing and not duplicates and not unknown
    )
    checks["processes alive"] = all(alive.values()) and simulator.running
    print()
    print_table(
        ["alerts stored", "dashboards exact", "missing", "duplicates", "unknown", "reconnects",
         "latency p50 ms", "p95 ms", "max ms"],
        [[len(ids), f"{exact}/{len(dashboards.clients)}", missing, duplicates, unknown, reconnects,
          percentile(latencies, 50), percentile(latencies, 95),
          max(latencies) if latencies else float("nan")]],
    )  # fmt: skip

    command = (
        f"bench/soak.py --minutes {minutes:g} --cameras {args.cameras} --clients {args.clients}"
    )
    Figure(
        figure="soak: alerts delivered exactly once",
        goal="every stored alert at every dashboard once",
        measured=f"{exact}/{len(dashboards.clients)} dashboards exact, {len(ids)} alerts",
        baseline="n/a",
        ratio="n/a",
        command=command,
        ok=checks["every alert at every dashboard exactly once"],
    ).emit()
    print("\nVerdict:")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    failed = [name for name, ok in checks.items() if not ok]
    print(f"\n{'PASS' if not failed else 'FAIL'}: {len(checks) - len(failed)}/{len(checks)} checks")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
