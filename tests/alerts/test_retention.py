"""Retention deletes exactly the expired alerts and their files, and nothing else."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from alerts.models import Alert
from alerts.services import create_alert

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8retention\xff\xd9"


def aged(camera, days: float, with_snapshot: bool = True) -> Alert:
    return create_alert(
        camera=camera,
        face_count=1,
        boxes=[],
        snapshot_jpeg=JPEG if with_snapshot else None,
        created_at=timezone.now() - timedelta(days=days),
    )


def test_prune_deletes_exactly_the_expired_alerts_and_their_files(
    camera, capsys, django_capture_on_commit_callbacks
):
    old = [aged(camera, 40), aged(camera, 31), aged(camera, 35, with_snapshot=False)]
    kept = [aged(camera, 29), aged(camera, 1)]
    old_files = [a.snapshot.name for a in old if a.snapshot]
    kept_files = [a.snapshot.name for a in kept]
    assert all(default_storage.exists(n) for n in old_files + kept_files)

    call_command("prune_alerts", "--days", "30", "--dry-run")
    assert "would delete 3 alert(s) and 2 snapshot file(s)" in capsys.readouterr().out
    assert Alert.objects.count() == 5

    with django_capture_on_commit_callbacks(execute=True):
        call_command("prune_alerts", "--days", "30")
    assert "deleted 3 alert(s) and 2 snapshot file(s)" in capsys.readouterr().out
    assert sorted(Alert.objects.values_list("pk", flat=True)) == sorted(a.pk for a in kept)
    assert not any(default_storage.exists(n) for n in old_files)
    assert all(default_storage.exists(n) for n in kept_files)


def test_the_beat_task_uses_the_retention_setting(camera, settings):
    from alerts.tasks import prune_expired_alerts

    settings.ALERT_RETENTION_DAYS = 7
    aged(camera, 8)
    fresh = aged(camera, 6)
    assert prune_expired_alerts() == 1
    assert list(Alert.objects.values_list("pk", flat=True)) == [fresh.pk]
