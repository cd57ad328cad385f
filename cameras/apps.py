from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "cameras"
    verbose_name = "Cameras"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from .metrics import CameraCollector

        REGISTRY.register(CameraCollector())
