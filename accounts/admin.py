"""User admin: superusers only. Operators (staff) work on cameras and alerts, never on accounts."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from audit.services import changed, created, record, snapshot

from . import services
from .models import User
from .requests import AuthenticatedHttpRequest

# What the admin may change about an account that says who it is and what it may do.
AUDITED_FIELDS = (
    "username",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
    "approved",
    "all_cameras",
)


@admin.register(User)
class SkylarkUserAdmin(UserAdmin):
    """Whatever permissions a staff account is given, editing people stays with superusers."""

    list_display = ("username", "email", "role", "approved", "date_joined")
    list_filter = ("approved", "is_staff", "is_superuser", "is_active")
    # The stubs allow fieldsets to be None; Django's UserAdmin sets them.
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Approval", {"fields": ("approved",)}))
    actions = ["approve_as_viewers"]

    @admin.action(description="Approve the selected pending accounts as viewers")
    def approve_as_viewers(
        self, request: AuthenticatedHttpRequest, queryset: QuerySet[User]
    ) -> None:
        for user in queryset.filter(pk__in=services.pending_users()):
            services.approve_user(user, role="viewer", by=request.user)

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        before = snapshot(User.objects.get(pk=obj.pk), AUDITED_FIELDS) if change else None
        super().save_model(request, obj, form, change)
        after = snapshot(obj, AUDITED_FIELDS)
        if before is None:
            record("account.create", obj, created(after))
        elif diff := changed(before, after):
            record("account.update", obj, diff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return request.user.is_superuser
