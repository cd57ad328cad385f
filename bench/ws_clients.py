"""N real WebSocket clients (the `websockets` package) on Skylark's live feed, in one process, that
note when each alert arrives; a helper of ws_latency.py, e2e_latency.py and alerts_scale.py.

Prints {"ev": "ready", ...} once every client is connected and keeps receiving until stdin closes
(or --duration passes), then until nothing has arrived for --quiet seconds. Then one line per
client: {"ev": "client", "alerts": [[id, created_at, received], ...], "frames": n,
"server_closed": code}, with the alert's own created_at (unix time, from the event) and the time
the message was read off the socket, both from this machine's clock; n the WebSocket messages it
read (a `batch` holds several events); code the close code if the server closed the connection
first, else 0. Parsing waits until the end so that receiving costs as little as
possible (and the event loop is uvloop's); a last {"ev": "done", "cpu_s": ...} line says how much
CPU this process used.

    .venv/bin/python bench/ws_clients.py --url 'ws://127.0.0.1:8000/ws/?token=JWT' --clients 100
"""

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import uvloop
import websockets
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.realtime import events_in  # noqa: E402  (after the path: run as a script)


async def open_client(url: str, attempts: int = 5) -> ClientConnection:
    for attempt in range(attempts):
        try:
            return await connect(url, ping_interval=None, open_timeout=60, max_queue=None)
        except (OSError, TimeoutError, websockets.InvalidStatus):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


async def receive(ws: ClientConnection, log: list[tuple[float, str]], stop: asyncio.Event) -> int:
    """Read until the connection closes; the server's close code if it closed first, else 0."""
    try:
        async for message in ws:
            log.append((time.time(), message if isinstance(message, str) else message.decode()))
    except websockets.ConnectionClosed:
        pass
    return 0 if stop.is_set() else (ws.close_code or 1006)


def alerts_of(log: list[tuple[float, str]]) -> list[list]:
    found = []
    for received, raw in log:
        for event in events_in(json.loads(raw)):
            if event["type"] == "alert":
                alert = event["alert"]
                created = datetime.fromisoformat(alert["created_at"]).timestamp()
                found.append([alert["id"], created, received])
    return found


async def run(
    url: str, clients: int, concurrency: int, duration: float | None, quiet: float, max_drain: float
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wait_for_stdin_close() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_stdin_close, daemon=True).start()
    gate = asyncio.Semaphore(concurrency)

    async def opened() -> ClientConnection | None:
        async with gate:
            try:
                return await open_client(url)
            except Exception as exc:
                print(json.dumps({"ev": "connect_failed", "error": repr(exc)}), flush=True)
                return None

    started = time.monotonic()
    sockets = [ws for ws in await asyncio.gather(*(opened() for _ in range(clients))) if ws]
    logs: list[list[tuple[float, str]]] = [[] for _ in sockets]
    readers = [
        asyncio.create_task(receive(ws, log, stop)) for ws, log in zip(sockets, logs, strict=True)
    ]
    print(
        json.dumps(
            {
                "ev": "ready",
                "connected": len(sockets),
                "failed": clients - len(sockets),
                "connect_s": round(time.monotonic() - started, 2),
            }
        ),
        flush=True,
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), duration)
    # Asked to stop: keep reading until nothing has come for `quiet` seconds, so that alerts
    # still on their way (a backlog) are counted as late, not as lost.
    deadline = time.monotonic() + max_drain
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        total = sum(len(log) for log in logs)
        if total != seen:
            seen, quiet_since = total, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet:
            break
        await asyncio.sleep(0.2)
    for ws in sockets:
        await ws.close()
    closed_early = await asyncio.gather(*readers)
    receiving_cpu_s = time.process_time()
    for index, (log, code) in enumerate(zip(logs, closed_early, strict=True)):
        record = {
            "ev": "client",
            "client": index,
            "alerts": alerts_of(log),
            "frames": len(log),
            "server_closed": code,
        }
        print(json.dumps(record), flush=True)
    print(json.dumps({"ev": "done", "cpu_s": receiving_cpu_s}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://host:port/ws/?token=<JWT>")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--quiet", type=float, default=2.0, help="stop after this long silent")
    parser.add_argument("--max-drain", type=float, default=120.0, help="longest wait for a backlog")
    args = parser.parse_args(argv)
    # uvloop: these clients stand in for browsers on other machines, but share this one with
    # daphne; on uvloop they take a quarter less of its CPU (docs/benchmarks.md).
    uvloop.run(
        run(
            args.url,
            args.clients,
            args.connect_concurrency,
            args.duration,
            args.quiet,
            args.max_drain,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
