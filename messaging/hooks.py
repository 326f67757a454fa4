"""Messaging's domain events: where notifications (and anything else) hook in.

Each is a :class:`marketplace.events.Hook`, called by ``messaging.services`` through
``marketplace.events.after_commit`` once the change is committed. Subscribers re-read what
they need; a failing one is logged and never undoes the message.
"""

from marketplace.events import Hook

conversation_opened = Hook(
    "messaging.conversation_opened",
    "conversation_opened(conversation): a buyer opened a new conversation (about a listing or not).",
)
message_sent = Hook(
    "messaging.message_sent",
    "message_sent(message): a message was stored (announced once: a retried send is not a new one).",
)
conversation_read = Hook(
    "messaging.conversation_read",
    "conversation_read(conversation, reader): ``reader`` read the other party's messages.",
)
