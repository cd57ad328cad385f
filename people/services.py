"""People actions: enrol and remove people and their face photos, and the gallery camera loops
match faces against. Every entry point (API, admin) calls these."""

import functools
import logging
import os
from dataclasses import dataclass

import cv2
import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from accounts.models import User
from audit.services import created, deleted, record
from detection.detectors import Box, FaceDetector, HaarDetector, YuNetDetector, detect_downscaled
from detection.logfmt import kv
from detection.recognition import Enrolled, FaceDescriber, Gallery

from .models import FaceSample, Person

logger = logging.getLogger("skylark.people")

# Enrolment photos are searched at this width, as camera frames are; larger photos are shrunk.
_DETECT_WIDTH = 640
_MIN_FACE = 40
MAX_PHOTO_BYTES = 10 * 1024 * 1024


class EnrolmentError(ValueError):
    """The photo cannot be enrolled; the message says why ("no face found", ...)."""


@functools.cache
def describer() -> FaceDescriber:
    """One describer per process: loading the model takes about half a second."""
    return FaceDescriber()


@functools.cache
def _enrolment_detector() -> FaceDetector:
    """YuNet when its model is configured (it also finds faces turned aside), else Haar."""
    model = settings.FACE_DETECTOR_MODEL
    if model and os.path.isfile(model):
        return YuNetDetector(model)
    return HaarDetector()


def find_one_face(data: bytes) -> tuple[np.ndarray, Box]:
    """The photo decoded, and its only face; EnrolmentError when it has none or several."""
    if len(data) > MAX_PHOTO_BYTES:
        raise EnrolmentError(f"photo larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise EnrolmentError("not an image (JPEG, PNG, WebP or BMP)")
    faces = detect_downscaled(_enrolment_detector(), image, _DETECT_WIDTH, _MIN_FACE)
    if not faces:
        raise EnrolmentError("no face found")
    if len(faces) > 1:
        raise EnrolmentError(f"more than one face ({len(faces)} found): use a photo of one person")
    return image, faces[0]


def add_face(person: Person, data: bytes, filename: str, user: User | None = None) -> FaceSample:
    """Enrol one photo of `person`: it must show exactly one face, which is described and kept."""
    image, box = find_one_face(data)
    descriptor = describer().describe(image, box)
    sample = FaceSample(
        person=person,
        box=[box.x, box.y, box.w, box.h],
        descriptor=[float(v) for v in descriptor],
        created_by=user,
    )
    extension = os.path.splitext(filename)[1].lower() or ".jpg"
    sample.photo.save(f"face{extension}", ContentFile(data), save=False)
    try:
        sample.save()
    except Exception:
        sample.photo.delete(save=False)
        raise
    record("person.face_add", person, {"face": [None, sample.pk]})
    logger.info(kv(event="face_enrolled", person=person.pk, face=sample.pk))
    return sample


@transaction.atomic
def create_person(*, name: str, watch_list: bool = False, notes: str = "") -> Person:
    person = Person(name=name, watch_list=watch_list, notes=notes)
    person.full_clean()
    person.save()
    record("person.create", person, created({"name": name, "watch_list": watch_list}))
    return person


@transaction.atomic
def delete_person(person: Person) -> None:
    """The person goes with every face sample, descriptor and photo file of theirs; alerts that
    named them stay, without the name."""
    record("person.delete", person, deleted({"name": person.name}))
    person.delete()


def delete_face(sample: FaceSample) -> None:
    record("person.face_delete", sample.person, {"face": [sample.pk, None]})
    sample.delete()


@dataclass(frozen=True)
class GalleryVersion:
    """Changes whenever a person or a face sample is added, changed or removed."""

    people: int
    latest_person: object
    faces: int
    latest_face: int | None


def gallery_version() -> GalleryVersion:
    from django.db.models import Count, Max

    people = Person.objects.aggregate(n=Count("id"), latest=Max("updated_at"))
    faces = FaceSample.objects.aggregate(n=Count("id"), latest=Max("id"))
    return GalleryVersion(people["n"], people["latest"], faces["n"], faces["latest"])


def load_gallery() -> Gallery:
    """Every enrolled face sample, as camera loops match against them."""
    rows = FaceSample.objects.values_list(
        "person_id", "person__name", "person__watch_list", "descriptor"
    )
    return Gallery(
        [
            Enrolled(person_id, name, watch, np.asarray(descriptor, dtype=np.float32))
            for person_id, name, watch, descriptor in rows
        ],
        min_similarity=settings.RECOGNITION_MIN_SIMILARITY,
    )
