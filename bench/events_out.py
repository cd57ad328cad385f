"""Events out: alerts made at a steady rate (bench/ingest_producer.py, through
alerts.services.create_alert) with webhook endpoints (real HTTP receivers in this process, each
checking the signature) and MQTT (a private Mosquitto and a subscriber) on; one Celery worker
for the default queue delivers. Reports, per destination, how many events arrived (nothing may
be missing) and the delay from the alert's creation to its arrival (p50/p95/p99), plus the CPU
of the worker and the producer.

Database skylark_bench_events (dropped at the end), Redis db 7 (SKYLARK_BENCH_REDIS_URL).

    .venv/bin/python bench/events_out.py [--rate 500] [--seconds 60] [--webhooks 3] [--no-mqtt]
"""

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BENCH_DIR,
    BIN,
    PYTHON,
    ROOT,
    CpuMeter,
    Figure,
    bench_django,
    print_table,
    say,
    scratch_dir,
    spread,
    stop_process,
    terminate_on_signals,
)

GOAL_P95_MS = 1000.0
SECRET = "bench-webhook-secret-0123456789"


class Receiver:
    """A webhook receiver: arrival time of each event id (the first), bad signatures counted."""

    def __init__(self) -> None:
        from events.signing import verify

        self.first_seen: dict[str, float] = {}
        self.requests = 0
        self.bad_signatures = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                now = time.time()
                ok = verify(
                    SECRET,
                    int(self.headers["X-Skylark-Timestamp"]),
                    body,
                    self.headers["X-Skylark-Signature"],
                )
                with lock:
                    receiver.requests += 1
                    receiver.bad_signatures += not ok
                    receiver.first_seen.setdefault(self.headers["X-Skylark-Event-Id"], now)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


class MqttListener:
    def __init__(self, port: int) -> None:
        import paho.mqtt.client as paho

        self.first_seen: dict[str, float] = {}
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-listener")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda client, *a: client.subscribe("skylark/+/alert", qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.first_seen.setdefault(json.loads(message.payload)["id"], time.time())


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen, int]:
    from simulator.control import free_port

    port = free_port()
    config = workdir / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", str(config)], start_new_session=True)
    time.sleep(0.5)
    return proc, port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="alerts/s")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--webhooks", type=int, default=3)
    parser.add_argument("--no-mqtt", action="store_true")
    parser.add_argument("--drain-s", type=float, default=120.0, help="wait this long at most")
    args = parser.parse_args(argv)
    terminate_on_signals()
    logs = scratch_dir("skylark-bench-events-")
    processes: list[subprocess.Popen] = []
    with bench_django("skylark_bench_events") as env:
        try:
            mqtt_port = 0
            if not args.no_mqtt:
                broker, mqtt_port = start_mosquitto(logs)
                processes.append(broker)
            worker_env = {
                **env,
                "WEBHOOK_ALLOW_PRIVATE": "1",
                "MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}" if mqtt_port else "",
            }
            env.update(worker_env)
            from django.conf import settings

            settings.WEBHOOK_ALLOW_PRIVATE = True
            settings.MQTT_URL = worker_env["MQTT_URL"]
            from cameras.models import Camera
            from events.models import Delivery, Event
            from events.services import create_webhook

            receivers = [Receiver() for _ in range(args.webhooks)]
            for n, receiver in enumerate(receivers):
                create_webhook(name=f"bench {n}", url=receiver.url, secret=SECRET)
            listener = MqttListener(mqtt_port) if mqtt_port else None
            cameras = [
                Camera.objects.create(name=f"bench {uuid.uuid4().hex[:6]}", url="rtsp://b.local/s")
                for _ in range(2)
            ]
            worker = subprocess.Popen(
                [str(BIN / "celery"), "-A", "config", "worker", "-Q", "default", "--pool",
                 "threads", "-c", str(args.webhooks + 1), "-n", f"bench-events@{uuid.uuid4().hex[:6]}",
                 "--without-gossip", "--without-mingle", "-l", "warning"],
                cwd=ROOT, env=worker_env, start_new_session=True,
                stdout=(logs / "worker.log").open("wb"), stderr=subprocess.STDOUT,
            )  # fmt: skip
            processes.append(worker)
            time.sleep(5)  # the worker connects
            say(f"producing {args.rate:.0f} alerts/s for {args.seconds:.0f} s")
            producer = subprocess.Popen(
                [PYTHON, str(BENCH_DIR / "ingest_producer.py"), "--cameras",
                 ",".join(str(c.pk) for c in cameras), "--rate", str(args.rate),
                 "--duration", str(args.seconds)],
                cwd=ROOT, env=worker_env, stdout=subprocess.PIPE, start_new_session=True,
            )  # fmt: skip
            meter = CpuMeter([worker.pid, producer.pid])
            meter.start()
            out, _ = producer.communicate()
            done = json.loads(out.decode().strip().splitlines()[-1])
            say(f"{len(done['ids'])} alerts made ({done['errors']} errors); draining")
            deadline = time.monotonic() + args.drain_s
            while Delivery.objects.filter(status="pending").exists():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            cpu = meter.stop()
            created = {
                str(event_id): at.timestamp()
                for event_id, at in Event.objects.filter(type="alert.created").values_list(
                    "event_id", "created_at"
                )
            }
            destinations = [(f"webhook {n}", r.first_seen) for n, r in enumerate(receivers)]
            if listener is not None:
                destinations.append(("mqtt", listener.first_seen))
            rows, worst_p95, missing_total = [], 0.0, 0
            for name, seen in destinations:
                delays = [1000 * (seen[i] - t) for i, t in created.items() if i in seen]
                missing = len(created) - len(delays)
                missing_total += missing
                s = spread(delays)
                worst_p95 = max(worst_p95, s["p95"])
                rows.append([name, len(delays), missing, s["p50"], s["p95"], s["p99"], s["max"]])
            print_table(
                ["destination", "arrived", "missing", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows
            )
            bad = sum(r.bad_signatures for r in receivers)
            print(f"alerts: {len(created)}, bad signatures: {bad}, producer behind by "
                  f"{done['behind_s']:.1f} s; CPU worker+producer {cpu.cpu_pct:.0f} % of a core, "
                  f"machine {cpu.machine_busy_pct:.0f} %")  # fmt: skip
            Figure(
                figure=f"events out: {args.rate:.0f} alerts/s for {args.seconds:.0f} s, "
                f"{args.webhooks} webhooks{'' if args.no_mqtt else ' + MQTT'}, delivery p95",
                goal=f"nothing lost, p95 < {GOAL_P95_MS:.0f} ms",
                measured=f"p95 {worst_p95:.0f} ms (worst destination), {missing_total} missing",
                baseline="–",
                ratio=f"{worst_p95 / GOAL_P95_MS:.2f}",
                command=" ".join(["bench/events_out.py", *(argv or sys.argv[1:])]),
                ok=missing_total == 0 and worst_p95 < GOAL_P95_MS and bad == 0,
            ).emit()
        finally:
            for proc in reversed(processes):
                stop_process(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
