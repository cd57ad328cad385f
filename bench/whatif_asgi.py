"""A what-if for the benchmarks only, never for serving: Skylark's ASGI application with one
change, so that ws_latency.py / fanout_capacity.py can measure it before anyone edits the app.

The change: AlertConsumer handles live `skylark.event` messages without channels' per-message
`aclose_old_connections()`. Channels 4.2+ runs that before every handler, as a thread-pool hop;
forwarding an event touches no database, and profiling daphne showed the hop as the largest part
of a delivery. Serve it with `--asgi bench.whatif_asgi:application`.
"""

# isort: off
from config.asgi import application  # first: it sets Django up, which the consumer needs
from alerts.consumers import AlertConsumer
# isort: on

_dispatch = AlertConsumer.dispatch


async def _dispatch_live_events_directly(self: AlertConsumer, message: dict) -> None:
    if message.get("type") == "skylark.event":
        await self.skylark_event(message)
        return
    await _dispatch(self, message)


AlertConsumer.dispatch = _dispatch_live_events_directly

__all__ = ["application"]
