"""Dashboard pages for cameras: the live grid, one camera's page, start/stop, and add/edit/delete.

Reads go through the selectors and writes through the services, exactly as the REST API does.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.db import models
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.permissions import is_operator
from accounts.requests import AuthenticatedHttpRequest
from accounts.views import approved_required, operator_required
from alerts.selectors import alerts_for_user
from alerts.serializers import AlertSerializer
from config.dashboard import redirect_back, wants_json
from detection.redaction import redact_url

from . import services
from .media import whep_url
from .models import CREDENTIAL_FIELDS, DETECTION_FIELDS, SOURCE_FIELDS, Camera
from .selectors import cameras_for_user

FEED_SIZE = 30  # alerts shown in a live feed; older ones are on the history page


class CameraForm(forms.ModelForm):
    """Validation comes from the model's field validators: the same messages as the API."""

    class Meta:
        model = Camera
        fields = SOURCE_FIELDS + DETECTION_FIELDS  # regions: the polygon editor on the camera page
        widgets = {
            "url": forms.TextInput(
                attrs={
                    "autocomplete": "off",
                    "spellcheck": "false",
                    "placeholder": "rtsp://user:password@192.168.1.20:554/stream",
                }
            ),
            "detect_url": forms.TextInput(
                attrs={
                    "autocomplete": "off",
                    "spellcheck": "false",
                    "placeholder": "rtsp://user:password@192.168.1.20:554/substream (optional)",
                }
            ),
        }

    def source_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in SOURCE_FIELDS]

    def detection_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in DETECTION_FIELDS]


@dataclass(frozen=True)
class LiveCamera:
    """A camera as a live tile shows it: the row, where to play it, and its status event."""

    camera: Camera
    whep_url: str | None
    status: dict

    @property
    def browser_draws_boxes(self) -> bool:
        """Original mode: the video is the camera's own, so the page draws the faces' boxes."""
        return self.camera.video_mode == Camera.VideoMode.ORIGINAL


def _live(camera: Camera) -> LiveCamera:
    return LiveCamera(camera, whep_url(camera.pk), services.status_event(camera)["camera"])


def _with_last_alert(cameras: QuerySet[Camera], user: User) -> QuerySet[Camera]:
    """Annotate `last_alert_at`; one index lookup per camera (alert_camera_created), no scan."""
    newest = alerts_for_user(user).filter(camera=OuterRef("pk")).order_by("-created_at")
    return cameras.annotate(last_alert_at=Subquery(newest.values("created_at")[:1]))


def _feed(user: User, camera_id: int | None = None) -> list[dict[str, Any]]:
    """The newest alerts in the shape of the WebSocket `alert` events, for the feed to start from."""
    alerts = alerts_for_user(user, camera_id=camera_id).order_by("-created_at", "-id")
    # many=True makes a list serializer, whose data is a list; the stubs type it as one row.
    return cast(list[dict[str, Any]], AlertSerializer(alerts[:FEED_SIZE], many=True).data)


@approved_required()
def grid(request: AuthenticatedHttpRequest) -> HttpResponse:
    cameras = _with_last_alert(cameras_for_user(request.user), request.user)
    return render(
        request,
        "cameras/grid.html",
        {
            "live_cameras": [_live(camera) for camera in cameras],
            "recent_alerts": _feed(request.user),
            "is_operator": is_operator(request.user),
            "feed_size": FEED_SIZE,
        },
    )


@approved_required()
def detail(request: AuthenticatedHttpRequest, camera_id: int) -> HttpResponse:
    cameras = _with_last_alert(cameras_for_user(request.user), request.user)
    camera = get_object_or_404(cameras, pk=camera_id)
    return render(
        request,
        "cameras/detail.html",
        {
            "live": _live(camera),
            "camera": camera,
            "settings_rows": _settings_rows(camera, request.user),
            "recent_alerts": _feed(request.user, camera.pk),
            "is_operator": is_operator(request.user),
            "feed_size": FEED_SIZE,
        },
    )


def _settings_rows(camera: Camera, user: User) -> list[tuple[str, str]]:
    """(label, value) for the camera page; viewers never see the URL's credentials."""
    rows = []
    for name in [name for name in SOURCE_FIELDS + DETECTION_FIELDS if name != "name"]:
        field = Camera._meta.get_field(name)
        assert isinstance(field, models.Field)  # the editable fields are the camera's own columns
        if name in CREDENTIAL_FIELDS:
            value = getattr(camera, name)
            value = (value if is_operator(user) else redact_url(value)) or "—"
        elif field.choices:
            value = getattr(camera, f"get_{name}_display")()
        elif isinstance(field, models.BooleanField):
            value = "On" if getattr(camera, name) else "Off"
        else:
            value = str(getattr(camera, name)) or "—"
        rows.append((field.verbose_name[:1].upper() + field.verbose_name[1:], value))
    kinds = [region["kind"] for region in camera.regions]
    zones, masks = kinds.count("zone"), kinds.count("mask")
    rows.append(
        ("Zones and masks", f"{zones} zone{'s' * (zones != 1)}, {masks} mask{'s' * (masks != 1)}")
    )
    return rows


def _control(
    request: AuthenticatedHttpRequest, camera_id: int, action: Callable[[Camera], Camera]
) -> HttpResponse:
    camera = action(get_object_or_404(cameras_for_user(request.user), pk=camera_id))
    if wants_json(request):
        return JsonResponse(services.status_event(camera)["camera"])
    return redirect_back(request, "dashboard:camera-detail", camera.pk)


@require_POST
@operator_required
def start(request: AuthenticatedHttpRequest, camera_id: int) -> HttpResponse:
    return _control(request, camera_id, services.start_stream)


@require_POST
@operator_required
def stop(request: AuthenticatedHttpRequest, camera_id: int) -> HttpResponse:
    return _control(request, camera_id, services.stop_stream)


@operator_required
def create(request: HttpRequest) -> HttpResponse:
    return _camera_form(request, None)


@operator_required
def edit(request: AuthenticatedHttpRequest, camera_id: int) -> HttpResponse:
    return _camera_form(request, get_object_or_404(cameras_for_user(request.user), pk=camera_id))


def _camera_form(request: HttpRequest, camera: Camera | None) -> HttpResponse:
    """The add and edit page: the form, and on a valid POST the service call."""
    form = CameraForm(request.POST or None, instance=camera)
    if request.method == "POST" and form.is_valid():
        if camera is None:
            camera = services.create_camera(**form.cleaned_data)
            messages.success(request, f"Camera “{camera.name}” added. Start it to see its video.")
        else:
            services.update_camera(camera, **form.cleaned_data)
            messages.success(request, f"Camera “{camera.name}” saved.")
        return redirect("dashboard:camera-detail", camera.pk)
    return render(request, "cameras/form.html", {"form": form, "camera": camera})


@operator_required
def delete(request: AuthenticatedHttpRequest, camera_id: int) -> HttpResponse:
    camera = get_object_or_404(cameras_for_user(request.user), pk=camera_id)
    if request.method == "POST":
        name = camera.name
        services.delete_camera(camera)
        messages.success(request, f"Camera “{name}” deleted.")
        return redirect("dashboard:grid")
    return render(request, "cameras/confirm_delete.html", {"camera": camera})
