"""WebSocket routes of every app; live features add theirs here."""

websocket_urlpatterns: list = []
