"""The dashboard's live feed as a test client sees it: WebSocket clients that keep the last alert
id, reconnect with backoff and resume, as the dashboard's script does."""

import asyncio
import json
import threading
import time
from collections.abc import Callable

import websockets

from alerts.realtime import events_in


class ResumingClient:
    """What the dashboard does: keep the last alert id, reconnect with backoff, resume."""

    def __init__(self, url: str, after_id: int = 0) -> None:
        self.url = url
        self.after_id = after_id
        self.received: list[int] = []
        self.connections = 0
        self.resumes_done = 0

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                async with websockets.connect(self.url, open_timeout=3) as ws:
                    self.connections += 1
                    delay = 0.2
                    last = self.received[-1] if self.received else self.after_id
                    await ws.send(json.dumps({"type": "resume", "after_id": last}))
                    async for raw in ws:
                        for message in events_in(json.loads(raw)):
                            if message["type"] == "alert":
                                self.received.append(message["alert"]["id"])
                            elif message["type"] == "resume.done":
                                self.resumes_done += 1
            except (OSError, websockets.WebSocketException, TimeoutError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


class Dashboards:
    """N ResumingClients run on an event loop in a background thread, so a test can go on
    driving processes synchronously while they listen."""

    def __init__(self, url: str, count: int, after_id: int = 0) -> None:
        self.clients = [ResumingClient(url, after_id) for _ in range(count)]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: list[asyncio.Future] = []

    def start(self) -> "Dashboards":
        self._thread.start()
        self._tasks = [
            asyncio.run_coroutine_threadsafe(client.run(), self._loop) for client in self.clients
        ]
        return self

    def connected(self) -> bool:
        return all(client.resumes_done >= 1 for client in self.clients)

    def wait_until_all_have(self, expected: Callable[[], list[int]], timeout: float) -> list[int]:
        """Wait until every client has received exactly expected() (read anew each time, since
        the loop keeps raising alerts), in order and once each; fail otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            wanted = expected()
            if all(client.received == wanted for client in self.clients):
                return wanted
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for index, client in enumerate(self.clients):
            assert client.received == wanted, (
                f"client {index} got {client.received}, expected {wanted}"
            )
        return wanted

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
