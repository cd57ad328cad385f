"""Issue "performance", alerts at scale: with 1,000,000 alerts over 20 cameras (seed_alerts.py),

1. GET /api/alerts/ first page, a deep cursor page, filtered by camera, and a one-day range:
   server time p50/p95/p99 through Django's test Client in this process with a JWT (the whole
   request: middleware, authentication, the queries, serialization; no network), plus the same
   requests over HTTP against a running daphne for comparison; the queries each request runs
   (no COUNT) and EXPLAIN (ANALYZE, BUFFERS) of the page query;
2. the dashboard's first paint: server time of GET / and GET /alerts/ (session login);
3. sustained ingest through alerts.services.create_alert() (row + 720p JPEG snapshot + broadcast)
   from several producer processes (bench/ingest_producer.py) at 500 alerts/s, with 100 real
   WebSocket clients connected to one daphne: rate achieved, and whether every client got every
   alert; then the most the producers reach unpaced.

Database skylark_bench_alerts (dropped at the end unless --keep-db; a kept one is reused, so the
seeding runs once), Redis db 7.

    .venv/bin/python bench/alerts_scale.py [--quick] [--keep-db] [--parts api,pages,ingest]
        [--ingest-seconds 60] [--ingest-runs 3]
"""

import argparse
import base64
import http.client
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BENCH_DIR,
    PYTHON,
    CpuMeter,
    Figure,
    bench_django,
    median,
    print_table,
    raise_fd_limit,
    say,
    scratch_dir,
    spread,
    stop_process,
    terminate_on_signals,
)
from bench.seed_alerts import DB_NAME, ensure_seeded
from bench.ws_latency import ClientGroup, snapshot_jpeg

API_GOAL_MS = 25.0
PAGE_GOAL_MS = 1000.0
INGEST_GOAL = 500.0


def deep_cursor(position: datetime) -> str:
    """A DRF CursorPagination cursor that starts right after `position` (newest first), built
    the way the paginator encodes its own: base64 of `p=<str(created_at)>`."""
    return base64.b64encode(urlencode({"p": str(position)}).encode("ascii")).decode("ascii")


def api_requests(camera_id: int, quiet_camera_id: int) -> dict[str, str]:
    """The four list requests of the issue, by name, and a camera filter on a quiet camera."""
    from alerts.models import Alert

    ordered = Alert.objects.order_by("-created_at", "-id")
    total = ordered.count()
    deep_at = ordered.values_list("created_at", flat=True)[int(total * 0.9)]
    day = (datetime.now(UTC) - timedelta(days=10)).date()
    since = f"{day.isoformat()}T00:00:00Z"
    until = f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z"
    return {
        "first page": "/api/alerts/",
        "deep cursor page (90% down)": f"/api/alerts/?{urlencode({'cursor': deep_cursor(deep_at)})}",
        "camera filter": f"/api/alerts/?camera={camera_id}",
        "one-day range": f"/api/alerts/?{urlencode({'since': since, 'until': until})}",
        "camera filter, quiet camera": f"/api/alerts/?camera={quiet_camera_id}",
    }


def time_in_process(
    client, path: str, repeats: int, **headers: str
) -> tuple[list[float], list[float]]:
    """Milliseconds per request through the test Client (server time, no network): wall clock,
    and this process's CPU time (what the request costs, whatever else runs on the machine)."""
    for _ in range(5):
        response = client.get(path, **headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} -> {response.status_code}")
    times, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(path, **headers)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200
    return times, cpu


def time_over_http(port: int, path: str, repeats: int, token: str) -> list[float]:
    """Milliseconds per request against daphne over loopback HTTP (keep-alive not used)."""
    times = []
    for index in range(repeats + 3):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.perf_counter()
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"GET {path} -> {response.status}")
        if index >= 3:
            times.append(elapsed)
    return times


