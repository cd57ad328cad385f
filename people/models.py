"""People Skylark can name: a Person and the face samples (enrolment photos) they are known by."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Person(models.Model):
    name = models.CharField(max_length=100, unique=True)
    watch_list = models.BooleanField(
        default=False,
        help_text="Cameras whose rule is 'watch list' alert only on the people marked here.",
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.name


def photo_path(sample: "FaceSample", filename: str) -> str:
    return f"people/{sample.person_id}/{filename}"


class FaceSample(models.Model):
    """One enrolment photo with exactly one face, and that face's descriptor (never sent out)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="faces")
    photo = models.ImageField(upload_to=photo_path)
    box = models.JSONField(help_text="[x, y, w, h] of the face in the photo.")
    descriptor = ArrayField(models.FloatField(), size=128)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["person", "id"]

    def __str__(self) -> str:
        return f"face {self.pk} of {self.person}"
