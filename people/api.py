"""People REST API (operators only): people, and their face photos enrolled by upload."""

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts.permissions import IsOperator
from accounts.requests import AuthenticatedRequest

from . import services
from .models import FaceSample, Person
from .serializers import FaceSampleSerializer, FaceUploadSerializer, PersonSerializer


class PersonViewSet(viewsets.ModelViewSet):
    serializer_class = PersonSerializer
    permission_classes = [IsOperator]
    lookup_value_regex = r"[0-9]+"
    queryset = Person.objects.all()

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.create_person(**serializer.validated_data)

    def perform_destroy(self, instance: Person) -> None:
        services.delete_person(instance)

    @extend_schema(request=None, responses=FaceSampleSerializer(many=True), methods=["GET"])
    @extend_schema(
        request={"multipart/form-data": FaceUploadSerializer},
        responses={201: FaceSampleSerializer},
        methods=["POST"],
    )
    @action(detail=True, methods=["get", "post"])
    def faces(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """GET: the person's enrolled faces. POST (multipart, `photo`): enrol one more; a photo
        with no face or several is a 400 that says so."""
        person = self.get_object()
        if request.method == "GET":
            return Response(FaceSampleSerializer(person.faces.all(), many=True).data)
        upload = FaceUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        photo = upload.validated_data["photo"]
        try:
            sample = services.add_face(person, photo.read(), photo.name, request.user)
        except services.EnrolmentError as exc:
            raise ValidationError({"photo": [str(exc)]}) from exc
        return Response(FaceSampleSerializer(sample).data, status=status.HTTP_201_CREATED)

    def _face(self, pk: str | None, face_id: str) -> FaceSample:
        person = self.get_object()
        sample = person.faces.filter(pk=face_id).first()
        if sample is None:
            raise Http404("No such face of this person.")
        return sample

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"faces/(?P<face_id>[0-9]+)")
    def face(self, request: Request, pk: str | None = None, face_id: str = "") -> Response:
        services.delete_face(self._face(pk, face_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
    @action(
        detail=True,
        methods=["get"],
        url_path=r"faces/(?P<face_id>[0-9]+)/photo",
        url_name="face-photo",
    )
    def face_photo(
        self, request: Request, pk: str | None = None, face_id: str = ""
    ) -> FileResponse:
        sample = self._face(pk, face_id)
        try:
            return FileResponse(sample.photo.open("rb"))
        except FileNotFoundError as exc:
            raise Http404("The photo file is gone.") from exc
