"""Staff actions through the services: take-down and restore, approval, review, conversation and
account moderation, badges; each writes one audit row, which the database keeps append-only."""

import pytest
from django.core.cache import cache
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction
from django.test import Client
from django.urls import reverse

from accounts.services import user_badge_set, user_ban
from listings.models import Listing
from listings.moderation import listing_approve, listing_decline, listing_restore, listing_take_down
from listings.selectors import LISTING_VERSION_KEY
from listings.services import listing_archive, listing_publish, listing_update
from marketplace.audit import audit_record
from marketplace.errors import ErrorCode, ServiceError
from marketplace.models import AuditEntry
from messaging.safety import conversation_moderate
from moderation.models import Report
from moderation.services import latest_action_on, report_create, report_resolve
from notifications.models import Notification
from reviews.services import review_moderate
from tests.factories import ConversationFactory, ListingFactory, ReviewFactory, SellerFactory, UserFactory
from tests.moderation.helpers import staff_in

pytestmark = pytest.mark.django_db
REASON = "Counterfeit goods."


@pytest.fixture
def moderator():
    return staff_in("Moderator", email="mod@example.com")


def search_titles(client, q: str) -> list[str]:
    response = client.get(reverse("listings:search"), {"q": q})
    assert response.status_code == 200
    return [listing.title for listing in response.context["result"].listings]


def test_take_down_archives_leaves_search_and_cache_and_tells_the_seller(
    moderator, django_capture_on_commit_callbacks
):
    listing = ListingFactory(title="Replica handbag deluxe")
    visitor = Client()
    assert search_titles(visitor, "handbag") == ["Replica handbag deluxe"]
    page = reverse("listings:detail", args=[listing.slug])
    assert visitor.get(page).status_code == 200
    version = cache.get(LISTING_VERSION_KEY.format(id=listing.pk))

    with django_capture_on_commit_callbacks(execute=True):
        listing_take_down(listing=listing, actor=moderator, reason=REASON)

    listing.refresh_from_db()
    assert listing.status == "archived"
    assert listing.taken_down_at is not None
    assert listing.moderation_reason == REASON
    assert cache.get(LISTING_VERSION_KEY.format(id=listing.pk)) != version  # the cached page retired
    assert search_titles(visitor, "handbag") == []
    assert visitor.get(page).status_code == 404
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_type, entry.target_id, entry.reason) == (
        moderator,
        "listings.take_down",
        "listings.listing",
        str(listing.pk),
        REASON,
    )
    assert entry.changes["status"] == ["active", "archived"]
    note = Notification.objects.get(user=listing.seller, type="listing_taken_down")
    assert REASON in note.message

    with django_capture_on_commit_callbacks(execute=True):
        listing_restore(listing=listing, actor=moderator, reason="Seller proved it is genuine.")
    listing.refresh_from_db()
    assert (listing.status, listing.taken_down_at, listing.moderation_reason) == ("active", None, "")
    assert search_titles(visitor, "handbag") == ["Replica handbag deluxe"]
    assert Notification.objects.filter(user=listing.seller, type="listing_restored").count() == 1
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "listings.take_down",
        "listings.restore",
    ]


def test_the_seller_sees_the_take_down_reason_on_the_dashboard(moderator):
    listing = ListingFactory()
    listing_take_down(listing=listing, actor=moderator, reason=REASON)
    client = Client()
    client.force_login(listing.seller)
    html = client.get(reverse("sell:dashboard"), {"status": "archived"}).content.decode()
    assert "Taken down by our team" in html and REASON in html


def test_take_down_refusals(moderator):
    listing = ListingFactory()
    for reason in ("", "   ", None, "x" * 2001):
        with pytest.raises(ServiceError):
            listing_take_down(listing=listing, actor=moderator, reason=reason)
    with pytest.raises(ServiceError) as caught:
        listing_take_down(listing=ListingFactory(status="reserved"), actor=moderator, reason=REASON)
    assert caught.value.code == ErrorCode.INVALID_TRANSITION
    for actor in (UserFactory(), staff_in("Support"), staff_in("Finance")):
        with pytest.raises(ServiceError) as caught:
            listing_take_down(listing=listing, actor=actor, reason=REASON)
        assert caught.value.code == ErrorCode.FORBIDDEN
    # An archive by the seller is theirs: staff cannot "restore" it.
    own = ListingFactory()
    listing_archive(listing=own, actor=own.seller)
    with pytest.raises(ServiceError) as caught:
        listing_restore(listing=own, actor=moderator, reason=REASON)
    assert caught.value.code == ErrorCode.INVALID_TRANSITION
    assert not AuditEntry.objects.exists()
    listing.refresh_from_db()
    assert listing.status == "active"


