import contextlib
from typing import Any

from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete, post_save


def _camera_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A new or edited camera (its name is the HA device's) is announced to Home Assistant."""
    from . import mqtt
    from .tasks import publish_mqtt_discovery

    if mqtt.enabled():
        camera_id = instance.pk
        transaction.on_commit(lambda: _quietly(publish_mqtt_discovery.delay, [camera_id]))


def _camera_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    from . import mqtt
    from .tasks import remove_mqtt_discovery

    if mqtt.enabled():
        camera_id = instance.pk
        transaction.on_commit(lambda: _quietly(remove_mqtt_discovery.delay, camera_id))


def _quietly(send: Any, *args: Any) -> None:
    """Discovery is republished by beat anyway: a broker (Redis) outage must not fail a save."""
    with contextlib.suppress(Exception):  # the periodic republish covers it
        send(*args)


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events out (webhooks, MQTT)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_save.connect(_camera_saved, sender="cameras.Camera", dispatch_uid="events-camera-mqtt")
        post_delete.connect(
            _camera_deleted, sender="cameras.Camera", dispatch_uid="events-camera-mqtt-gone"
        )
