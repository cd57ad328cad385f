"""Operations endpoints: liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics)."""

import hmac
import ipaddress

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from config.redis import get_redis

STREAMS_WORKER_PREFIX = "streams@"  # streams workers are started with -n streams@%h


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"postgresql: {exc.__class__.__name__}"
    return None


def _check_redis() -> str | None:
    try:
        get_redis().ping()
    except Exception as exc:  # any redis or socket error means "down"
        return f"redis: {exc.__class__.__name__}"
    return None


def _check_streams_worker() -> str | None:
    from config.celery import app

    try:
        replies = app.control.ping(timeout=settings.READYZ_WORKER_TIMEOUT_S)
    except Exception as exc:  # broker unreachable
        return f"streams worker: broker unreachable ({exc.__class__.__name__})"
    names = [name for reply in replies for name in reply]
    if not any(name.startswith(STREAMS_WORKER_PREFIX) for name in names):
        return "streams worker: none answered"
    return None


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when PostgreSQL, Redis and a streams worker answer; else 503 naming what is down.

    ?scope=web leaves the workers out: whether this web process can serve, which is what a load
    balancer asks (deploy/haproxy.cfg)."""
    redis_problem = _check_redis()
    checks = [_check_database(), redis_problem]
    if request.GET.get("scope") != "web":
        # Without Redis there is no broker to ask the workers through.
        checks.append(
            "streams worker: unknown (no broker)" if redis_problem else _check_streams_worker()
        )
    problems = [p for p in checks if p]
    body = {"status": "ok" if not problems else "unavailable", "down": problems}
    return JsonResponse(body, status=200 if not problems else 503)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header, f"Bearer {token}")
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; loopback only unless METRICS_TOKEN is set (then Bearer token)."""
    if not _metrics_allowed(request):
        return HttpResponse("metrics are internal\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
