"""Delete my account: what goes, what stays, and when it is refused (README "Your data")."""

import uuid

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import DELETED_MEMBER_NAME, User
from accounts.services import deleted_email, user_signup
from listings.models import Favorite, Listing
from listings.selectors import public_listings
from marketplace.errors import ServiceError
from marketplace.models import AuditEntry
from messaging.models import Conversation, Message
from messaging.services import message_send
from notifications.models import Notification
from payments.ledger import platform_totals_sql
from payments.models import LedgerEntry, Transaction
from privacy.models import DataExport
from privacy.services import account_delete
from reviews.models import Review
from tests.factories import (
    FavoriteFactory,
    LedgerEntryFactory,
    ListingFactory,
    MessageFactory,
    NotificationFactory,
    ReviewFactory,
    SellerFactory,
    TransactionFactory,
    UserFactory,
)
from tests.payments.purchase_helpers import paid, start

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # noqa: S105 - a test password
DELETE_URL = reverse("privacy:delete_account")


def _ledger() -> list:
    with connection.cursor() as cursor:
        cursor.execute(platform_totals_sql())
        return cursor.fetchall()


@pytest.fixture
def member(settings, tmp_path):
    """A seller and buyer with a bit of everything: listings, a completed sale with its ledger,
    a conversation, reviews both ways, favorites, notifications, an avatar."""
    settings.MEDIA_ROOT = tmp_path / "media"
    user = SellerFactory(
        first_name="Ada", last_name="Lovelace", bio="I sell engines.", phone_number="+441234"
    )
    user.set_password(PASSWORD)
    user.avatar.save("ada.jpg", ContentFile(b"jpeg"), save=False)
    user.save()
    active = ListingFactory(seller=user, title="Difference engine")
    sold = ListingFactory(seller=user, status=Listing.Status.SOLD, sold_at=timezone.now())
    sale = TransactionFactory(listing=sold)  # completed
    LedgerEntryFactory(transaction=sale)
    buyer = sale.buyer
    ReviewFactory(transaction=sale)  # the buyer about the member
    ReviewFactory(
        transaction=sale,
        reviewer=user,
        reviewee=buyer,
        reviewer_type=Review.ReviewerType.SELLER,
        comment="Prompt.",
    )
    message = MessageFactory(
        conversation__listing=active, conversation__buyer=buyer, sender=user, message="Yes, still here"
    )
    FavoriteFactory(user=user)
    NotificationFactory(user=user)
    return {"user": user, "active": active, "sale": sale, "buyer": buyer, "message": message}


def _login(client, user):
    assert client.login(username=user.email, password=PASSWORD)