def test_the_audit_log_refuses_update_and_delete(moderator):
    entry = audit_record(actor=moderator, action="test.noop", target=moderator, reason="why")
    for sql in (
        "UPDATE marketplace_auditentry SET reason = 'rewritten' WHERE id = %s",
        "DELETE FROM marketplace_auditentry WHERE id = %s",
    ):
        with (
            pytest.raises((InternalError, ProgrammingError, IntegrityError)) as caught,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry.pk])
        assert "append-only" in str(caught.value)
    with pytest.raises((InternalError, ProgrammingError)), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    entry.refresh_from_db()
    assert entry.reason == "why"


# --- Approval ---------------------------------------------------------------------------------
@pytest.fixture
def approval(settings):
    settings.LISTING_APPROVAL_REQUIRED = True


def draft_of(seller, **kwargs):
    return ListingFactory(seller=seller, status="draft", published_at=None, **kwargs)


def test_approval_flow(approval, moderator, django_capture_on_commit_callbacks):
    seller = SellerFactory()
    listing = listing_publish(listing=draft_of(seller), actor=seller)
    assert (listing.status, listing.published_at) == ("pending", None)
    assert search_titles(Client(), listing.title.split()[0]) == []

    with django_capture_on_commit_callbacks(execute=True):
        listing = listing_decline(listing=listing, actor=moderator, reason="Blurry photos.")
    assert (listing.status, listing.moderation_reason) == ("draft", "Blurry photos.")
    client = Client()
    client.force_login(seller)
    html = client.get(reverse("sell:dashboard"), {"status": "draft"}).content.decode()
    assert "Not approved" in html and "Blurry photos." in html
    assert Notification.objects.filter(user=seller, type="listing_declined").exists()

    listing = listing_publish(listing=listing, actor=seller)
    assert listing.status == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        listing = listing_approve(listing=listing, actor=moderator)
    assert listing.status == "active" and listing.published_at is not None
    assert Notification.objects.filter(user=seller, type="listing_approved").exists()

    # An edit of what buyers judge sends it back to the queue; other edits do not.
    listing = listing_update(listing=listing, actor=seller, data={"location_city": "Lyon"})
    assert listing.status == "active"
    listing = listing_update(listing=listing, actor=seller, data={"price_cents": 12_345})
    assert listing.status == "pending"
    assert [e.action for e in AuditEntry.objects.order_by("id")] == [
        "listings.decline",
        "listings.approve",
    ]


def test_verified_sellers_and_the_default_setting_skip_approval(moderator, settings):
    seller = SellerFactory()
    first = draft_of(seller)
    second = draft_of(seller, category=first.category)  # the category tree is cached
    assert listing_publish(listing=first, actor=seller).status == "active"  # setting off
    settings.LISTING_APPROVAL_REQUIRED = True
    user_badge_set(user=seller, actor=moderator, badge="seller_verified", verified=True, reason="ID checked.")
    seller.refresh_from_db()
    assert listing_publish(listing=second, actor=seller).status == "active"
    entry = AuditEntry.objects.get(action="accounts.grant_seller_verified")
    assert entry.changes["seller_verified_at"][0] is None


def test_approving_needs_its_permission(approval):
    seller = SellerFactory()
    listing = listing_publish(listing=draft_of(seller), actor=seller)
    for actor in (staff_in("Support"), staff_in("Finance"), seller):
        with pytest.raises(ServiceError) as caught:
            listing_approve(listing=listing, actor=actor)
        assert caught.value.code == ErrorCode.FORBIDDEN
    assert Listing.objects.get(pk=listing.pk).status == "pending"


