"""WebSocket URL routes."""

from django.urls import path

from .consumers import AlertConsumer

websocket_urlpatterns = [path("ws/", AlertConsumer.as_asgi())]
