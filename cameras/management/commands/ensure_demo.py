"""`manage.py ensure_demo`: the demo login (demo / demo-pass-123) and two started demo cameras."""

from django.core.management.base import BaseCommand

from cameras.demo import DEMO_USERNAME, demo_videos, ensure_demo


class Command(BaseCommand):
    help = "Create the demo operator and demo cameras if absent, and start the cameras."

    def handle(self, *args, **options) -> None:
        self.stdout.write(
            ">> preparing the demo videos (generated once, then cached in var/videos)"
        )
        demo_videos()
        for camera in ensure_demo():
            self.stdout.write(
                f"demo camera {camera.name!r} ({camera.url}) desired={camera.desired_state}"
            )
        self.stdout.write(f"log in as {DEMO_USERNAME} / demo-pass-123")