# --- Other apps' actions ------------------------------------------------------------------------
def test_each_action_writes_one_audit_row(moderator):
    review = ReviewFactory()
    conversation = ConversationFactory()
    member = UserFactory()
    review_moderate(review=review, actor=moderator, action="remove", reason="Abusive.")
    conversation_moderate(conversation=conversation, actor=moderator, spam=True, reason="Phishing.")
    conversation_moderate(conversation=conversation, actor=moderator, spam=False, reason="Mistake.")
    user_ban(user=member, actor=moderator, reason="Fraud.")
    user_badge_set(user=member, actor=moderator, badge="kyc_verified", verified=True, reason="Docs.")
    rows = list(AuditEntry.objects.order_by("id").values_list("action", "target_id", "reason"))
    assert rows == [
        ("reviews.remove", str(review.pk), "Abusive."),
        ("messaging.mark_spam", str(conversation.pk), "Phishing."),
        ("messaging.restore", str(conversation.pk), "Mistake."),
        ("accounts.ban", str(member.pk), "Fraud."),
        ("accounts.grant_kyc_verified", str(member.pk), "Docs."),
    ]
    assert AuditEntry.objects.get(action="accounts.ban").changes == {"account_status": ["active", "banned"]}


def test_resolving_links_the_action_or_no_action(moderator, django_capture_on_commit_callbacks):
    listing = ListingFactory()
    reporters = [UserFactory(), UserFactory()]
    for reporter in reporters:
        report_create(reporter=reporter, target_type="listing", target_id=listing.pk, reason="scam")
    listing_take_down(listing=listing, actor=moderator, reason=REASON)
    action = latest_action_on(target=listing)
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            report_resolve(object_key=f"listing:{listing.pk}", actor=moderator, note=REASON, action=action)
            == 2
        )
    assert set(Report.objects.values_list("status", "action_id")) == {("action_taken", action.pk)}
    assert Notification.objects.filter(type="report_resolved", user__in=reporters).count() == 2
    with pytest.raises(ServiceError) as caught:
        report_resolve(object_key=f"listing:{listing.pk}", actor=moderator, note=REASON)
    assert caught.value.code == ErrorCode.UNCHANGED

    other = ListingFactory()
    report_create(reporter=reporters[0], target_type="listing", target_id=other.pk, reason="spam")
    with pytest.raises(ServiceError):  # an action about another object
        report_resolve(object_key=f"listing:{other.pk}", actor=moderator, note="x", action=action)
    report_resolve(object_key=f"listing:{other.pk}", actor=staff_in("Support"), note="Looks fine.")
    assert Report.objects.get(listing=other).status == "no_action"
    with pytest.raises(ServiceError) as caught:
        report_resolve(object_key=f"listing:{other.pk}", actor=staff_in("Finance"), note="x")
    assert caught.value.code == ErrorCode.FORBIDDEN


# --- Permission changes --------------------------------------------------------------------------
def test_a_permission_change_in_the_admin_is_audited(admin_client):
    from django.contrib.auth.models import Group

    from tests.test_admin import form_data

    member = UserFactory(email="new.mod@example.com")
    url = reverse("admin:accounts_user_change", args=[member.pk])
    data = form_data(admin_client.get(url).context["adminform"].form)
    moderators = Group.objects.get(name="Moderator")
    data.update({"is_staff": "on", "groups": [str(moderators.pk)]})
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = AuditEntry.objects.get(action="auth.permissions_change")
    assert entry.target_id == str(member.pk)
    assert entry.changes == {"is_staff": [False, True], "groups": [[], ["Moderator"]]}

    group_url = reverse("admin:auth_group_change", args=[moderators.pk])
    kept = list(moderators.permissions.order_by("pk").values_list("pk", flat=True))[:-1]
    group_data = {"name": "Moderator", "permissions": [str(pk) for pk in kept]}
    assert admin_client.post(group_url, group_data).status_code == 302
    change = AuditEntry.objects.get(action="auth.group_permissions_change")
    assert len(change.changes["permissions"][0]) == len(change.changes["permissions"][1]) + 1
