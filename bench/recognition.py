"""Recognition figures: how long describing one face takes on one core, how long matching takes
against 1,000 enrolled people, and the similarities the threshold is chosen between (the same
face altered; the two people of the test photographs).

    .venv/bin/python bench/recognition.py [--repeats 20]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detection.detectors import HaarDetector, detect_downscaled
from detection.recognition import DEFAULT_MIN_SIMILARITY, Enrolled, FaceDescriber, Gallery

ASSETS = Path(__file__).resolve().parents[1] / "tests" / "assets"


def variants(image: np.ndarray) -> list[np.ndarray]:
    h, w = image.shape[:2]
    rotation = cv2.getRotationMatrix2D((w / 2, h / 2), 8, 1.0)
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 30])[1]
    return [
        image,
        cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
        cv2.flip(image, 1),
        cv2.convertScaleAbs(image, alpha=1.0, beta=50),
        cv2.convertScaleAbs(image, alpha=0.6, beta=0),
        cv2.warpAffine(image, rotation, (w, h)),
        cv2.imdecode(jpeg, cv2.IMREAD_COLOR),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    describer, haar = FaceDescriber(), HaarDetector()

    def describe_all(name: str) -> list[np.ndarray]:
        out = []
        for image in variants(cv2.imread(str(ASSETS / name))):
            (box,) = detect_downscaled(haar, image, 640, 40)
            out.append(describer.describe(image, box))
        return out

    image = cv2.imread(str(ASSETS / "astronaut.jpg"))
    (box,) = detect_downscaled(haar, image, 640, 40)
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        describer.describe(image, box)
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"describe one face (align + ResNet), median of {args.repeats}: {statistics.median(times):.1f} ms"
    )

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3000, 128)).astype(np.float32)
    gallery = Gallery(
        [
            Enrolled(i // 3, f"p{i // 3}", False, v / np.linalg.norm(v))
            for i, v in enumerate(vectors)
        ]
    )
    started = time.perf_counter()
    for i in range(1000):
        gallery.match(gallery.samples[i].descriptor)
    print(
        f"match against 1,000 people x 3 faces: {(time.perf_counter() - started):.3f} ms per face"
    )

    astronaut, hopper = describe_all("astronaut.jpg"), describe_all("grace_hopper.jpg")
    same = [float(a @ b) for group in (astronaut, hopper) for a in group for b in group]
    other = [float(a @ b) for a in astronaut for b in hopper]
    print(f"same face, altered (7 variants each): similarity {min(same):.3f}-{max(same):.3f}")
    print(f"astronaut vs Grace Hopper: similarity {min(other):.3f}-{max(other):.3f}")
    print(f"threshold (RECOGNITION_MIN_SIMILARITY default): {DEFAULT_MIN_SIMILARITY}")


if __name__ == "__main__":
    main()
