"""WebSocket URL routes."""

from django.urls import path

from .consumers import AlertConsumer

# Channels routes ASGI apps with Django's path(), whose stubs know only Django views.
websocket_urlpatterns = [path("ws/", AlertConsumer.as_asgi())]  # type: ignore[arg-type]
