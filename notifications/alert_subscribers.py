"""Notifications of alerts (``alerts.hooks``): saved-search matches (instant, or the daily
digest in one email), new listings of followed sellers, price drops of favorites. Each is told
once: the key names the event (the saved search and its listings, the day, the listing, the
drop). An alert's email carries a one-click link that stops that alert only."""

import hashlib

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import User
from alerts import hooks
from alerts.models import SavedSearch
from alerts.selectors import unsubscribe_token
from listings.models import Listing
from marketplace.mail import queue_email
from marketplace.money import format_amount
from notifications.emails import absolute
from notifications.models import NotificationType
from notifications.services import notify


def _digest_key(listing_ids) -> str:
    return hashlib.sha256(",".join(sorted(map(str, listing_ids))).encode()).hexdigest()[:32]


def _listings(ids) -> list[Listing]:
    """The newest of ``ids``, as many as one run records per saved search."""
    listings = Listing.objects.filter(pk__in=ids).defer("search_vector").order_by("-published_at")
    return list(listings[: settings.ALERTS_MAX_LISTINGS_PER_RUN])


def _search_item(saved: SavedSearch, listing_ids) -> dict:
    stop = reverse("alerts:saved_search_unsubscribe", args=[unsubscribe_token(saved)])
    return {
        "name": saved.name,
        "count": len(listing_ids),
        "search_url": absolute(f"{reverse('listings:search')}?{saved.query_string}"),
        "stop_url": absolute(stop),
        "listings": [
            {
                "title": listing.title,
                "url": absolute(listing.get_absolute_url()),
                "price": format_amount(listing.price_cents, listing.currency)
                if listing.price_cents
                else "contact",
            }
            for listing in _listings(listing_ids)
        ],
    }


def _alert_email(user, subject: str, items: list[dict]):
    """The sender ``notify`` calls when the member's email for alerts is on: one email, and a
    List-Unsubscribe that stops the (first) alert it is about in one click."""

    def send(headers: dict[str, str]) -> None:
        context = {
            "recipient_name": user.first_name,
            "subject": subject,
            "searches": items,
            "manage_url": absolute(reverse("alerts:saved_searches")),
        }
        queue_email(
            to=user.email,
            subject=subject,
            text=render_to_string("emails/alerts/saved_search.txt", context),
            html=render_to_string("emails/alerts/saved_search.html", context),
            headers={**headers, "List-Unsubscribe": f"<{items[0]['stop_url']}>"}
            if len(items) == 1
            else headers,
        )

    return send


def _plural(count: int) -> str:
    return f"{count} new listing{'s' if count != 1 else ''}"


@hooks.saved_search_matched.subscribe
def notify_saved_search_matched(saved_search_id, listing_ids) -> None:
    saved = SavedSearch.objects.select_related("user").defer("keywords").filter(pk=saved_search_id).first()
    if saved is None or not listing_ids:
        return
    item = _search_item(saved, listing_ids)
    subject = f"{_plural(len(listing_ids))} for “{saved.name}”"
    notify(
        user=saved.user,
        type=NotificationType.SAVED_SEARCH_MATCH,
        title=subject,
        message=", ".join(listing["title"] for listing in item["listings"]),
        link=f"{reverse('listings:search')}?{saved.query_string}",
        metadata={"saved_search": str(saved.pk)},
        key=f"saved_search:{saved.pk}:{_digest_key(listing_ids)}",
        email=_alert_email(saved.user, subject, [item]),
    )


@hooks.saved_search_digest.subscribe
def notify_saved_search_digest(user_id, searches: dict, day: str) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    saved = {s.pk: s for s in SavedSearch.objects.filter(pk__in=searches).defer("keywords")}
    items = [_search_item(saved[pk], ids) for pk, ids in searches.items() if pk in saved]
    if not items:
        return
    total = sum(item["count"] for item in items)
    subject = f"Your daily alerts: {_plural(total)}"
    notify(
        user=user,
        type=NotificationType.SAVED_SEARCH_MATCH,
        title=subject,
        message="; ".join(f"{item['name']}: {item['count']}" for item in items),
        link=reverse("alerts:saved_searches"),
        key=f"saved_search_digest:{day}",
        email=_alert_email(user, subject, items),
    )


@hooks.followed_seller_listed.subscribe
def notify_followed_seller_listed(follower_id, listing_id) -> None:
    follower = User.objects.filter(pk=follower_id).first()
    listing = Listing.objects.select_related("seller").defer("search_vector").filter(pk=listing_id).first()
    if follower is None or listing is None:
        return
    notify(
        user=follower,
        type=NotificationType.FOLLOWED_SELLER_LISTING,
        title=f"{listing.seller.display_name} listed {listing.title}",
        message=format_amount(listing.price_cents, listing.currency) if listing.price_cents else "",
        link=listing.get_absolute_url(),
        key=f"followed_seller_listing:{listing.pk}",
    )


@hooks.price_dropped.subscribe
def notify_price_dropped(listing_id, user_ids, old_cents, new_cents, dropped_at) -> None:
    listing = Listing.objects.defer("search_vector").filter(pk=listing_id).first()
    if listing is None:
        return
    old, new = format_amount(old_cents, listing.currency), format_amount(new_cents, listing.currency)
    for user in User.objects.filter(pk__in=user_ids):
        notify(
            user=user,
            type=NotificationType.PRICE_DROP,
            title=f"Price drop: {listing.title}",
            message=f"Now {new} (was {old}).",
            link=listing.get_absolute_url(),
            key=f"price_drop:{listing.pk}:{dropped_at}",
        )
