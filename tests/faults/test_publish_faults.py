"""Publishing faults: the ffmpeg publisher is killed, the media server (MediaMTX, played by an
ffmpeg RTSP receiver) goes away. Detection and alerts must not notice; the push must resume."""

import os
import signal
import time

import pytest
from django.utils import timezone

from alerts.models import Alert
from cameras.models import Camera
from cameras.services import start_stream
from simulator.control import CameraSimulator, RtspReceiver
from tests.support.waiting import wait_for

from .conftest import FACE_PERIOD_S, LoopStack
from .support import KeepListening, camera_row, kill_all, publisher_pids

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def alerts_since(camera: Camera, since) -> int:
    return Alert.objects.filter(camera=camera, created_at__gte=since).count()


def test_detection_and_alerts_go_on_while_publishing_fails_and_the_push_resumes(
    loop_stack: LoopStack, face_video, tmp_path
):
    pids_seen: set[int] = set()
    with CameraSimulator({"door": face_video}) as simulator:
        camera = Camera.objects.create(
            name="Door", url=simulator.url("door"), interval_ms=250, cooldown_s=1.0
        )
        receiver = KeepListening(
            RtspReceiver(camera.stream_path, port=loop_stack.publish_port, workdir=tmp_path)
        ).start()
        publish_url = receiver.receiver.url
        try:
            start_stream(camera)
            wait_for(lambda: camera_row(camera.pk)["status"] == "online", 20, "online")
            receiver.wait_for_frames(15, timeout=15)
            # Exactly one: a publisher restarted early on may take a moment to be reaped.
            [publisher] = wait_for(
                lambda: pids if len(pids := publisher_pids(publish_url)) == 1 else None,
                15,
                "exactly one publisher",
            )
            pids_seen.add(publisher)

            # 1. The publisher's ffmpeg is killed (OOM killer, a crash).
            sessions = receiver.sessions
            os.kill(publisher, signal.SIGKILL)
            killed = time.monotonic()
            killed_at = timezone.now()
            new = wait_for(
                lambda: [p for p in publisher_pids(publish_url) if p != publisher],
                10,
                "a new publisher process",
            )
            pids_seen.update(new)
            respawned_after = time.monotonic() - killed
            wait_for(lambda: receiver.sessions > sessions, 10, "the killed session's end")
            receiver.wait_for_frames(15, timeout=20)
            resumed_after = time.monotonic() - killed
            wait_for(
                lambda: alerts_since(camera, killed_at), 2 * FACE_PERIOD_S, "alerts after the kill"
            )
            assert camera_row(camera.pk)["status"] == "online"

            # 2. The media server goes away for a while: publishing fails and is retried with
            # backoff; detection and alerts carry on as if nothing happened.
            receiver.stop()
            gone_at = timezone.now()
            outage_s = 3 * FACE_PERIOD_S
            deadline = time.monotonic() + outage_s
            while time.monotonic() < deadline:
                assert camera_row(camera.pk)["status"] == "online"
                pids_seen.update(publisher_pids(publish_url))
                time.sleep(0.25)
            during_outage = alerts_since(camera, gone_at)
            assert during_outage >= 1, f"no alert in {outage_s:g}s without a server"
            row = camera_row(camera.pk)
            assert row["fps_in"] > 5 and row["last_frame_at"] > gone_at

            receiver.start()
            back = time.monotonic()
            receiver.wait_for_frames(15, timeout=30)
            push_back_after = time.monotonic() - back
            assert loop_stack.worker.proc.poll() is None
            assert loop_stack.worker.log().count(f"event=loop_start camera={camera.pk}\n") == 1
            print(
                f"publisher killed → new ffmpeg after {respawned_after:.1f}s, frames at the "
                f"receiver after {resumed_after:.1f}s; "
                f"server away {outage_s:g}s: {during_outage} alerts meanwhile, push back "
                f"{push_back_after:.1f}s after it returned"
            )
        finally:
            receiver.stop()
            receiver.receiver.close()
            kill_all([p for p in pids_seen if p in publisher_pids(publish_url)])
