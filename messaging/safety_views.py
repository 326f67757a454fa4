"""Messaging pages for safety and attachments: archive, report as spam, block and unblock (the
conversation page's buttons, plain form POSTs), the blocked-members list, and the one view
that serves a private attachment after ``access_conversation``. Thin, like ``views``."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from accounts.models import User
from marketplace.errors import ErrorCode, ServiceError
from marketplace.storage import private_storage
from messaging.attachments import attachment_for
from messaging.safety import (
    blocked_members,
    conversation_archive,
    conversation_report_spam,
    conversation_unarchive,
    user_block,
    user_unblock,
)
from messaging.selectors import access_conversation, is_participant

ATTACHMENT_HEADERS = {
    "Cache-Control": "private, max-age=3600",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _participant_conversation(request, conversation_id):
    """The conversation if the requester is one of its participants, else 404 (staff read
    conversations, but these actions belong to the participants)."""
    conversation = access_conversation(request.user, conversation_id)
    if not is_participant(conversation, request.user):
        raise Http404("No such conversation.")
    return conversation


def _refused(request, error: ServiceError, conversation):
    """A refusal: 429 with the message past a rate limit, else back to the conversation with it."""
    if error.code == ErrorCode.RATE_LIMITED:
        return render(request, "accounts/rate_limited.html", {"throttle_message": error.message}, status=429)
    messages.error(request, error.message)
    return redirect("messaging:conversation", conversation.pk)


@require_safe
def attachment(request, conversation_id, attachment_id, size):
    """One copy (``full`` or ``thumb``) of a picture attached in the conversation: only to its
    participants and staff; anyone else, signed in or not, gets the 404 an unknown picture gets
    (no login redirect: a picture's address tells nothing)."""
    conversation = access_conversation(request.user, conversation_id)
    try:
        name = attachment_for(conversation=conversation, attachment_id=attachment_id, size=size)
        file = private_storage().open(name, "rb")
    except (LookupError, FileNotFoundError, OSError):
        raise Http404("No such picture.") from None
    response = FileResponse(file, content_type="image/jpeg")
    for header, value in ATTACHMENT_HEADERS.items():
        response[header] = value
    return response


@login_required
@require_POST
def archive(request, conversation_id):
    conversation = _participant_conversation(request, conversation_id)
    conversation_archive(conversation=conversation, user=request.user)
    messages.success(request, "Conversation archived. A new message brings it back to your inbox.")
    return redirect("messaging:inbox")


@login_required
@require_POST
def unarchive(request, conversation_id):
    conversation = _participant_conversation(request, conversation_id)
    try:
        conversation_unarchive(conversation=conversation, user=request.user)
    except ServiceError as error:
        return _refused(request, error, conversation)
    messages.success(request, "Conversation moved back to your inbox.")
    return redirect("messaging:conversation", conversation.pk)


@login_required
@require_POST
def report(request, conversation_id):
    conversation = _participant_conversation(request, conversation_id)
    try:
        conversation_report_spam(
            conversation=conversation, reporter=request.user, note=request.POST.get("note", "")
        )
    except ServiceError as error:
        return _refused(request, error, conversation)
    messages.success(request, "Thank you: the conversation was reported and moved to your spam folder.")
    return redirect("messaging:inbox")


@login_required
@require_POST
def block(request, conversation_id):
    """Block the conversation's other participant."""
    conversation = _participant_conversation(request, conversation_id)
    other = conversation.seller if request.user.pk == conversation.buyer_id else conversation.buyer
    try:
        user_block(blocker=request.user, blocked=other)
    except ServiceError as error:
        return _refused(request, error, conversation)
    messages.success(request, "Member blocked: you will get no more messages from them.")
    return redirect("messaging:inbox")


@login_required
@require_safe
def blocked(request):
    """The members the requester blocked, each with an Unblock button."""
    return render(request, "messaging/blocked.html", {"blocks": blocked_members(request.user)})


@login_required
@require_POST
def unblock(request, user_id):
    try:
        other = User.objects.get(pk=user_id)
    except User.DoesNotExist:
        raise Http404("No such member.") from None
    try:
        user_unblock(blocker=request.user, blocked=other)
    except ServiceError:
        # Not blocked by you: answered as for an unknown member (nothing to learn about them).
        raise Http404("No such member.") from None
    messages.success(request, "Member unblocked.")
    return redirect("messaging:blocked")
