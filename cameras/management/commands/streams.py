"""`manage.py streams start|stop <id…|--all>` and `manage.py streams status`: the CLI to the stream services."""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cameras import services, streams
from cameras.models import Camera
from config.redis import get_redis


class Command(BaseCommand):
    help = "Start or stop camera loops, or show their status."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for action in ("start", "stop"):
            p = sub.add_parser(action, help=f"{action} the given cameras' loops")
            p.add_argument("ids", nargs="*", type=int, help="camera ids")
            p.add_argument("--all", action="store_true", help="every camera")
        sub.add_parser("status", help="a table of every camera's state")

    def handle(self, *args, action: str, **options) -> None:
        if action == "status":
            self._status()
            return
        cameras = self._select(options["ids"], options["all"])
        service = services.start_stream if action == "start" else services.stop_stream
        for camera in cameras:
            camera = service(camera)
            self.stdout.write(f"{camera.pk}\t{camera.name}\tdesired={camera.desired_state}")

    def _select(self, ids: list[int], all_cameras: bool) -> list[Camera]:
        if all_cameras == bool(ids):
            raise CommandError("Give camera ids or --all (not both).")
        if all_cameras:
            return list(Camera.objects.all())
        cameras = list(Camera.objects.filter(pk__in=ids))
        missing = sorted(set(ids) - {c.pk for c in cameras})
        if missing:
            raise CommandError(f"No camera with id {', '.join(map(str, missing))}.")
        return cameras

    def _status(self) -> None:
        header = (
            "id", "camera", "desired", "status", "worker", "fps in/out", "last frame", "last error"
        )  # fmt: skip
        rows = [header]
        now = timezone.now()
        cameras = list(Camera.objects.order_by("pk"))
        owners = streams.loop_owners(get_redis(), [c.pk for c in cameras])
        for c in cameras:
            age = (
                f"{(now - c.last_frame_at).total_seconds():.0f}s ago"
                if c.last_frame_at
                else "never"
            )
            error = c.last_error.replace("\n", " ")[:60]
            rows.append(
                (
                    str(c.pk),
                    c.name,
                    c.desired_state,
                    c.status,
                    owners[c.pk] or "-",
                    f"{c.fps_in:.1f}/{c.fps_out:.1f}",
                    age,
                    error,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        if len(rows) == 1:
            self.stdout.write("(no cameras)")
