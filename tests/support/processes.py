"""Start and stop real Skylark processes (daphne, Celery workers) against the test database."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from simulator.control import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: same settings, the test database, the test Redis."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        CAMERA_FILE_ROOT=str(settings.CAMERA_FILE_ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Process:
    """A child process with its output in a log file (shown when a test fails)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Process":
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Daphne(Process):
    def __init__(self, env: dict[str, str], log_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        args = [
            str(BIN / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "config.asgi:application",
        ]
        super().__init__(f"daphne-{self.port}", args, env, log_dir)

    def start(self) -> "Daphne":
        super().start()
        wait_for_port(self.port, proc=self.proc)
        return self

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"


class CeleryWorker(Process):
    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        queues: str = "streams,default",
        concurrency: int = 4,
        name: str = "worker",
    ) -> None:
        args = [
            str(BIN / "celery"), "-A", "config", "worker", "-Q", queues, "--pool", "threads",
            "-c", str(concurrency), "-n", f"{name}@%h-{os.getpid()}-{time.monotonic_ns()}",
            "--without-gossip", "--without-mingle", "-l", "info",
        ]  # fmt: skip
        super().__init__(name, args, env, log_dir)

    def start(self, timeout: float = 30) -> "CeleryWorker":
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"celery worker not ready:\n{self.log()[-3000:]}")


class CeleryBeat(Process):
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        schedule = log_dir / f"beat-schedule-{time.monotonic_ns()}"
        args = [str(BIN / "celery"), "-A", "config", "beat", "-s", str(schedule), "-l", "info"]
        super().__init__("beat", args, env, log_dir)
