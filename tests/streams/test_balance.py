"""Two streams workers, standing in for two hosts, share six cameras evenly: when one dies the
other runs all six within 15 s, and when it is back it takes its share again — never two loops
for one camera at any instant."""

import re
import threading
import time
from io import StringIO

import pytest
import redis
from django.conf import settings
from django.core.management import call_command

from cameras import streams
from cameras.models import Camera
from simulator.control import CameraSimulator
from simulator.videos import ensure_video
from tests.support.processes import CeleryBeat, CeleryWorker, child_env
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

CAMERAS = 6
LOOP_EVENT = re.compile(r"event=(loop_start|loop_end) camera=(\d+)")


def owners(cameras: list[Camera]) -> dict[int, str | None]:
    return streams.loop_owners(redis.Redis.from_url(settings.REDIS_URL), [c.pk for c in cameras])


def share(cameras: list[Camera]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for owner in owners(cameras).values():
        if owner is not None:
            counts[owner] = counts.get(owner, 0) + 1
    return counts


def running_loops(worker: CeleryWorker) -> set[int]:
    """The cameras whose loop this worker started and has not ended, from its log."""
    running: set[int] = set()
    for event, camera in LOOP_EVENT.findall(worker.log()):
        (running.add if event == "loop_start" else running.discard)(int(camera))
    return running


class DoubleLoopWatch:
    """Samples every live worker's running loops; any camera in two at once is a double loop."""

    def __init__(self) -> None:
        self.live: list[CeleryWorker] = []
        self.doubles: list[tuple[int, list[str]]] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            seen: dict[int, list[str]] = {}
            for worker in list(self.live):
                for camera in running_loops(worker):
                    seen.setdefault(camera, []).append(worker.name)
            self.doubles += [(camera, names) for camera, names in seen.items() if len(names) > 1]
            self.samples += 1

    def __enter__(self) -> "DoubleLoopWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_two_workers_share_six_cameras_and_take_over_from_each_other(process_logs):
    video = ensure_video("balance-180p", [], 20.0, width=320, height=180, face_size=40)
    names = [f"cam{i}" for i in range(CAMERAS)]
    env = child_env()
    with CameraSimulator(dict.fromkeys(names, video)) as simulator, DoubleLoopWatch() as watch:
        cameras = [
            Camera.objects.create(
                name=name, url=simulator.url(name), interval_ms=2000, desired_state="running"
            )
            for name in names
        ]
        a = CeleryWorker(env, process_logs, queues="streams", concurrency=8, name="streams-a")
        b = CeleryWorker(env, process_logs, queues="streams", concurrency=8, name="streams-b")
        # The reconciler runs on the default queue, as in production (worker-default).
        default = CeleryWorker(env, process_logs, queues="default", concurrency=1, name="default")
        beat = CeleryBeat(env, process_logs)
        workers = [a, b, default]
        try:
            for worker in (a, b):
                worker.start()
                watch.live.append(worker)
            default.start()
            beat.start()
            wait_for(lambda: sorted(share(cameras).values()) == [3, 3], 40, "3 cameras each")

            a.kill()
            watch.live.remove(a)
            killed = time.monotonic()
            wait_for(lambda: share(cameras) == {b_name(b, cameras): 6}, 15, "b runs all six")
            taken_over_s = time.monotonic() - killed

            back = CeleryWorker(
                env, process_logs, queues="streams", concurrency=8, name="streams-c"
            )
            workers.append(back)
            back.start()
            watch.live.append(back)
            returned = time.monotonic()
            wait_for(lambda: sorted(share(cameras).values()) == [3, 3], 40, "3 each again")
            rebalanced_s = time.monotonic() - returned
            assert running_loops(back) == {
                pk for pk, owner in owners(cameras).items() if owner and "streams-c" in owner
            }
            # `manage.py streams status` says which worker runs each camera.
            table = StringIO()
            call_command("streams", "status", stdout=table)
            rows = {line.split()[0]: line for line in table.getvalue().splitlines()[1:]}
            for pk, owner in owners(cameras).items():
                assert owner is not None and owner in rows[str(pk)].split()
            print(f"taken over in {taken_over_s:.1f}s, rebalanced in {rebalanced_s:.1f}s")
        finally:
            beat.stop()
            for worker in workers:
                worker.stop()
    assert watch.samples > 100
    assert watch.doubles == [], f"two loops for one camera: {watch.doubles[:5]}"


def b_name(worker: CeleryWorker, cameras: list[Camera]) -> str:
    """The node name `worker` runs its loops under (as its leases say)."""
    names = {owner for owner in owners(cameras).values() if owner and worker.name in owner}
    assert len(names) == 1, names
    return names.pop()
