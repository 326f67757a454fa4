"""factory_boy factories for every model; tests build data with these or real services."""

from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import User
from analytics.models import Event
from listings.models import Category, Favorite, Listing
from messaging.models import Conversation, Message
from notifications.models import Notification
from payments.models import LedgerEntry, Transaction
from reviews.models import Review


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email_verified_at = factory.LazyFunction(timezone.now)
    password = factory.django.Password("correct horse battery staple")


class SellerFactory(UserFactory):
    is_seller = True


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    attribute_schema = factory.LazyFunction(
        lambda: [
            {"key": "condition", "label": "Condition", "type": "enum", "options": ["New", "Used"]},
            {"key": "width", "label": "Width", "type": "number", "unit": "in"},
        ]
    )


class ListingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Listing

    seller = factory.SubFactory(SellerFactory)
    category = factory.SubFactory(CategoryFactory)
    title = factory.Sequence(lambda n: f"Listing {n}")
    slug = factory.Sequence(lambda n: f"listing-{n}")
    description = "A fine item in good condition."
    price_cents = 10_000
    currency = "USD"
    status = Listing.Status.ACTIVE
    published_at = factory.LazyFunction(timezone.now)


class FavoriteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Favorite

    user = factory.SubFactory(UserFactory)
    listing = factory.SubFactory(ListingFactory)


class TransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transaction

    listing = factory.SubFactory(ListingFactory)
    buyer = factory.SubFactory(UserFactory)
    seller = factory.LazyAttribute(lambda o: o.listing.seller)
    subtotal_cents = factory.LazyAttribute(lambda o: o.listing.price_cents)
    platform_fee_cents = factory.LazyAttribute(lambda o: o.subtotal_cents // 10)
    total_cents = factory.LazyAttribute(lambda o: o.subtotal_cents)
    seller_payout_cents = factory.LazyAttribute(lambda o: o.subtotal_cents - o.platform_fee_cents)
    currency = "USD"
    status = Transaction.Status.COMPLETED
    completed_at = factory.LazyFunction(timezone.now)


class ReviewFactory(factory.django.DjangoModelFactory):
    """A buyer's review of the seller of a completed transaction, published."""

    class Meta:
        model = Review

    transaction = factory.SubFactory(TransactionFactory)
    listing = factory.LazyAttribute(lambda o: o.transaction.listing)
    reviewer = factory.LazyAttribute(lambda o: o.transaction.buyer)
    reviewee = factory.LazyAttribute(lambda o: o.transaction.seller)
    reviewer_type = Review.ReviewerType.BUYER
    rating = 5
    is_verified = True
    # Published (so it is shown and counted) unless a test builds the blind window itself.
    published_at = factory.LazyFunction(timezone.now)
    # Published (both parties reviewed or the window closed): what pages show. Pass
    # published_at=None for a review still hidden by blind publication.
    published_at = factory.LazyFunction(timezone.now)


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    listing = factory.SubFactory(ListingFactory)
    buyer = factory.SubFactory(UserFactory)
    seller = factory.LazyAttribute(lambda o: o.listing.seller if o.listing else SellerFactory())
    subject = factory.LazyAttribute(lambda o: o.listing.title if o.listing else "Hello")


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    sender = factory.LazyAttribute(lambda o: o.conversation.buyer)
    message = "Is this still available?"


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    user = factory.SubFactory(UserFactory)
    type = Notification.Type.NEW_MESSAGE
    title = "You have a new message"


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    event_name = "listing_viewed"
    event_category = "listings"
    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=1))


class LedgerEntryFactory(factory.django.DjangoModelFactory):
    """A charge booked for a paid transaction (services write real ledger rows)."""

    class Meta:
        model = LedgerEntry

    transaction = factory.SubFactory(
        TransactionFactory, status=Transaction.Status.PROCESSING, completed_at=None
    )
    kind = LedgerEntry.Kind.CHARGE
    amount_cents = factory.LazyAttribute(lambda o: o.transaction.total_cents)
    currency = factory.LazyAttribute(lambda o: o.transaction.currency)
