"""A private PostgreSQL cluster on its own port, for tests that stop and restart the database.

The machine's shared server must never be stopped (other suites run on it); this one lives in a
temporary directory, runs as the `postgres` OS user (PostgreSQL refuses to run as root) and trusts
local connections, like the shared one.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

import psycopg

from simulator.control import free_port

PG_BIN = Path(os.environ.get("SKYLARK_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"


class PostgresCluster:
    """initdb + pg_ctl in a temporary directory; url() names a database on it."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="skylark-pg-"))
        self.data = self.workdir / "data"
        self.log_path = self.workdir / "postgres.log"
        self._initialized = False

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout_s: float = 30.0) -> Self:
        if not self._initialized:
            self._init()
        self._pg_ctl(
            "start", "-w", "-t", str(int(timeout_s)), "-l", str(self.log_path),
            # fsync off: the data is thrown away; a clean stop still writes everything.
            "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.workdir} -c fsync=off",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `fast` ends client sessions at once, as a restart or crash would."""
        if self.running:
            self._pg_ctl("stop", "-w", "-m", mode)

    @property
    def running(self) -> bool:
        if not self._initialized:
            return False
        status = subprocess.run(
            self._as_postgres(PG_BIN / "pg_ctl", "status", "-D", str(self.data)),
            capture_output=True,
        )
        return status.returncode == 0

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def destroy(self) -> None:
        """Stop immediately and delete the cluster."""
        try:
            self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _init(self) -> None:
        shutil.chown(self.workdir, OS_USER, OS_USER)
        subprocess.run(
            self._as_postgres(
                PG_BIN / "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                "--no-sync", "--no-instructions", "-E", "UTF8",
            ),
            check=True, capture_output=True,
        )  # fmt: skip
        self._initialized = True

    def _pg_ctl(self, *args: str) -> None:
        result = subprocess.run(
            self._as_postgres(PG_BIN / "pg_ctl", *args, "-D", str(self.data)),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl {args[0]} failed: {result.stderr}\n{self.log()[-2000:]}")

    @staticmethod
    def _as_postgres(*args: object) -> list[str]:
        command = [str(arg) for arg in args]
        return command if os.geteuid() != 0 else ["runuser", "-u", OS_USER, "--", *command]
