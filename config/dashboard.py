"""Helpers shared by the dashboard's views: the same POST answers a script (JSON) or a plain form."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def wants_json(request: HttpRequest) -> bool:
    """The dashboard's scripts ask for JSON; a form posted without JavaScript gets a redirect."""
    return request.headers.get("Accept", "").startswith("application/json")


def redirect_back(request: HttpRequest, fallback: str, *args: object) -> HttpResponse:
    """Back to the form's `next` page when it is on this site, else to the `fallback` URL name."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(fallback, *args)
