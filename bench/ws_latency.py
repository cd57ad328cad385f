"""Issue "real time": alert latency from alerts.services.create_alert() to receipt by 1, 100 and
1000 concurrent real WebSocket clients on ONE daphne process.

Daphne serves Skylark on a dedicated database (skylark_bench_ws) and Redis db 7; the clients
(bench/ws_clients.py, up to 250 per process) connect with a JWT and stay subscribed to all
cameras. This process then creates alerts one by one (with a real 720p JPEG snapshot, as the
camera loop does) through the service; latency = the time a client read the event off its socket
minus the alert's created_at carried in the event (set by create_alert before it writes the row),
both from this machine's clock. Every (alert, client) pair is one sample; missing ones are loss.

    .venv/bin/python bench/ws_latency.py [--clients 1,100,1000] [--alerts 60] [--quick]
"""

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BENCH_DIR,
    PYTHON,
    CpuMeter,
    Figure,
    bench_django,
    print_table,
    raise_fd_limit,
    say,
    scratch_dir,
    spread,
    stop_process,
    terminate_on_signals,
)

if TYPE_CHECKING:
    from cameras.models import Camera

CLIENTS_PER_PROCESS = 250
GOAL_P99_MS = 250.0


class ClientGroup:
    """ws_clients.py processes holding `total` connections to one URL."""

    def __init__(self, url: str, total: int, log_dir: Path, in_flight: int = 48) -> None:
        """in_flight: handshakes under way at once, over all processes. One daphne on this
        machine refuses most of a burst of 200 (see storm() and docs/benchmarks.md)."""
        self.procs: list[subprocess.Popen] = []
        self.ready: list[dict] = []
        self.cpu_s = 0.0  # CPU the client processes used, known after finish()
        self.server_closed = 0  # connections daphne closed before the end, known after finish()
        self.close_codes: list[int] = []  # their WebSocket close codes
        self.frames = 0  # WebSocket messages the clients read, known after finish()
        sizes = [CLIENTS_PER_PROCESS] * (total // CLIENTS_PER_PROCESS)
        if total % CLIENTS_PER_PROCESS:
            sizes.append(total % CLIENTS_PER_PROCESS)
        per_process = str(max(1, in_flight // len(sizes)))
        for index, size in enumerate(sizes):
            log = (log_dir / f"ws-clients-{total}-{index}.log").open("wb")
            args = [PYTHON, str(BENCH_DIR / "ws_clients.py"), "--url", url, "--clients", str(size)]
            self.procs.append(
                subprocess.Popen(
                    [*args, "--connect-concurrency", per_process],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    start_new_session=True,
                )
            )
            log.close()

    def wait_ready(self, timeout: float = 180.0) -> tuple[int, int]:
        """(connected, failed) once every process has connected its clients."""
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            assert proc.stdout is not None
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError("WebSocket clients did not connect in time")
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"ws_clients.py exited with {proc.wait()}")
                record = json.loads(line)
                if record["ev"] == "ready":
                    self.ready.append(record)
                    break
        return sum(r["connected"] for r in self.ready), sum(r["failed"] for r in self.ready)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def finish(self) -> list[list[list]]:
        """Close the clients; every client's [alert id, created_at, received_at] list."""
        results = []
        self.cpu_s = 0.0
        self.server_closed = 0
        self.close_codes = []
        self.frames = 0
        for proc in self.procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
        for proc in self.procs:
            for line in proc.stdout:
                record = json.loads(line)
                if record["ev"] == "client":
                    results.append(record["alerts"])
                    self.frames += record["frames"]
                    if record.get("server_closed"):
                        self.server_closed += 1
                        self.close_codes.append(record["server_closed"])
                elif record["ev"] == "done":
                    self.cpu_s += record["cpu_s"]
            proc.wait(60)
        return results

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)


def snapshot_jpeg() -> bytes:
    """A 720p annotated-frame-sized JPEG, as alerts from the camera loop carry."""
    import cv2

    from bench.camera_load import scene

    capture = cv2.VideoCapture(str(scene("busy").path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 45)
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise RuntimeError("could not read a frame for the snapshot")
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def measure(
    url: str,
    clients: int,
    alerts: int,
    spacing_s: float,
    camera: "Camera",
    snapshot: bytes | None,
    daphne_pid: int,
    log_dir: Path,
) -> dict:
    from alerts.services import create_alert

    group = ClientGroup(url, clients, log_dir)
    try:
        connected, failed = group.wait_ready()
        say(f"{connected} clients connected ({failed} failed); sending {alerts} alerts")
        time.sleep(1.0)
        meter = CpuMeter([daphne_pid])
        meter.start()
        created = []
        for _ in range(alerts):
            alert = create_alert(
                camera=camera, face_count=1, boxes=[[10, 20, 180, 180, 0.9]],
                snapshot_jpeg=snapshot,
            )  # fmt: skip
            created.append(alert.pk)
            time.sleep(spacing_s)
        results = group.finish()  # waits until nothing more arrives
        cpu = meter.stop()
    finally:
        group.stop()
    wanted = set(created)
    latencies = []
    missing = 0
    for received in results:
        got = {alert_id: (at - created_at) * 1000 for alert_id, created_at, at in received}
        latencies += [got[i] for i in created if i in got]
        missing += len(wanted - got.keys())
    stats = spread(latencies)
    return {
        "clients": clients,
        "connected": connected,
        "connect_failed": failed,
        "alerts": alerts,
        "samples": stats["n"],
        "lost": missing,
        "dropped_connections": group.server_closed,
        "dropped_close_codes": sorted(set(group.close_codes)),
        "p50_ms": stats["p50"],
        "p95_ms": stats["p95"],
        "p99_ms": stats["p99"],
        "max_ms": stats["max"],
        "daphne_cpu_pct": cpu.cpu_pct,
        "daphne_cpu_us_per_delivery": 1e6 * sum(cpu.by_pid.values()) / max(1, stats["n"]),
        "clients_cpu_us_per_delivery": 1e6 * group.cpu_s / max(1, stats["n"]),
        "machine_busy_pct": cpu.machine_busy_pct,
    }


def storm(
    url: str, clients: int, in_flight: int, daphne_log: Callable[[], str], log_dir: Path
) -> dict:
    """`clients` connecting with `in_flight` handshakes at once, as after a daphne restart when
    every dashboard reconnects: how many got in, and what daphne logged meanwhile."""
    before = daphne_log()
    group = ClientGroup(url, clients, log_dir, in_flight=in_flight)
    try:
        connected, failed = group.wait_ready(timeout=300)
        group.finish()
    finally:
        group.stop()
    during = daphne_log()[len(before) :]
    return {
        "clients": clients,
        "in_flight": in_flight,
        "connected": connected,
        "failed": failed,
        "connect_s": max(r["connect_s"] for r in group.ready),
        "redis_pool_exhausted": during.count("MaxConnectionsError"),
        "redis_timeouts": during.count("Timeout reading"),
        "killed_for_slow_connect": during.count("took too long to shut down"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,100,1000", help="comma-separated client counts")
    parser.add_argument("--alerts", type=int, default=60, help="alerts per client count")
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds between alerts")
    parser.add_argument("--no-snapshot", action="store_true", help="alerts without a JPEG")
    parser.add_argument("--quick", action="store_true", help="20 alerts per client count")
    parser.add_argument(
        "--storm", type=int, default=200, help="handshakes at once in the storm test; 0 = skip"
    )
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--asgi",
        default="config.asgi:application",
        help="what daphne serves: another ASGI application to compare, e.g. a variant of the app",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.alerts, args.storm = 20, 0
    counts = [int(c) for c in args.clients.split(",")]
    terminate_on_signals()
    say(f"open files limit: {raise_fd_limit()}")
    command = ".venv/bin/python bench/ws_latency.py" + (" --quick" if args.quick else "")
    whatif = args.asgi != "config.asgi:application"
    if whatif:
        command += f" --asgi {args.asgi}"
    snapshot = None if args.no_snapshot else snapshot_jpeg()

    rows = []
    burst: dict | None = None
    log_dir = scratch_dir("skylark-bench-ws-")
    with bench_django("skylark_bench_ws", keep_db=args.keep_db) as env:
        from rest_framework_simplejwt.tokens import AccessToken

        from accounts.models import User
        from cameras.models import Camera
        from tests.support.processes import Daphne

        user = User.objects.create_user("bench-viewer", password="bench-password-123")
        camera = Camera.objects.create(name="bench", url="rtsp://127.0.0.1:9/none")
        token = str(AccessToken.for_user(user))
        daphne = Daphne(env, log_dir)
        daphne.args[-1] = args.asgi  # the ASGI application daphne serves
        daphne.start()
        try:
            url = f"{daphne.ws_url}?token={token}"
            for clients in counts:
                say(f"{clients} client(s)")
                assert daphne.proc is not None
                row = measure(
                    url, clients, args.alerts, args.spacing, camera, snapshot,
                    daphne.proc.pid, log_dir,
                )  # fmt: skip
                rows.append(row)
            if args.storm:
                say(f"storm: 1000 clients, {args.storm} handshakes at once")
                burst = storm(url, 1000, args.storm, daphne.log, log_dir)
        finally:
            daphne.stop()

    print("\ncreate_alert -> WebSocket receipt, one daphne process")
    keys = ["clients", "connected", "alerts", "samples", "lost", "dropped_connections"]
    keys += ["p50_ms", "p95_ms", "p99_ms"]
    keys += ["max_ms", "daphne_cpu_pct", "daphne_cpu_us_per_delivery", "machine_busy_pct"]
    print_table(keys, [[row[k] for k in keys] for row in rows])
    single = next((r for r in rows if r["clients"] == 1), None)
    for row in rows:
        ok = None
        if row["clients"] == 1000:
            ok = row["p99_ms"] < GOAL_P99_MS and row["lost"] == 0
        Figure(
            figure=f"alert latency create_alert -> WebSocket, {row['clients']} client(s), 1 daphne"
            + (f" [what-if {args.asgi}]" if whatif else ""),
            goal="p99 < 250 ms at 1000 clients, no loss",
            measured=(
                f"p50 {row['p50_ms']:.0f} / p95 {row['p95_ms']:.0f} / p99 {row['p99_ms']:.0f} ms,"
                f" lost {row['lost']} of {row['alerts'] * row['clients']}"
            ),
            baseline=f"1 client p99 {single['p99_ms']:.0f} ms" if single else "n/a",
            ratio=(
                f"{row['p99_ms'] / single['p99_ms']:.1f}"
                if single and single["p99_ms"] and not math.isnan(row["p99_ms"])
                else "n/a"
            ),
            command=command,
            ok=ok,
            details=row,
        ).emit()
    if burst is not None:
        print("\nReconnect storm: 1000 clients connecting at once to one daphne")
        print_table(list(burst), [list(burst.values())])
        Figure(
            figure=f"reconnect storm: 1000 WebSocket clients, {burst['in_flight']} handshakes at once",
            goal="(no goal) every dashboard gets back in after a restart",
            measured=f"{burst['connected']} of 1000 connected in {burst['connect_s']:.0f} s",
            baseline="48 at once: all connect (the latency runs above)",
            ratio=f"{burst['connected'] / 1000:.2f}",
            command=command,
            ok=None,
            details=burst,
        ).emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
