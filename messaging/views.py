"""Messaging pages: the inbox, a conversation (sending works as a plain form POST), and the
"Contact seller" / "Message" entry points. Thin: each parses, calls one service or selector,
and renders or redirects."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from analytics.tracking import EventName, track
from listings.analytics import listing_event_properties
from marketplace.errors import ErrorCode, ServiceError
from messaging.attachments import ACCEPT_ATTRIBUTE as ATTACHMENT_ACCEPT
from messaging.attachments import message_send_with_attachments
from messaging.forms import MessageForm
from messaging.safety import conversation_safety
from messaging.selectors import (
    access_conversation,
    contact_target,
    conversation_page,
    inbox_page,
    is_participant,
)
from messaging.services import conversation_mark_read, conversation_open, message_send

# Refusals that are about the request's pace, not its content.
RATE_LIMIT_CODES = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.IMAGE_BUSY})


@login_required
@require_safe
def inbox(request):
    """The member's conversations by latest activity; ``?filter=active|archived|spam``."""
    page = inbox_page(
        user=request.user, filter=request.GET.get("filter", "active"), cursor=request.GET.get("cursor")
    )
    return render(request, "messaging/inbox.html", {"page": page})


def _conversation_response(request, conversation, form, *, status=200):
    page = conversation_page(conversation=conversation, viewer=request.user, before=request.GET.get("before"))
    context = {
        "page": page,
        "conversation": conversation,
        "form": form,
        "can_write": is_participant(conversation, request.user),
        "safety": conversation_safety(conversation, request.user),
        "attachments_accept": ATTACHMENT_ACCEPT,
        "max_attachments": settings.MESSAGE_MAX_ATTACHMENTS,
    }
    return render(request, "messaging/conversation.html", context, status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def conversation(request, conversation_id):
    """A conversation, oldest to newest; opening it marks the other party's messages read.
    POST sends a message (``body``, ``client_id``) and redirects back to the thread."""
    found = access_conversation(request.user, conversation_id)
    if request.method == "POST":
        form = MessageForm(request.POST)
        if form.is_valid():
            try:
                message, _created = message_send_with_attachments(
                    conversation=found,
                    sender=request.user,
                    body=form.cleaned_data["body"],
                    client_id=form.cleaned_data["client_id"],
                    uploads=request.FILES.getlist("attachments"),
                )
            except ServiceError as error:
                form.add_error("body", error.message)
                status = 429 if error.code in RATE_LIMIT_CODES else 400
                return _conversation_response(request, found, form, status=status)
            return redirect(f"{reverse('messaging:conversation', args=[found.pk])}#message-{message.pk}")
        return _conversation_response(request, found, form, status=400)
    conversation_mark_read(conversation=found, reader=request.user)
    return _conversation_response(request, found, MessageForm())


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def new(request):
    """ "Contact seller" (``?listing=<id>``) and "Message" (``?user=<id>``): GET shows whom
    you are writing to and a message box; POST opens (or reuses) the one conversation and
    sends the message if one was written."""
    source = request.POST if request.method == "POST" else request.GET
    target = contact_target(viewer=request.user, listing_id=source.get("listing"), user_id=source.get("user"))
    form = MessageForm(request.POST) if request.method == "POST" else MessageForm()
    context = {"target": target, "form": form}
    if request.method != "POST":
        return render(request, "messaging/new.html", context)
    if not form.is_valid():
        return render(request, "messaging/new.html", context, status=400)
    try:
        found, created = conversation_open(buyer=request.user, seller=target.seller, listing=target.listing)
        if created:
            properties = listing_event_properties(target.listing) if target.listing else {}
            track(request, EventName.CONTACT_STARTED, **properties)
        body = form.cleaned_data["body"]
        if body.strip():
            message_send(
                conversation=found, sender=request.user, body=body, client_id=form.cleaned_data["client_id"]
            )
    except ServiceError as error:
        form.add_error("body", error.message)
        status = 429 if error.code in RATE_LIMIT_CODES else 400
        return render(request, "messaging/new.html", context, status=status)
    if not body.strip():
        messages.info(request, "Write your message below.")
    return redirect("messaging:conversation", found.pk)
