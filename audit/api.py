"""The audit log over the API: read-only, operators only, newest first, cursor pages."""

from rest_framework import viewsets
from rest_framework.pagination import CursorPagination

from accounts.permissions import IsOperator

from .filters import AuditFilter
from .models import AuditEntry
from .serializers import AuditEntrySerializer


class AuditPagination(CursorPagination):
    ordering = ("-at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    permission_classes = [IsOperator]
    pagination_class = AuditPagination
    filterset_class = AuditFilter
    lookup_value_regex = r"[0-9]+"
