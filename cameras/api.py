"""Camera REST API: CRUD for operators, read for everyone logged in; every write goes through the
services."""

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts.permissions import IsOperatorOrReadOnly

from . import services
from .models import Camera
from .selectors import cameras_for_user
from .serializers import CameraSerializer


class CameraViewSet(viewsets.ModelViewSet):
    serializer_class = CameraSerializer
    permission_classes = [IsOperatorOrReadOnly]
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return cameras_for_user(self.request.user)

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.create_camera(**serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer[Camera]) -> None:
        assert serializer.instance is not None  # DRF's update() built the serializer on the camera
        serializer.instance = services.update_camera(
            serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance: Camera) -> None:
        services.delete_camera(instance)

    @extend_schema(request=None, responses=CameraSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        camera = services.start_stream(self.get_object())
        return Response(self.get_serializer(camera).data)

    @extend_schema(request=None, responses=CameraSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        camera = services.stop_stream(self.get_object())
        return Response(self.get_serializer(camera).data)
