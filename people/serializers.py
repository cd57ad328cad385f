"""People API shapes. Descriptors never leave the server: a face is its id, box, photo URL and date."""

from django.urls import reverse
from rest_framework import serializers

from .models import FaceSample, Person


class FaceSampleSerializer(serializers.ModelSerializer):
    photo_url = serializers.SerializerMethodField()

    class Meta:
        model = FaceSample
        fields = ["id", "person", "box", "photo_url", "created_at"]
        read_only_fields = fields

    def get_photo_url(self, sample: FaceSample) -> str:
        return reverse("person-face-photo", args=[sample.person_id, sample.pk])


class PersonSerializer(serializers.ModelSerializer):
    face_count = serializers.IntegerField(source="faces.count", read_only=True)

    class Meta:
        model = Person
        fields = ["id", "name", "watch_list", "notes", "face_count", "created_at", "updated_at"]
        read_only_fields = ["id", "face_count", "created_at", "updated_at"]


class FaceUploadSerializer(serializers.Serializer):
    photo = serializers.FileField(help_text="A photo showing exactly one face (JPEG, PNG, ...).")
