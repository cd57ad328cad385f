"""The operators' audit page: the log, newest first, with the API's filters."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render

from accounts.requests import AuthenticatedHttpRequest
from accounts.views import operator_required

from .filters import AuditFilter
from .models import AuditEntry

PAGE_SIZE = 50


@operator_required
def audit_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = AuditFilter(request.GET, queryset=AuditEntry.objects.all())
    entries = filters.qs if filters.is_valid() else AuditEntry.objects.none()
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/log.html",
        {"form": filters.form, "page": page, "retention_days": settings.AUDIT_RETENTION_DAYS},
    )