def test_deleting_anonymises_the_member_and_keeps_the_other_parties_records(
    client, member, settings, django_capture_on_commit_callbacks
):
    user, buyer = member["user"], member["buyer"]
    avatar_path = settings.MEDIA_ROOT / user.avatar.name
    assert avatar_path.exists()
    ledger_before = _ledger()
    transactions_before = list(Transaction.objects.values_list("pk", "total_cents", "seller_payout_cents"))
    _login(client, user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(DELETE_URL, {"password": PASSWORD})

    assert response.status_code == 200
    assert b"Your account is deleted" in response.content
    user = User.objects.get(pk=user.pk)
    assert user.email == deleted_email(user.pk)
    assert (user.first_name, user.last_name, user.bio, user.phone_number, user.avatar.name) == ("",) * 5
    assert not user.is_active and user.deleted_at is not None and not user.has_usable_password()
    assert user.display_name == DELETED_MEMBER_NAME
    assert not avatar_path.exists()
    # Listings off the site, favorites and notifications gone.
    assert Listing.objects.get(pk=member["active"].pk).status == Listing.Status.ARCHIVED
    assert not public_listings().filter(seller=user).exists()
    assert not Favorite.objects.filter(user=user).exists()
    assert not Notification.objects.filter(user=user).exists()
    # Money records: every row and amount kept; the ledger untouched.
    assert _ledger() == ledger_before
    assert (
        list(Transaction.objects.values_list("pk", "total_cents", "seller_payout_cents"))
        == transactions_before
    )
    assert LedgerEntry.objects.filter(transaction=member["sale"]).count() == 1
    # Reviews kept both ways, the member's now by a deleted member.
    assert Review.objects.filter(reviewer=user).count() == Review.objects.filter(reviewee=user).count() == 1
    # Audited, without the email address.
    entry = AuditEntry.objects.get(action="privacy.account_delete", target_id=str(user.pk))
    assert "@deleted.invalid" in entry.target_repr

    # This browser is logged out; the other party still reads the conversation.
    assert client.get(reverse("accounts:profile_edit")).status_code == 302
    client.force_login(buyer)
    page = client.get(reverse("messaging:conversation", args=[member["message"].conversation_id]))
    assert page.status_code == 200
    assert b"Yes, still here" in page.content and DELETED_MEMBER_NAME.encode() in page.content
    assert b"Ada" not in page.content
    # ...but cannot write to a deleted member.
    with pytest.raises(ServiceError):
        message_send(
            conversation=Conversation.objects.get(pk=member["message"].conversation_id),
            sender=buyer,
            body="Hello?",
            client_id=uuid.uuid4(),
        )
    # The public profile is gone.
    assert client.get(reverse("accounts:profile", args=[user.pk])).status_code == 404
    # The member's review of the buyer stays on the buyer's profile, by a deleted member.
    profile = client.get(reverse("accounts:profile", args=[buyer.pk])).content.decode()
    assert "Prompt." in profile and DELETED_MEMBER_NAME in profile


def test_a_deleted_member_cannot_log_in_and_the_email_is_free_again(client, member):
    user = member["user"]
    email = user.email
    other_browser = Client()  # a session of the member's on another device
    _login(other_browser, user)
    assert other_browser.get(reverse("accounts:profile_edit")).status_code == 200
    account_delete(user=user, password=PASSWORD)
    assert not client.login(username=email, password=PASSWORD)
    assert not client.login(username=deleted_email(user.pk), password=PASSWORD)
    # That session ends too: the account is inactive and its password hash changed.
    assert other_browser.get(reverse("accounts:profile_edit")).status_code == 302
    new = user_signup(email=email, password="another long password", base_url="http://testserver/")
    assert new is not None and new.pk != user.pk


def _unchanged(user: User) -> None:
    fresh = User.objects.get(pk=user.pk)
    assert fresh.email == user.email and fresh.is_active and fresh.deleted_at is None
    assert fresh.has_usable_password()


@pytest.mark.parametrize("role", ["buyer", "seller"])
@pytest.mark.parametrize("stage", ["pending", "processing"])
def test_refused_while_an_order_is_in_progress_and_nothing_changes(client, role, stage):
    txn = start() if stage == "pending" else paid()
    user = txn.buyer if role == "buyer" else txn.seller
    user.set_password(PASSWORD)
    user.save()
    listings = list(Listing.objects.filter(seller=user).values_list("pk", "status"))
    NotificationFactory(user=user)
    client.force_login(user)

    response = client.post(DELETE_URL, {"password": PASSWORD})

    assert response.status_code == 400
    assert b"order in progress" in response.content
    _unchanged(user)
    assert list(Listing.objects.filter(seller=user).values_list("pk", "status")) == listings
    assert Notification.objects.filter(user=user).exists()
    assert client.get(reverse("accounts:profile_edit")).status_code == 200  # still logged in


def test_refused_while_the_seller_owes_money(client):
    sale = TransactionFactory(status=Transaction.Status.REFUNDED)
    LedgerEntryFactory(transaction=sale, kind=LedgerEntry.Kind.SELLER_DEBT, amount_cents=500)
    seller = sale.seller
    seller.set_password(PASSWORD)
    seller.save()
    client.force_login(seller)
    response = client.post(DELETE_URL, {"password": PASSWORD})
    assert response.status_code == 400
    assert b"You owe the platform money" in response.content
    _unchanged(seller)


def test_a_wrong_password_changes_nothing(client, member):
    client.force_login(member["user"])
    response = client.post(DELETE_URL, {"password": "wrong"})
    assert response.status_code == 400
    assert b"That is not your password" in response.content
    _unchanged(member["user"])
    assert Listing.objects.get(pk=member["active"].pk).status == Listing.Status.ACTIVE


def test_deleting_removes_the_members_exports_and_their_files(member, django_capture_on_commit_callbacks):
    from marketplace.storage import private_storage

    user = member["user"]
    name = private_storage().save(f"exports/{user.pk}/x.zip", ContentFile(b"zip"))
    DataExport.objects.create(user=user, status="expired")
    DataExport.objects.create(user=user, status="ready", file=name, expires_at="2100-01-01T00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        account_delete(user=user, password=PASSWORD)
    assert not DataExport.objects.filter(user=user).exists()
    assert not private_storage().exists(name)


def test_the_confirmation_page_explains_and_asks_for_the_password(client):
    client.force_login(UserFactory())
    response = client.get(DELETE_URL)
    assert response.status_code == 200
    assert b'name="password"' in response.content and b"Deleted member" in response.content


def test_deleting_twice_is_refused(member):
    account_delete(user=member["user"], password=PASSWORD)
    with pytest.raises(ServiceError):
        account_delete(user=User.objects.get(pk=member["user"].pk), password=PASSWORD)
    assert Message.objects.filter(pk=member["message"].pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_purchase_racing_the_deletion_is_seen_and_the_deletion_refused():
    """A buyer's checkout holds the seller's listing locked (as ``transaction_start`` does)
    while the seller deletes the account: the deletion waits for the listing, then sees the
    committed order and refuses, changing nothing."""
    import threading
    import time

    from django.db import transaction

    seller = SellerFactory()
    seller.set_password(PASSWORD)
    seller.save()
    listing = ListingFactory(seller=seller)
    buyer = UserFactory()
    locked, release, outcome = threading.Event(), threading.Event(), {}

    def checkout():
        try:
            with transaction.atomic():
                Listing.objects.select_for_update().get(pk=listing.pk)
                TransactionFactory(
                    listing=listing, buyer=buyer, status=Transaction.Status.PENDING, completed_at=None
                )
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    def delete():
        try:
            account_delete(user=User.objects.get(pk=seller.pk), password=PASSWORD)
            outcome["result"] = "deleted"
        except ServiceError as error:
            outcome["result"] = error.code
        finally:
            connection.close()

    first = threading.Thread(target=checkout)
    first.start()
    assert locked.wait(10)
    second = threading.Thread(target=delete)
    second.start()
    # Wait until the deletion is blocked on the listing's row lock, then commit the checkout.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                break
        time.sleep(0.05)
    release.set()
    first.join()
    second.join()
    assert outcome["result"] == "account_deletion_blocked"
    fresh = User.objects.get(pk=seller.pk)
    assert fresh.deleted_at is None and fresh.is_active
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.ACTIVE


def test_live_offers_close_and_saved_searches_and_follows_go(member):
    from datetime import timedelta

    from alerts.models import Follow, SavedSearch
    from offers.models import Offer

    user, buyer = member["user"], member["buyer"]
    later = timezone.now() + timedelta(days=1)
    received = Offer.objects.create(
        listing=member["active"], buyer=buyer, seller=user, amount_cents=900, currency="USD", expires_at=later
    )
    theirs = ListingFactory()
    made = Offer.objects.create(
        listing=theirs, buyer=user, seller=theirs.seller, amount_cents=900, currency="USD", expires_at=later
    )
    SavedSearch.objects.create(user=user, name="Lamps", query={"q": "lamp"}, query_string="q=lamp")
    Follow.objects.create(follower=user, seller=theirs.seller)
    Follow.objects.create(follower=buyer, seller=user)

    account_delete(user=user, password=PASSWORD)

    received.refresh_from_db()
    made.refresh_from_db()
    assert received.status == Offer.Status.DECLINED and "closed their account" in received.decline_reason
    assert made.status == Offer.Status.WITHDRAWN
    assert not SavedSearch.objects.filter(user=user).exists()
    assert (
        not Follow.objects.filter(follower=user).exists() and not Follow.objects.filter(seller=user).exists()
    )
