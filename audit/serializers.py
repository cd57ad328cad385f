from rest_framework import serializers

from .models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name")

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "ip",
            "via",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "changes",
        ]
        read_only_fields = fields
