"""How many alert events per second ONE daphne process delivers to N WebSocket clients, without
the cost of creating alerts: the limit behind the ingest figure of alerts_scale.py.

Events shaped like real `alert` events (distinct ids) are sent straight into the Channels layer
group every dashboard joins, from one long-lived event loop in this process, at increasing rates;
100 real clients (bench/ws_clients.py) count what arrives and when. A message the layer refuses
(a channel over capacity) and one daphne drops from a consumer's local queue both show up as lost.

Events that arrive together reach a client in one `batch` frame (config/channel_layer.py), as
they do in production; the table shows how many WebSocket frames that took.

    .venv/bin/python bench/fanout_capacity.py [--rates 25,50,100,200] [--clients 100]
"""

import argparse
import asyncio
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    CpuMeter,
    Figure,
    bench_django,
    median,
    print_table,
    raise_fd_limit,
    say,
    scratch_dir,
    spread,
    terminate_on_signals,
)
from bench.ws_latency import ClientGroup


class OverCapacity(logging.Handler):
    """Counts the layer's channel_over_capacity reports (config/channel_layer.py)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.refused = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "channel_over_capacity" in record.getMessage():
            self.refused += 1


def alert_payload(alert_id: int, camera_id: int) -> dict:
    """An `alert` as the API and the live feed serialize it."""
    return {
        "id": alert_id, "camera": camera_id, "camera_name": "bench",
        "created_at": datetime.now(UTC).isoformat(), "face_count": 1,
        "boxes": [[320, 180, 180, 180, 0.93]], "snapshot_url": f"/api/alerts/{alert_id}/snapshot/",
        "acknowledged_at": None, "acknowledged_by": None,
    }  # fmt: skip


def send_events(rate: float, seconds: float, first_id: int, camera_id: int) -> list[int]:
    """group_send `rate` alerts a second for `seconds` from a dedicated event loop."""
    from channels.layers import get_channel_layer

    from alerts.realtime import ALL_CAMERAS_GROUP, group_message

    layer = get_channel_layer()

    async def run() -> list[int]:
        ids: list[int] = []
        start = time.monotonic()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            event = {"type": "alert", "alert": alert_payload(first_id + n, camera_id)}
            await layer.group_send(ALL_CAMERAS_GROUP, group_message(camera_id, event))
            ids.append(first_id + n)
        return ids

    result: list[int] = []
    thread = threading.Thread(target=lambda: result.extend(asyncio.run(run())))
    thread.start()
    thread.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="25,50,100,200,400", help="alert events per second")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8.0, help="per rate")
    parser.add_argument(
        "--asgi",
        default="config.asgi:application",
        help="what daphne serves: another ASGI application to compare, e.g. a variant of the app",
    )
    args = parser.parse_args(argv)
    terminate_on_signals()
    raise_fd_limit()
    log_dir = scratch_dir("skylark-bench-fanout-")
    counter = OverCapacity()
    logging.getLogger("skylark.realtime").addHandler(counter)
    logging.getLogger("skylark.realtime").setLevel(logging.INFO)

    rows = []
    with bench_django("skylark_bench_fanout") as env:
        from rest_framework_simplejwt.tokens import AccessToken

        from accounts.models import User
        from tests.support.processes import Daphne

        user = User.objects.create_user("bench-viewer", password="bench-password-123")
        url_token = str(AccessToken.for_user(user))
        daphne = Daphne(env, log_dir)
        daphne.args[-1] = args.asgi  # the ASGI application daphne serves
        daphne.start()
        try:
            next_id = 1
            for rate in [float(r) for r in args.rates.split(",")]:
                group = ClientGroup(f"{daphne.ws_url}?token={url_token}", args.clients, log_dir)
                try:
                    connected, _ = group.wait_ready()
                    say(f"{rate:.0f} events/s to {connected} clients for {args.seconds:.0f} s")
                    time.sleep(1.0)
                    refused_before = counter.refused
                    assert daphne.proc is not None
                    meter = CpuMeter([daphne.proc.pid])
                    meter.start()
                    ids = send_events(rate, args.seconds, next_id, 1)
                    next_id += len(ids)
                    received = group.finish()  # waits until nothing more arrives
                    cpu = meter.stop()
                finally:
                    group.stop()
                wanted = set(ids)
                latencies, lost = [], 0
                for alerts in received:
                    got = {i: (at - created) * 1000 for i, created, at in alerts}
                    lost += len(wanted - got.keys())
                    latencies += [got[i] for i in wanted if i in got]
                stats = spread(latencies)
                expected = len(ids) * connected
                rows.append(
                    {
                        "rate": rate,
                        "clients": connected,
                        "deliveries_per_s": rate * connected,
                        "ws_messages_per_s": group.frames / args.seconds,
                        "alerts_per_message": len(latencies) / max(1, group.frames),
                        "expected": expected,
                        "lost": lost,
                        "lost_pct": 100 * lost / expected if expected else 0.0,
                        "refused_by_redis": counter.refused - refused_before,
                        "p50_ms": stats["p50"],
                        "p95_ms": stats["p95"],
                        "p99_ms": stats["p99"],
                        "daphne_cpu_pct": cpu.cpu_pct,
                        "daphne_cpu_us_per_delivery": 1e6
                        * sum(cpu.by_pid.values())
                        / max(1, len(latencies)),
                        "clients_cpu_us_per_delivery": 1e6 * group.cpu_s / max(1, len(latencies)),
                        "machine_busy_pct": cpu.machine_busy_pct,
                    }
                )
        finally:
            daphne.stop()

    keys = ["rate", "clients", "deliveries_per_s", "ws_messages_per_s", "alerts_per_message"]
    keys += ["expected"]
    keys += ["lost", "lost_pct"]
    keys += ["refused_by_redis", "p50_ms", "p95_ms", "p99_ms", "daphne_cpu_pct"]
    keys += ["daphne_cpu_us_per_delivery", "clients_cpu_us_per_delivery", "machine_busy_pct"]
    print("\nOne daphne: alerts/s -> deliveries to WebSocket clients (CPU per alert delivered)")
    print_table(keys, [[row[k] for k in keys] for row in rows])
    clean = [r for r in rows if r["lost"] == 0 and r["p99_ms"] < 1000]
    best = max(clean, key=lambda r: r["rate"]) if clean else None
    Figure(
        figure=(
            f"fan-out capacity of one daphne, {args.clients} clients"
            + (f" [what-if {args.asgi}]" if args.asgi != "config.asgi:application" else "")
        ),
        goal="500 alerts/s x 100 clients = 50,000 deliveries/s, no loss (ingest goal)",
        measured=(
            f"{best['rate']:.0f} alerts/s ({best['deliveries_per_s']:.0f} deliveries/s) with no"
            f" loss, p99 < 1 s; {median([r['daphne_cpu_us_per_delivery'] for r in rows]):.0f} us"
            " of daphne CPU per delivery"
            if best
            else "loss at every rate tried"
        ),
        baseline="-",
        ratio=f"{best['rate'] / 500:.2f} of goal" if best else "n/a",
        command=".venv/bin/python bench/fanout_capacity.py"
        + (f" --asgi {args.asgi}" if args.asgi != "config.asgi:application" else ""),
        ok=bool(best) and best["rate"] >= 500,
        details={"rows": rows},
    ).emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
