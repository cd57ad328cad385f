"""Filters of the audit log: one FilterSet for the API and the operators' page."""

import django_filters

from .models import AuditEntry


class AuditFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_name", label="Who")
    action = django_filters.CharFilter(
        field_name="action",
        lookup_expr="startswith",
        label="Action (e.g. camera. or camera.update)",
    )
    target_type = django_filters.CharFilter(label="Target kind (camera, user, alert …)")
    target_id = django_filters.CharFilter(label="Target id")
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields = ["actor", "action", "target_type", "target_id", "since", "until"]
