"""The camera form as the dashboard and the admin post it, for the tests that add or edit cameras."""

import pytest
from django.db.models import BooleanField

from cameras.models import EDITABLE_FIELDS, Camera


def camera_form(**values: object) -> dict[str, object]:
    """Every field an operator edits, at its default, a name and a camera URL with a password,
    then `values`. A checkbox is "on" when true and left out when false, as browsers send it."""
    form: dict[str, object] = {}
    for name in EDITABLE_FIELDS:
        default = Camera._meta.get_field(name).get_default()
        form[name] = "" if default is None else default
    form |= {"name": "Yard", "url": "rtsp://cam:pw@192.168.1.30:554/live", "location": "Back"}
    form |= values
    for name in EDITABLE_FIELDS:
        if isinstance(Camera._meta.get_field(name), BooleanField):
            if form[name] is True or form[name] == "on":
                form[name] = "on"
            else:
                del form[name]
    return form


def service_events(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The `event=` of each line the camera services logged, in order."""
    return [r.getMessage().split()[0] for r in caplog.records if r.name == "skylark.cameras"]


# What adding a camera, starting it, editing it and deleting it logs, through any entry point.
ADD_START_EDIT_DELETE = [
    "event=camera_created",
    "event=stream_start",
    "event=camera_updated",
    "event=camera_deleted",
]
