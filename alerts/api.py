"""Alert REST API: cursor-paginated list with filters, retrieve, acknowledge, private snapshots."""

from django.db.models import QuerySet
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.requests import AuthenticatedRequest

from . import services
from .filters import AlertFilter
from .models import Alert
from .pagination import keyset_page
from .selectors import alerts_for_user
from .serializers import AlertSerializer


class AlertPagination(CursorPagination):
    """DRF's cursor contract (`?cursor=`, `next`, `previous`, `results`, no count) over the keyset
    pages the history page uses too; newest first, a cursor stays valid while alerts arrive."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    # DRF types a paginator for any queryset; this one is only ever given the viewset's alerts.
    def paginate_queryset(  # type: ignore[override]
        self,
        queryset: QuerySet[Alert],  # type: ignore[override]
        request: Request,
        view: APIView | None = None,
    ) -> list[Alert]:
        self.base_url = request.build_absolute_uri()
        cursor = request.query_params.get(self.cursor_query_param)
        size = self.get_page_size(request)
        assert size is not None  # page_size is set: DRF falls back to it
        try:
            self.alert_page = keyset_page(queryset, cursor, size)
        except ValueError as exc:
            raise NotFound(self.invalid_cursor_message) from exc
        self.display_page_controls = bool(self.alert_page.older or self.alert_page.newer)
        return self.alert_page.alerts

    def get_next_link(self) -> str | None:
        return self._link(self.alert_page.older)

    def get_previous_link(self) -> str | None:
        return self._link(self.alert_page.newer)

    def _link(self, cursor: str | None) -> str | None:
        if not (cursor and self.base_url):
            return None
        return replace_query_param(self.base_url, self.cursor_query_param, cursor)


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AlertSerializer
    pagination_class = AlertPagination
    filterset_class = AlertFilter
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return alerts_for_user(self.request.user)

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def ack(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
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
