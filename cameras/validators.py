"""Validation of camera source URLs: the only gate between user input and ffmpeg/OpenCV."""

import re
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

NETWORK_SCHEMES = {"rtsp", "rtsps", "http", "https"}
MAX_URL_LENGTH = 1024
# Shell syntax, or characters URLs must percent-encode anyway (a password with $ is written %24).
FORBIDDEN_CHARACTERS = frozenset('`$;|<>\\"{}^')
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+-]*")  # RFC 3986 without dots: cam.local:554 is a host
HOW_A_URL_STARTS = (
    "a camera URL starts with rtsp://, rtsps://, http:// or https:// "
    "(e.g. rtsp://192.168.1.20:554/stream), or is the path of a video file"
)


def validate_camera_url(value: str) -> None:
    """Accept rtsp(s)/http(s) URLs with a host, or a file under CAMERA_FILE_ROOT (demos, tests)."""
    if not value:
        raise ValidationError("Enter the camera's URL.", code="required")
    if len(value) > MAX_URL_LENGTH:
        raise ValidationError(
            f"URL is too long (max {MAX_URL_LENGTH} characters).", code="too_long"
        )
    if not value.isascii() or not value.isprintable():
        raise ValidationError(
            "URL may contain only printable ASCII characters; percent-encode anything else.",
            code="invalid_chars",
        )
    if spaces := [i for i, ch in enumerate(value, start=1) if ch.isspace()]:
        found = f"{len(spaces)} spaces, the first" if len(spaces) > 1 else "a space"
        whitespace = ValidationError(
            f"URL must not contain whitespace: it has {found} at character {spaces[0]}. "
            "Percent-encode a space in a path or password as %20.",
            code="whitespace",
        )
        raise ValidationError([_no_scheme(), whitespace] if _lacks_scheme(value) else whitespace)
    if forbidden := sorted(FORBIDDEN_CHARACTERS.intersection(value)):
        raise ValidationError(
            f"URL must not contain {' '.join(forbidden)}; percent-encode such characters (e.g. $ as %24).",
            code="forbidden_chars",
        )
    if value.startswith("-"):
        raise ValidationError("URL must not start with '-'.", code="invalid")
    if value.startswith("/") or value.startswith("file:"):
        _validate_file_source(value)
        return
    if _lacks_scheme(value):
        raise _no_scheme()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"URL is malformed: {exc}.", code="invalid") from exc
    scheme = parts.scheme.lower()
    if scheme not in NETWORK_SCHEMES:
        raise ValidationError(
            f"Unsupported URL scheme '{scheme}': {HOW_A_URL_STARTS}.", code="scheme"
        )
    if not parts.hostname:
        raise ValidationError(
            f"URL has no host after {scheme}:// (e.g. {scheme}://192.168.1.20/stream).",
            code="host",
        )
    if port == 0:
        raise ValidationError("URL port must be between 1 and 65535.", code="port")


def _lacks_scheme(value: str) -> bool:
    """Neither a file path nor `scheme:…`: e.g. notaurl, cam.local/live, 192.168.1.20:554/live."""
    if value.startswith("/") or value.startswith("file:"):
        return False
    scheme, colon, _ = value.partition(":")
    return not colon or not SCHEME.fullmatch(scheme)


def _no_scheme() -> ValidationError:
    return ValidationError(
        f"This is not a camera URL: it has no scheme; {HOW_A_URL_STARTS}.", code="scheme"
    )


def _validate_file_source(value: str) -> None:
    raw = value[len("file://") :] if value.startswith("file://") else value
    if value.startswith("file:") and not value.startswith("file:///"):
        raise ValidationError(
            "File URLs must be absolute: file:///path/to/video.mkv.", code="invalid"
        )
    root = Path(settings.CAMERA_FILE_ROOT).resolve()
    path = Path(raw).resolve()
    if not path.is_relative_to(root):
        raise ValidationError(f"Video files must be under {root}.", code="file_root")


def source_for_capture(value: str) -> str:
    """The string handed to OpenCV: file URLs become plain paths."""
    return value[len("file://") :] if value.startswith("file://") else value


MAX_REGIONS = 16
MAX_REGION_POINTS = 64
REGION_KINDS = ("zone", "mask")


def validate_regions(value: object) -> None:
    """Zones and masks: a list of {"kind": "zone" | "mask", "points": [[x, y], ...]}, each
    polygon at least 3 points, x and y fractions of the frame (0 to 1)."""
    if not isinstance(value, list):
        raise ValidationError("Regions must be a list of polygons.")
    if len(value) > MAX_REGIONS:
        raise ValidationError(f"At most {MAX_REGIONS} zones and masks per camera.")
    for number, region in enumerate(value, 1):
        if not isinstance(region, dict) or set(region) != {"kind", "points"}:
            raise ValidationError(f"Region {number}: give exactly its kind and its points.")
        if region["kind"] not in REGION_KINDS:
            raise ValidationError(f"Region {number}: kind must be zone or mask.")
        points = region["points"]
        if not isinstance(points, list) or not 3 <= len(points) <= MAX_REGION_POINTS:
            raise ValidationError(
                f"Region {number}: a polygon needs 3 to {MAX_REGION_POINTS} points."
            )
        for point in points:
            if not (
                isinstance(point, list)
                and len(point) == 2
                and all(
                    isinstance(c, int | float) and not isinstance(c, bool) and 0 <= c <= 1
                    for c in point
                )
            ):
                raise ValidationError(
                    f"Region {number}: each point is [x, y] with x and y between 0 and 1 "
                    f"(fractions of the frame), not {point!r}."
                )
