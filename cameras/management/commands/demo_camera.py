"""`manage.py demo_camera`: serve the demo videos over RTSP with the camera simulator (replaces itself)."""

import os

from django.core.management.base import BaseCommand, CommandParser

from cameras.demo import demo_rtsp_port, demo_videos
from simulator.control import SERVER_SCRIPT, SYSTEM_PYTHON


class Command(BaseCommand):
    help = "Run the RTSP camera simulator with the demo videos until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=demo_rtsp_port())

    def handle(self, *args, port: int, **options) -> None:
        argv = [
            SYSTEM_PYTHON,
            str(SERVER_SCRIPT),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
        ]
        for name, path in demo_videos().items():
            argv += ["--stream", f"{name}={path}"]
        # exec: the process manager's Ctrl-C then reaches the server itself.
        os.execv(SYSTEM_PYTHON, argv)  # noqa: S606 - fixed interpreter and argument list
