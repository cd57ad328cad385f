"""The Alert: a face appearance on a camera, with the annotated snapshot of that moment."""

from django.conf import settings
from django.db import models
from django.utils import timezone


def snapshot_path(alert: "Alert", filename: str) -> str:
    """Snapshots are filed by the alert's own date, so retention can prune by folder too."""
    return f"alerts/{alert.created_at:%Y/%m/%d}/{filename}"


class Alert(models.Model):
    camera = models.ForeignKey("cameras.Camera", on_delete=models.CASCADE, related_name="alerts")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    face_count = models.PositiveSmallIntegerField()
    boxes = models.JSONField(default=list, help_text="[[x, y, w, h, score], ...] in frame pixels.")
    snapshot = models.ImageField(upload_to=snapshot_path, blank=True)
    # Who the new face is, when the camera's loop recognised it; null: unknown (or nobody
    # enrolled). Deleting the person keeps the alert, nameless.
    person = models.ForeignKey(
        "people.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    similarity = models.FloatField(
        null=True, blank=True, help_text="How alike the face was to the person's closest sample."
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["camera", "-created_at"], name="alert_camera_created"),
            models.Index(fields=["-created_at", "-id"], name="alert_created_id"),
        ]

    def __str__(self) -> str:
        return f"{self.face_count} face(s) on camera {self.camera_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None
