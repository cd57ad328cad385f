"""Alert REST API: cursor-paginated list with filters, retrieve, acknowledge, private snapshots."""

import django_filters
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from . import services
from .models import Alert
from .selectors import alerts_for_user
from .serializers import AlertSerializer


class AlertCursorPagination(CursorPagination):
    """Newest first; a cursor stays valid while new alerts arrive."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AlertFilter(django_filters.FilterSet):
    camera = django_filters.NumberFilter(field_name="camera_id", min_value=1, max_value=2**63 - 1)
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    acknowledged = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_acknowledged"
    )

    class Meta:
        model = Alert
        fields = ["camera", "since", "until", "acknowledged"]

    def filter_acknowledged(self, queryset, name: str, value: str):
        return queryset.filter(acknowledged_at__isnull=value != "true")


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AlertSerializer
    pagination_class = AlertCursorPagination
    filterset_class = AlertFilter
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return alerts_for_user(self.request.user)

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def ack(self, request: Request, pk: str | None = None) -> Response:
        alert = services.acknowledge_alert(self.get_object(), request.user)
        return Response(self.get_serializer(alert).data)

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_name="snapshot")
    def snapshot(self, request: Request, pk: str | None = None) -> FileResponse:
        alert = self.get_object()
        if not alert.snapshot:
            raise Http404("This alert has no snapshot.")
        try:
            return FileResponse(alert.snapshot.open("rb"), content_type="image/jpeg")
        except FileNotFoundError as exc:
            raise Http404("The snapshot file is gone.") from exc
