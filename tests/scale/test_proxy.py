"""Two daphne processes behind HAProxy, configured by deploy/haproxy.cfg (the file the compose
profile "scale" uses): requests and WebSockets reach both, and when either daphne dies its
dashboards reconnect through the proxy to the other and resume with no gap and no duplicate —
no sticky sessions needed."""

import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from alerts.services import create_alert
from simulator.control import free_port
from tests.support.live_feed import Dashboards
from tests.support.processes import Daphne, child_env, wait_for_port
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"
CLIENTS = 8


class Proxy:
    """HAProxy in the foreground (-db) with deploy/haproxy.cfg and these daphnes."""

    def __init__(self, web1: Daphne, web2: Daphne, log_dir: Path) -> None:
        self.port = free_port()
        self.log = (log_dir / f"haproxy-{self.port}.log").open("wb")
        env = {
            "PATH": "/usr/sbin:/usr/bin:/bin",
            "SKYLARK_PROXY_BIND": f"127.0.0.1:{self.port}",
            "SKYLARK_WEB1": f"127.0.0.1:{web1.port}",
            "SKYLARK_WEB2": f"127.0.0.1:{web2.port}",
        }
        haproxy = shutil.which("haproxy", path="/usr/sbin:/usr/bin")
        assert haproxy, "haproxy is installed by `make test-system-deps`"
        self.proc = subprocess.Popen(
            [haproxy, "-db", "-f", str(CONFIG)], env=env, stdout=self.log, stderr=self.log
        )
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def alert_ids() -> list[int]:
    from alerts.models import Alert

    return list(Alert.objects.order_by("id").values_list("id", flat=True))


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status


def test_dashboards_resume_through_the_proxy_when_either_daphne_dies(viewer, camera, process_logs):
    web1 = Daphne(child_env(), process_logs)
    web2 = Daphne(child_env(), process_logs)
    proxy: Proxy | None = None
    dashboards: Dashboards | None = None
    try:
        web1.start()
        web2.start()
        proxy = Proxy(web1, web2, process_logs)
        assert get(f"http://127.0.0.1:{proxy.port}/healthz") == 200
        token = AccessToken.for_user(viewer)
        dashboards = Dashboards(f"ws://127.0.0.1:{proxy.port}/ws/?token={token}", CLIENTS)
        dashboards.start()
        wait_for(dashboards.connected, 15, "dashboards connected through the proxy")
        for _ in range(3):
            create_alert(camera=camera, face_count=1, boxes=[])
        dashboards.wait_until_all_have(alert_ids, timeout=10)

        for dying, other in ((web1, web2), (web2, web1)):
            dying.kill()
            # Alerts raised while the dashboards on the dead daphne are away: they must get them
            # by resuming through the proxy on the other daphne.
            for _ in range(3):
                create_alert(camera=camera, face_count=1, boxes=[])
            dashboards.wait_until_all_have(alert_ids, timeout=20)
            assert other.proc.poll() is None
            # Back before the other one dies: the second round proves the proxy took it back.
            dying.start()

        # Least-connections balancing spread the dashboards over both daphnes, so the two
        # deaths each cost some of them their connection (a client reconnects once per loss).
        reconnected = [client.connections for client in dashboards.clients]
        assert sum(c > 1 for c in reconnected) >= 2, reconnected
        assert len(alert_ids()) == 9
        log = Path(proxy.log.name).read_text()
        assert "daphne/web1" in log and "daphne/web2" in log and "GET /ws/ HTTP/1.1" in log
        assert str(token) not in log, "a token in the proxy's log"
    finally:
        if dashboards is not None:
            dashboards.stop()
        if proxy is not None:
            proxy.stop()
        web1.stop()
        web2.stop()


def test_the_proxy_checks_web_readiness_without_the_workers(client):
    """What deploy/haproxy.cfg asks: this daphne's PostgreSQL and Redis, not the streams
    workers (none runs here), so a worker outage never takes the site down."""
    assert client.get("/readyz").status_code == 503
    ready = client.get("/readyz?scope=web")
    assert ready.status_code == 200, ready.json()
    assert ready.json() == {"status": "ok", "down": []}
