"""WebSocket routes of every app; live features add theirs here."""

from django.urls import path

from messaging.consumers import MessagesConsumer

websocket_urlpatterns: list = [
    path("ws/messages/", MessagesConsumer.as_asgi()),
    path("ws/messages/<uuid:conversation_id>/", MessagesConsumer.as_asgi()),
]
