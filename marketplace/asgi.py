import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
# Initialise Django before importing anything that touches models (consumers, routing).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from marketplace.checks import refuse_to_serve_with_errors  # noqa: E402
from marketplace.media import with_media  # noqa: E402
from marketplace.routing import websocket_urlpatterns  # noqa: E402

refuse_to_serve_with_errors()

application = ProtocolTypeRouter(
    {
        "http": with_media(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# Everything imported and built so far lives as long as the process: moved out of the
# collector's reach, a full collection no longer walks it. With 1,000 sockets open, a full
# collection of the server's heap paused the event loop for 84-173 ms, each time every live
# push waiting behind it (bench/ws_bench.py); after the freeze, 30-104 ms.
gc.freeze()
