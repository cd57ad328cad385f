"""People admin: a person with their face photos; a photo is enrolled by uploading it on the
person's page (refused with the reason when it shows no face or several)."""

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from . import services
from .models import FaceSample, Person


class PersonForm(forms.ModelForm):
    add_photo = forms.ImageField(
        required=False, help_text="A photo showing exactly this person's face, and no other."
    )

    class Meta:
        model = Person
        fields = ["name", "watch_list", "notes"]

    def clean_add_photo(self):
        photo = self.cleaned_data.get("add_photo")
        if photo:
            data = photo.read()
            photo.seek(0)
            try:
                services.find_one_face(data)
            except services.EnrolmentError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return photo


class FaceSampleInline(admin.TabularInline):
    model = FaceSample
    fields = readonly_fields = ("thumbnail", "box", "created_at", "created_by")
    extra = 0
    can_delete = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # faces are added by uploading a photo above, which checks it

    @admin.display(description="photo")
    def thumbnail(self, sample: FaceSample) -> str:
        url = reverse("person-face-photo", args=[sample.person_id, sample.pk])
        return format_html('<img src="{}" alt="" style="height:80px">', url)


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    form = PersonForm
    list_display = ["name", "watch_list", "face_count", "updated_at"]
    list_filter = ["watch_list"]
    search_fields = ["name"]
    inlines = [FaceSampleInline]

    @admin.display(description="faces")
    def face_count(self, person: Person) -> int:
        return person.faces.count()

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        photo = form.cleaned_data.get("add_photo")
        if photo:
            services.add_face(form.instance, photo.read(), photo.name, request.user)  # type: ignore[arg-type]

    def delete_model(self, request: HttpRequest, obj: Person) -> None:
        services.delete_person(obj)
