"""What "Download my data" contains: one JSON document per section, read from each app.

Scope (README "Your data"): everything stored about the member and everything they wrote;
of other members only what the member was shown anyway: their public name (never an email
address, phone or id of theirs beyond the records' own ids), the messages they sent in the
member's conversations (the member received them), and reviews written about the member.
Each section is one or two queries, whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.db.models import Q

from accounts.models import User
from listings.models import Favorite, Listing
from messaging.models import Conversation, Message
from notifications.models import Notification
from payments.models import Transaction
from reviews.models import Review

PROFILE_FIELDS = (
    "id", "email", "first_name", "last_name", "bio", "phone_number", "is_seller", "seller_display_name",
    "account_status", "email_verified_at", "phone_verified_at", "kyc_verified_at", "seller_verified_at",
    "seller_rating", "seller_rating_count", "buyer_rating", "buyer_rating_count", "total_sales_count",
    "created_at", "last_login",
)  # fmt: skip
LISTING_FIELDS = (
    "id", "title", "slug", "description", "category__name", "price_cents", "currency", "pricing_type",
    "attributes", "images", "location_country", "location_city", "location_lat", "location_lng", "status",
    "visibility", "view_count", "favorite_count", "created_at", "updated_at", "published_at", "sold_at",
)  # fmt: skip
ORDER_FIELDS = (
    "id", "listing_id", "subtotal_cents", "platform_fee_cents", "total_cents",
    "seller_payout_cents", "currency", "status", "created_at", "completed_at", "cancelled_at",
    "escrow_release_date", "escrow_released_at",
)  # fmt: skip
# Apps other helpers fill in (offers, saved searches): exported when their tables exist, as
# the rows that point at the member, without the columns that point at someone else.
OPTIONAL_APPS = ("offers", "alerts")


def _profile(user: User) -> dict:
    row = User.objects.filter(pk=user.pk).values(*PROFILE_FIELDS).get()
    row["avatar"] = user.avatar.name or None
    return row


def _listings(user: User) -> list[dict]:
    return list(Listing.objects.filter(seller_id=user.pk).order_by("created_at").values(*LISTING_FIELDS))


def _orders(user: User) -> list[dict]:
    rows = (
        Transaction.objects.filter(Q(buyer_id=user.pk) | Q(seller_id=user.pk))
        .select_related("buyer", "seller", "listing")
        .order_by("created_at")
    )
    out = []
    for txn in rows:
        as_buyer = txn.buyer_id == user.pk
        other = txn.seller if as_buyer else txn.buyer
        out.append(
            {
                "role": "buyer" if as_buyer else "seller",
                "other_party": other.display_name,
                "listing_title": txn.listing.title if txn.listing_id else "",
                **{field: getattr(txn, field) for field in ORDER_FIELDS},
            }
        )
    return out


def _messages(user: User) -> list[dict]:
    conversations = list(
        Conversation.objects.filter(Q(buyer_id=user.pk) | Q(seller_id=user.pk))
        .select_related("buyer", "seller")
        .order_by("created_at")
    )
    by_conversation: dict = {c.pk: [] for c in conversations}
    for message in (
        Message.objects.filter(conversation_id__in=list(by_conversation))
        .order_by("conversation_id", "created_at")
        .values("conversation_id", "sender_id", "message", "kind", "attachments", "created_at", "read_at")
    ):
        mine = message["sender_id"] == user.pk
        by_conversation[message["conversation_id"]].append(
            {
                "from": "me" if mine else "other_party",
                "text": message["message"],
                "kind": message["kind"],
                # Names only: the files stay behind the access-checked attachment view.
                "attachments": [a.get("name", "") for a in message["attachments"] if isinstance(a, dict)],
                "sent_at": message["created_at"],
                "read_at": message["read_at"],
            }
        )
    return [
        {
            "id": c.pk,
            "subject": c.subject,
            "listing_id": c.listing_id,
            "role": "buyer" if c.buyer_id == user.pk else "seller",
            "other_party": (c.seller if c.buyer_id == user.pk else c.buyer).display_name,
            "messages": by_conversation[c.pk],
        }
        for c in conversations
    ]


def _reviews(user: User) -> dict:
    def rows(queryset, other: str) -> list[dict]:
        return [
            {
                "id": review.pk,
                "transaction_id": review.transaction_id,
                other: getattr(review, other).display_name,
                "rating": review.rating,
                "title": review.title,
                "comment": review.comment,
                "response": review.response,
                "status": review.status,
                "created_at": review.created_at,
                "published_at": review.published_at,
            }
            for review in queryset
        ]

    written = Review.objects.filter(reviewer_id=user.pk).select_related("reviewee").order_by("created_at")
    # Reviews about the member count only once published: blind reviews stay hidden until then.
    received = (
        Review.objects.filter(reviewee_id=user.pk, published_at__isnull=False)
        .select_related("reviewer")
        .order_by("created_at")
    )
    return {"written": rows(written, "reviewee"), "received": rows(received, "reviewer")}


def _favorites(user: User) -> list[dict]:
    return list(
        Favorite.objects.filter(user_id=user.pk)
        .order_by("created_at")
        .values("listing_id", "listing__title", "created_at")
    )


def _notifications(user: User) -> list[dict]:
    fields = ("type", "title", "message", "link_url", "created_at", "read_at")
    present = {f.name for f in Notification._meta.get_fields()}
    return list(
        Notification.objects.filter(user_id=user.pk)
        .order_by("created_at")
        .values(*[f for f in fields if f in present])
    )


def _optional_app(label: str) -> Callable[[User], dict] | None:
    """Rows of every model of app ``label`` that refer to the member, or None when the app has no
    model pointing at users. Columns pointing at another member are left out."""
    if not apps.is_installed(label):
        return None
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    models = []
    for model in apps.get_app_config(label).get_models():
        user_fks = [
            f.name for f in model._meta.concrete_fields if f.is_relation and f.related_model is user_model
        ]
        if user_fks:
            models.append((model, user_fks))
    if not models:
        return None

    def read(user: User) -> dict:
        out = {}
        for model, user_fks in models:
            condition = Q()
            for name in user_fks:
                condition |= Q(**{f"{name}_id": user.pk})
            rows = []
            for row in model.objects.filter(condition).order_by("pk").values():
                for name in user_fks:
                    if row.get(f"{name}_id") != user.pk:
                        row.pop(f"{name}_id", None)
                rows.append(row)
            out[model._meta.model_name] = rows
        return out

    return read


def member_data(user: User) -> dict[str, object]:
    """Every section of the export: ``{file name without .json: JSON-able data}``."""
    sections: dict[str, object] = {
        "profile": _profile(user),
        "listings": _listings(user),
        "orders": _orders(user),
        "messages": _messages(user),
        "reviews": _reviews(user),
        "favorites": _favorites(user),
        "notifications": _notifications(user),
    }
    for label in OPTIONAL_APPS:
        reader = _optional_app(label)
        if reader is not None:
            sections[label] = reader(user)
    return sections
