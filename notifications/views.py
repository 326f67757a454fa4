"""Notification pages: the centre, marking read, the preferences form, one-click unsubscribe.
Thin: each parses, calls one service or selector, and renders or redirects."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from notifications.forms import PreferencesForm
from notifications.models import NotificationChannel, NotificationType
from notifications.preferences import preferences_set
from notifications.selectors import access_notification, notification_page
from notifications.services import notification_mark_read, notifications_mark_all_read
from notifications.unsubscribe import read_unsubscribe_token


@login_required
@require_safe
def centre(request):
    """The member's notifications, newest first, unread highlighted (``?cursor=`` pages)."""
    page = notification_page(user=request.user, cursor=request.GET.get("cursor"))
    return render(request, "notifications/centre.html", {"page": page})


def _safe_link(request, link: str) -> str | None:
    if link and url_has_allowed_host_and_scheme(link, allowed_hosts={request.get_host()}):
        return link
    return None


@login_required
@require_safe
def open_notification(request, notification_id):
    """Mark the notification read and go to what it is about (the centre when it links nowhere)."""
    notification = access_notification(request.user, notification_id)
    notification_mark_read(notification=notification, reader=request.user)
    return redirect(_safe_link(request, notification.link_url) or "notifications:centre")


@login_required
@require_POST
def mark_read(request, notification_id):
    notification = access_notification(request.user, notification_id)
    notification_mark_read(notification=notification, reader=request.user)
    return redirect("notifications:centre")


@login_required
@require_POST
def mark_all_read(request):
    count = notifications_mark_all_read(reader=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    return redirect("notifications:centre")


@login_required
@require_POST
def preferences(request):
    """The preferences form of the profile page: stores every shown choice."""
    form = PreferencesForm(request.POST, user=request.user)
    if form.is_valid():
        preferences_set(user=request.user, choices=form.cleaned_choices())
        messages.success(request, "Your notification settings were saved.")
    else:  # only booleans: a forged field name is ignored, so this is a tampered post
        messages.error(request, "Those notification settings could not be read; nothing changed.")
    return redirect("accounts:profile_edit")


@csrf_exempt  # RFC 8058 one-click: the mail client POSTs without a cookie; the signature is the authority
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token):
    """GET: confirm; POST (the page's button, or a mail client's one-click): turn the email of
    that type off. Works logged out. A tampered or foreign token changes nothing (400)."""
    found = read_unsubscribe_token(token)
    user = get_user_model().objects.filter(pk=found[0]).first() if found else None
    if user is None:
        return render(request, "notifications/unsubscribe_invalid.html", status=400)
    type_label = NotificationType(found[1]).label
    if request.method == "POST":
        preferences_set(user=user, choices=[(found[1], NotificationChannel.EMAIL, False)])
        return render(request, "notifications/unsubscribe.html", {"done": True, "type_label": type_label})
    return render(request, "notifications/unsubscribe.html", {"done": False, "type_label": type_label})
