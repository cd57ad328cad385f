"""ASGI entry point served by daphne: HTTP through Django, WebSockets (/ws/) through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()  # sets Django up before the consumers are imported

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from alerts.routing import websocket_urlpatterns  # noqa: E402
from alerts.ws_auth import websocket_auth_stack  # noqa: E402
from config import socket_writes  # noqa: E402

socket_writes.install()  # daphne's writes go out at once when nothing is queued before them

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The Channels stubs want a URLPattern subtype of their own that path() never returns.
        "websocket": websocket_auth_stack(URLRouter(websocket_urlpatterns)),  # type: ignore[arg-type]
    }
)
