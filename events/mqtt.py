"""MQTT out: events published to a broker (MQTT_URL) under MQTT_TOPIC_PREFIX, and Home Assistant
MQTT discovery (retained) so each camera appears as a device with a "face detected" binary
sensor and a status sensor.

Topics, for camera 3 and the default prefixes:
  skylark/3/alert         each alert.created / alert.acknowledged event, as the webhook body (QoS 1)
  skylark/3/status        "online", "offline" or "stopped" (retained; the sensors' availability)
  homeassistant/binary_sensor/skylark_camera3/face/config, homeassistant/sensor/skylark_camera3/status/config
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from django.conf import settings

from cameras.models import Camera
from detection.logfmt import kv
from detection.redaction import redact_url

from .models import CameraAvailability, Event, EventType

logger = logging.getLogger("skylark.events.mqtt")

# How long HA shows "face detected" after an alert with no newer one.
FACE_ON_FOR_S = 10
STATUS_ONLINE, STATUS_OFFLINE, STATUS_STOPPED = "online", "offline", "stopped"


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool = False


def enabled() -> bool:
    return bool(settings.MQTT_URL)


def topic(camera_id: int, leaf: str) -> str:
    return f"{settings.MQTT_TOPIC_PREFIX}/{camera_id}/{leaf}"


def device_id(camera_id: int) -> str:
    return f"skylark_camera{camera_id}"


def discovery_topic(component: str, camera_id: int, object_id: str) -> str:
    return f"{settings.MQTT_DISCOVERY_PREFIX}/{component}/{device_id(camera_id)}/{object_id}/config"


def event_messages(event: Event, body: dict[str, Any]) -> list[Message]:
    """What one event publishes (`body` is the webhook body of it)."""
    camera_id = event.camera_id
    if camera_id is None:
        return []  # its camera was deleted meanwhile; its device is gone from HA too
    if event.type in (EventType.ALERT_CREATED, EventType.ALERT_ACKNOWLEDGED):
        return [Message(topic(camera_id, "alert"), json.dumps(body))]
    if event.type == EventType.CAMERA_OFFLINE:
        return [Message(topic(camera_id, "status"), STATUS_OFFLINE, retain=True)]
    if event.type == EventType.CAMERA_ONLINE:
        return [Message(topic(camera_id, "status"), STATUS_ONLINE, retain=True)]
    return []


MQTT_EVENTS = (
    EventType.ALERT_CREATED,
    EventType.ALERT_ACKNOWLEDGED,
    EventType.CAMERA_OFFLINE,
    EventType.CAMERA_ONLINE,
)


def current_status(camera: Camera) -> str | None:
    """The status topic's value now: None while a running camera is down but not yet announced
    (a short reconnect is no outage)."""
    if camera.status == Camera.Status.ONLINE:
        return STATUS_ONLINE
    if not camera.is_running:
        return STATUS_STOPPED
    announced = CameraAvailability.objects.filter(
        camera_id=camera.pk, reported_offline=True
    ).exists()
    return STATUS_OFFLINE if announced else None


def discovery_messages(camera: Camera) -> list[Message]:
    """Home Assistant discovery for one camera (retained), and its current status."""
    device: dict[str, Any] = {
        "identifiers": [device_id(camera.pk)],
        "name": camera.name,
        "manufacturer": "Skylark",
        "model": "IP camera",
    }
    if camera.location:
        device["suggested_area"] = camera.location
    status_topic = topic(camera.pk, "status")
    face = {
        "name": "Face detected",
        "unique_id": f"{device_id(camera.pk)}_face",
        "device_class": "occupancy",
        "state_topic": topic(camera.pk, "alert"),
        "value_template": "{{ 'ON' if value_json.type == 'alert.created' else 'OFF' }}",
        "off_delay": FACE_ON_FOR_S,
        "availability_topic": status_topic,
        "payload_available": STATUS_ONLINE,
        "payload_not_available": STATUS_OFFLINE,
        "json_attributes_topic": topic(camera.pk, "alert"),
        "json_attributes_template": "{{ value_json.data | tojson }}",
        "device": device,
    }
    status = {
        "name": "Status",
        "unique_id": f"{device_id(camera.pk)}_status",
        "state_topic": status_topic,
        "icon": "mdi:cctv",
        "device": device,
    }
    messages = [
        Message(discovery_topic("binary_sensor", camera.pk, "face"), json.dumps(face), True),
        Message(discovery_topic("sensor", camera.pk, "status"), json.dumps(status), True),
    ]
    value = current_status(camera)
    if value is not None:
        messages.append(Message(status_topic, value, retain=True))
    return messages


def removal_messages(camera_id: int) -> list[Message]:
    """An empty retained config removes the entity from HA; the status is cleared too."""
    return [
        Message(discovery_topic("binary_sensor", camera_id, "face"), "", True),
        Message(discovery_topic("sensor", camera_id, "status"), "", True),
        Message(topic(camera_id, "status"), "", True),
    ]


class PublishError(Exception):
    pass


class Publisher:
    """One connection to the broker for a run of publishes; every publish waits for the broker's
    PUBACK (QoS 1), so a message counts as delivered only once the broker has it."""

    def __init__(self) -> None:
        self.client: paho.Client | None = None

    def _connect(self) -> paho.Client:
        parts = urlsplit(settings.MQTT_URL)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise PublishError("MQTT_URL must start with mqtt:// or mqtts://")
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=f"skylark-{uuid.uuid4().hex[:12]}",
            protocol=paho.MQTTv311,
        )
        if parts.username:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if parts.scheme == "mqtts":
            client.tls_set()
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        try:
            client.connect(parts.hostname or "127.0.0.1", port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise PublishError(f"cannot reach {redact_url(settings.MQTT_URL)}: {exc}") from exc
        client.loop_start()
        deadline = time.monotonic() + settings.MQTT_TIMEOUT_S
        while not client.is_connected():
            if time.monotonic() > deadline:
                client.loop_stop()
                raise PublishError(f"no CONNACK from {redact_url(settings.MQTT_URL)} (refused?)")
            time.sleep(0.01)
        return client

    def publish(self, messages: list[Message]) -> None:
        if not messages:
            return
        if self.client is None:
            self.client = self._connect()
        for message in messages:
            info = self.client.publish(message.topic, message.payload, qos=1, retain=message.retain)
            try:
                info.wait_for_publish(timeout=settings.MQTT_TIMEOUT_S)
            except (RuntimeError, ValueError) as exc:
                self.close()
                raise PublishError(f"publish to {message.topic} failed: {exc}") from exc
            if not info.is_published():
                self.close()
                raise PublishError(
                    f"no PUBACK for {message.topic} within {settings.MQTT_TIMEOUT_S}s"
                )

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def publish_discovery(camera_ids: list[int] | None = None) -> int:
    """(Re)publish discovery for these cameras (all when None); retained, so repeats are
    harmless. Returns how many cameras."""
    cameras = (
        Camera.objects.all() if camera_ids is None else Camera.objects.filter(pk__in=camera_ids)
    )
    count = 0
    with Publisher() as publisher:
        for camera in cameras:
            publisher.publish(discovery_messages(camera))
            count += 1
    logger.info(kv(event="mqtt_discovery_published", cameras=count))
    return count


def remove_discovery(camera_id: int) -> None:
    with Publisher() as publisher:
        publisher.publish(removal_messages(camera_id))
    logger.info(kv(event="mqtt_discovery_removed", camera=camera_id))
