"""Dashboard alert history (the API's selector, filters and keyset pages) and acknowledge."""

from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from accounts.requests import AuthenticatedHttpRequest
from accounts.views import approved_required
from config.dashboard import redirect_back, wants_json
from events.selectors import outages_for_user

from . import services
from .filters import HistoryFilter
from .pagination import Page, keyset_page
from .selectors import alerts_for_user
from .serializers import AlertSerializer

PAGE_SIZE = 25


@approved_required()
def history(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = HistoryFilter(request.GET, queryset=alerts_for_user(request.user), request=request)
    cursor = request.GET.get("cursor")
    if filters.is_valid():
        try:
            page = keyset_page(filters.qs, cursor, PAGE_SIZE)
        except ValueError:
            return HttpResponseBadRequest("Malformed page cursor.")
    else:  # the form shows what to fix, with every filter as entered; no list until then
        page = Page(alerts=[], older=None, newer=None)
    # Camera outages are their own kind: listed beside the first page, for the chosen camera.
    camera = filters.form.cleaned_data.get("camera") if filters.is_valid() else None
    outages = outages_for_user(request.user, camera.pk if camera else None) if not cursor else []
    return render(
        request,
        "alerts/history.html",
        {
            "form": filters.form,
            "alerts": page.alerts,
            "older_cursor": page.older,
            "newer_cursor": page.newer,
            "is_first_page": not cursor,
            "outages": outages,
        },
    )


@require_POST
@approved_required()
def acknowledge(request: AuthenticatedHttpRequest, alert_id: int) -> HttpResponse:
    alert = services.acknowledge_alert(
        get_object_or_404(alerts_for_user(request.user), pk=alert_id), request.user
    )
    if wants_json(request):
        return JsonResponse(AlertSerializer(alert).data)
    return redirect_back(request, "dashboard:alerts")