def queries_of(client, path: str, **headers: str) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(path, **headers)
    return [query["sql"] for query in captured.captured_queries]


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def measure_api(camera_ids: list[int], repeats: int, daphne_port: int | None) -> list[dict]:
    from django.test import Client
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User

    viewer, _ = User.objects.get_or_create(username="bench-viewer")
    token = str(AccessToken.for_user(viewer))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    client = Client(SERVER_NAME="127.0.0.1")  # a host ALLOWED_HOSTS accepts
    rows = []
    for name, path in api_requests(camera_ids[0], camera_ids[-1]).items():
        say(f"API: {name}")
        machine = CpuMeter([])
        machine.start()
        times, cpu = time_in_process(client, path, repeats, **auth)
        busy = machine.stop().machine_busy_pct
        queries = queries_of(client, path, **auth)
        page_sql = [q for q in queries if 'FROM "alerts_alert"' in q]
        plan = explain(page_sql[0]) if page_sql else "(no alerts query captured)"
        http_times = time_over_http(daphne_port, path, repeats // 2, token) if daphne_port else []
        rows.append(
            {
                "request": name,
                "path": path,
                "in_process": spread(times),
                "cpu": spread(cpu),
                "machine_busy_pct": busy,
                "http": spread(http_times) if http_times else None,
                "queries": len(queries),
                "count_queries": sum("COUNT(" in q.upper() for q in queries),
                "sql": queries,
                "plan": plan,
                "rows": _returned(client, path, auth),
            }
        )
    # Paging by following `next` from the first page, as a client scrolling back would.
    say("API: following next 20 pages")
    path, times = "/api/alerts/", []
    for _ in range(20):
        started = time.perf_counter()
        response = client.get(path, **auth)
        times.append((time.perf_counter() - started) * 1000)
        parts = urlsplit(response.json()["next"])
        path = f"{parts.path}?{parts.query}"
    rows.append(
        {
            "request": "follow next x20",
            "path": path,
            "in_process": spread(times),
            "cpu": None,
            "http": None,
            "queries": None,
            "count_queries": None,
            "sql": [],
            "plan": "",
            "rows": None,
        }
    )
    return rows


def _returned(client, path: str, auth: dict) -> int:
    return len(client.get(path, **auth).json()["results"])


def measure_pages(repeats: int) -> list[dict]:
    """Server time of the dashboard pages a browser opens first, logged in by session."""
    from django.test import Client

    from accounts.models import User

    user = User.objects.get(username="bench-operator")
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(user)
    rows = []
    for name, path in (("camera grid", "/"), ("alert history", "/alerts/")):
        response = client.get(path)
        if response.status_code != 200:
            rows.append({"page": name, "path": path, "status": response.status_code})
            continue
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        queries = queries_of(client, path)
        rows.append(
            {
                "page": name,
                "path": path,
                "status": 200,
                "bytes": len(response.content),
                "times": spread(times),
                "queries": len(queries),
                "count_queries": sum("COUNT(" in q.upper() for q in queries),
            }
        )
    return rows


def measure_ingest(
    env: dict[str, str],
    ws_url: str,
    daphne_pid: int,
    camera_ids: list[int],
    rate: float,
    duration: float,
    producers: int,
    snapshot: Path | None,
    log_dir: Path,
) -> dict:
    """Producers create alerts for `duration` s at `rate`/s in total (0: unpaced) while 100
    WebSocket clients listen; returns the rate reached and what the clients missed."""
    clients = ClientGroup(ws_url, 100, log_dir)
    procs: list[subprocess.Popen] = []
    try:
        connected, failed = clients.wait_ready()
        say(f"ingest at {rate or 'max'}/s for {duration:.0f} s; {connected} clients listening")
        start_at = time.time() + 3.0
        for index in range(producers):
            args = [PYTHON, str(BENCH_DIR / "ingest_producer.py"), "--duration", str(duration)]
            args += ["--rate", str(rate / producers), "--start-at", str(start_at)]
            args += ["--cameras", ",".join(str(c) for c in camera_ids[index::producers])]
            if snapshot is not None:
                args += ["--snapshot", str(snapshot)]
            log = (log_dir / f"producer-{index}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    args, env=env, stdout=subprocess.PIPE, stderr=log, start_new_session=True
                )
            )
            log.close()
        time.sleep(max(0.0, start_at - time.time()))
        meter = CpuMeter([daphne_pid])
        meter.start()
        done = []
        for proc in procs:
            assert proc.stdout is not None
            output = proc.stdout.read()
            proc.wait(60)
            done += [json.loads(line) for line in output.splitlines() if line.strip()]
        daphne_cpu = meter.stop()
        time.sleep(5.0)  # delivery catches up
        received = clients.finish()
    finally:
        clients.stop()
        for proc in procs:
            stop_process(proc)
    created = [i for record in done for i in record["ids"]]
    t0 = min(record["t0"] for record in done)
    t1 = max(record["t1"] for record in done)
    wanted = set(created)
    lost, latencies = 0, []
    for alerts in received:
        got = {alert_id: (at - created_at) * 1000 for alert_id, created_at, at in alerts}
        lost += len(wanted - got.keys())
        latencies += [got[i] for i in wanted if i in got]
    return {
        "target_rate": rate,
        "producers": producers,
        "created": len(created),
        "errors": sum(record["errors"] for record in done),
        "rate": len(created) / (t1 - t0),
        "clients": connected,
        "expected_deliveries": len(created) * connected,
        "lost": lost,
        "latency": spread(latencies),
        "alerts_per_message": len(latencies) / max(1, clients.frames),
        "daphne_cpu_pct": daphne_cpu.cpu_pct,
        "producers_cpu_pct": 100 * sum(record["cpu_s"] for record in done) / (t1 - t0),
        "machine_busy_pct": daphne_cpu.machine_busy_pct,
        "snapshot_bytes": snapshot.stat().st_size if snapshot else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=100, help="timed requests per API call")
    parser.add_argument("--ingest-seconds", type=float, default=20.0)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument(
        "--ingest-runs",
        type=int,
        default=1,
        help="paced ingest runs; the figure is their median (runs swing by 10 %% on 2 cores)",
    )
    parser.add_argument("--no-snapshot", action="store_true", help="ingest alerts without JPEG")
    parser.add_argument(
        "--parts", default="api,pages,ingest", help="comma-separated, of: api, pages, ingest"
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests, 10 s of ingest")
    parser.add_argument("--keep-db", action="store_true", help="keep the seeded database")
    parser.add_argument("--no-explain", action="store_true", help="do not print the plans")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.ingest_seconds = 40, 10.0
    terminate_on_signals()
    raise_fd_limit()
    command = ".venv/bin/python bench/alerts_scale.py" + (" --quick" if args.quick else "")
    log_dir = scratch_dir("skylark-bench-alerts-")

    with bench_django(DB_NAME, keep_db=args.keep_db, fresh=False) as env:
        from rest_framework_simplejwt.tokens import AccessToken

        from accounts.models import User
        from tests.support.processes import Daphne

        camera_ids, seed_s = ensure_seeded(args.alerts, args.cameras, 30)
        daphne = Daphne(env, log_dir).start()
        try:
            parts = args.parts.split(",")
            api = measure_api(camera_ids, args.repeats, daphne.port) if "api" in parts else []
            pages = measure_pages(max(10, args.repeats // 5)) if "pages" in parts else []
            ingest = []
            if "ingest" in parts:
                snapshot = None
                if not args.no_snapshot:
                    snapshot = log_dir / "snapshot.jpg"
                    snapshot.write_bytes(snapshot_jpeg())
                viewer, _ = User.objects.get_or_create(username="bench-viewer")
                ws_url = f"{daphne.ws_url}?token={AccessToken.for_user(viewer)}"
                assert daphne.proc is not None
                # The paced runs, then (not with --quick) 10 s as fast as the producers go.
                runs = [(INGEST_GOAL, args.ingest_seconds)] * args.ingest_runs
                runs += [] if args.quick else [(0.0, 10.0)]
                for rate, seconds in runs:
                    ingest.append(
                        measure_ingest(
                            env,
                            ws_url,
                            daphne.proc.pid,
                            camera_ids,
                            rate,
                            seconds,
                            args.producers,
                            snapshot,
                            log_dir,
                        )
                    )
        finally:
            daphne.stop()

    report(api, pages, ingest, seed_s, args, command)
    return 0


def report(
    api: list[dict],
    pages: list[dict],
    ingest: list[dict],
    seed_s: float | None,
    args: argparse.Namespace,
    command: str,
) -> None:
    if seed_s is not None:
        print(f"\nSeeded {args.alerts:,} alerts in {seed_s:.1f} s (COPY + VACUUM ANALYZE)")
    print(
        f"\nGET /api/alerts/ with {args.alerts:,} alerts (ms; in-process server time; HTTP via daphne)"
    )
    print_table(
        ["request", "rows", "p50", "p95", "p99", "cpu p50", "cpu p95", "http p50", "http p95",
         "queries", "COUNT queries"],
        [
            [r["request"], r["rows"] if r["rows"] is not None else "-", r["in_process"]["p50"],
             r["in_process"]["p95"], r["in_process"]["p99"],
             r["cpu"]["p50"] if r["cpu"] else "-", r["cpu"]["p95"] if r["cpu"] else "-",
             r["http"]["p50"] if r["http"] else "-", r["http"]["p95"] if r["http"] else "-",
             r["queries"] if r["queries"] is not None else "-",
             r["count_queries"] if r["count_queries"] is not None else "-"]
            for r in api
        ],
    )  # fmt: skip
    if not args.no_explain:
        for r in api:
            if r["plan"]:
                print(f"\n-- {r['request']}: {r['path']}")
                for sql in r["sql"]:
                    print(f"   query: {sql[:400]}")
                print(r["plan"])
    for r in api:
        if r["queries"] is None:
            continue
        plan = r["plan"]
        index_scan = "Index" in plan and "Seq Scan on alerts_alert" not in plan
        Figure(
            figure=f"GET /api/alerts/ {r['request']}, 1M alerts (server time, in-process)",
            goal="p95 < 25 ms, index scan, no COUNT(*)",
            measured=(
                f"p95 {r['in_process']['p95']:.1f} ms (p50 {r['in_process']['p50']:.1f},"
                f" CPU p95 {r['cpu']['p95']:.1f});"
                f" {'index scan' if index_scan else 'NO index scan'};"
                f" {r['count_queries']} COUNT of {r['queries']} queries"
            ),
            baseline=f"over HTTP via daphne p95 {r['http']['p95']:.1f} ms" if r["http"] else "-",
            ratio=f"{r['in_process']['p95'] / API_GOAL_MS:.2f} of goal",
            command=command,
            ok=r["in_process"]["p95"] < API_GOAL_MS and index_scan and r["count_queries"] == 0,
            details={
                "p99_ms": r["in_process"]["p99"],
                "cpu_ms": r["cpu"],
                "path": r["path"],
                "machine_busy_pct": r.get("machine_busy_pct"),
            },
        ).emit()

    print("\nDashboard first paint (server time, ms, session login, 1M alerts)")
    print_table(
        ["page", "path", "status", "p50", "p95", "bytes", "queries", "COUNT queries"],
        [
            [p["page"], p["path"], p["status"], p.get("times", {}).get("p50", "-"),
             p.get("times", {}).get("p95", "-"), p.get("bytes", "-"), p.get("queries", "-"),
             p.get("count_queries", "-")]
            for p in pages
        ],
    )  # fmt: skip
    for p in pages:
        available = p["status"] == 200
        Figure(
            figure=f"dashboard first paint GET {p['path']} ({p['page']}), 1M alerts",
            goal="server time < 1 s",
            measured=(
                f"p95 {p['times']['p95']:.0f} ms (p50 {p['times']['p50']:.0f})"
                if available
                else f"not measurable: HTTP {p['status']}"
            ),
            baseline="-",
            ratio=f"{p['times']['p95'] / PAGE_GOAL_MS:.2f} of goal" if available else "n/a",
            command=command,
            ok=available and p["times"]["p95"] < PAGE_GOAL_MS,
            details=p,
        ).emit()

    if ingest:
        print("\nIngest through create_alert (row + snapshot + broadcast), 100 WebSocket clients")
        print_table(
            ["target/s", "producers", "created", "rate/s", "errors", "lost deliveries",
             "deliveries", "alerts/message", "latency p50", "p95", "p99", "daphne cpu%",
             "producers cpu%", "machine%"],
            [
                [i["target_rate"] or "max", i["producers"], i["created"], i["rate"], i["errors"],
                 i["lost"], i["expected_deliveries"], i["alerts_per_message"],
                 i["latency"]["p50"], i["latency"]["p95"],
                 i["latency"]["p99"], i["daphne_cpu_pct"], i["producers_cpu_pct"],
                 i["machine_busy_pct"]]
                for i in ingest
            ],
        )  # fmt: skip
        paced = [i for i in ingest if i["target_rate"]]
        unpaced = next((i for i in ingest if not i["target_rate"]), None)
        rates = [i["rate"] for i in paced]
        rate = median(rates)
        lost = sum(i["lost"] for i in paced)
        runs = (
            f" (median of {len(rates)}: {min(rates):.0f}-{max(rates):.0f})"
            if len(rates) > 1
            else ""
        )
        Figure(
            figure="sustained ingest via create_alert + broadcast, 100 WebSocket clients",
            goal=">= 500 alerts/s, every client gets every alert",
            measured=(
                f"{rate:.0f} alerts/s for {args.ingest_seconds:.0f} s{runs}, lost"
                f" {lost} of {sum(i['expected_deliveries'] for i in paced)} deliveries"
            ),
            baseline=f"unpaced max {unpaced['rate']:.0f} alerts/s" if unpaced else "-",
            ratio=f"{rate / INGEST_GOAL:.2f} of goal",
            command=command,
            ok=rate >= 0.98 * INGEST_GOAL and lost == 0 and not any(i["errors"] for i in paced),
            details={"paced": paced, "unpaced": unpaced},
        ).emit()


if __name__ == "__main__":
    sys.exit(main())
