"""Members' reports: who may report what, once per object, rate limited, bad input refused."""

import threading

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from marketplace.errors import ErrorCode, ServiceError
from moderation.models import Report
from moderation.services import report_create
from tests.factories import ListingFactory, MessageFactory, ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db


def report_url(target_type: str, object_id) -> str:
    return reverse("moderation:report", args=[target_type, object_id])


def test_a_member_reports_each_kind_of_object_once():
    member = UserFactory()
    listing = ListingFactory()
    review = ReviewFactory()
    message = MessageFactory(conversation__buyer=member)
    message = MessageFactory(conversation=message.conversation, sender=message.conversation.seller)
    other = UserFactory()
    cases = [
        ("listing", listing, listing.seller),
        ("user", other, other),
        ("review", review, review.reviewer),
        ("message", message, message.sender),
    ]
    for target_type, obj, owner in cases:
        report = report_create(reporter=member, target_type=target_type, target_id=obj.pk, reason="scam")
        assert report.object_key == f"{target_type}:{obj.pk}"
        assert report.owner == owner
        assert report.status == "open"
        with pytest.raises(ServiceError) as caught:
            report_create(reporter=member, target_type=target_type, target_id=obj.pk, reason="spam")
        assert caught.value.code == ErrorCode.ALREADY_REPORTED
    assert Report.objects.count() == 4


@pytest.mark.parametrize(
    ("reason", "text", "code"),
    [
        ("nonsense", "", ErrorCode.INVALID),
        ("other", "   ", ErrorCode.INCOMPLETE),
        ("scam", "x" * 2001, ErrorCode.INVALID),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(reason, text, code):
    with pytest.raises(ServiceError) as caught:
        report_create(
            reporter=UserFactory(),
            target_type="listing",
            target_id=ListingFactory().pk,
            reason=reason,
            text=text,
        )
    assert caught.value.code == code
    assert not Report.objects.exists()


def test_what_the_reporter_cannot_see_is_not_found_and_their_own_is_refused():
    member = UserFactory()
    draft = ListingFactory(status="draft", published_at=None)
    stranger_message = MessageFactory()
    for target_type, target_id in [
        ("listing", draft.pk),
        ("message", stranger_message.pk),
        ("listing", "not-a-uuid"),
        ("review", ListingFactory().pk),  # an id of another kind
        ("bogus", draft.pk),
    ]:
        with pytest.raises(ServiceError) as caught:
            report_create(reporter=member, target_type=target_type, target_id=target_id, reason="scam")
        assert caught.value.code in (ErrorCode.NOT_FOUND, ErrorCode.INVALID)
    own = ListingFactory(seller=member)
    with pytest.raises(ServiceError) as caught:
        report_create(reporter=member, target_type="listing", target_id=own.pk, reason="scam")
    assert caught.value.code == ErrorCode.OWN_ACCOUNT
    assert not Report.objects.exists()


def test_the_report_page_files_a_report_and_refuses_a_second(client):
    member = UserFactory()
    listing = ListingFactory()
    client.force_login(member)
    url = report_url("listing", listing.pk)
    page = client.get(url)
    assert page.status_code == 200
    assert "Prohibited item" in page.content.decode()
    response = client.post(url, {"reason": "prohibited", "text": "Sells a live animal."})
    assert response.status_code == 302
    assert response["Location"] == reverse("listings:detail", args=[listing.slug])
    report = Report.objects.get()
    assert (report.reason, report.text, report.listing_id) == (
        "prohibited",
        "Sells a live animal.",
        listing.pk,
    )
    again = client.post(url, {"reason": "scam"})
    assert again.status_code == 409
    assert "You already reported this" in again.content.decode()
    assert Report.objects.count() == 1


def test_the_report_page_answers_bad_input_with_a_message(client):
    client.force_login(UserFactory())
    url = report_url("listing", ListingFactory().pk)
    response = client.post(url, {"reason": "other", "text": ""})
    assert response.status_code == 400
    assert "Tell us what is wrong" in response.content.decode()
    response = client.post(url, {"reason": "made-up"})
    assert response.status_code == 400
    assert not Report.objects.exists()


def test_the_report_page_is_404_for_what_the_member_cannot_see(client):
    client.force_login(UserFactory())
    assert (
        client.get(report_url("listing", ListingFactory(status="draft", published_at=None).pk)).status_code
        == 404
    )
    assert client.get(report_url("listing", "nope")).status_code == 404
    assert client.get(report_url("message", MessageFactory().pk)).status_code == 404


def test_reports_are_rate_limited_with_429(client, settings):
    settings.REPORTS_PER_HOUR = 2
    member = UserFactory()
    client.force_login(member)
    for _ in range(2):
        assert client.post(report_url("listing", ListingFactory().pk), {"reason": "spam"}).status_code == 302
    response = client.post(report_url("listing", ListingFactory().pk), {"reason": "spam"})
    assert response.status_code == 429
    assert "up to 2 reports an hour" in response.content.decode()
    assert Report.objects.count() == 2


def test_anonymous_visitors_are_sent_to_log_in():
    response = Client().get(report_url("listing", ListingFactory().pk))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.django_db(transaction=True)
def test_two_reports_at_once_give_one():
    member = UserFactory()
    listing = ListingFactory()
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt():
        try:
            barrier.wait()
            report_create(reporter=member, target_type="listing", target_id=listing.pk, reason="scam")
            outcomes.append("created")
        except ServiceError as error:
            outcomes.append(error.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted(["created", ErrorCode.ALREADY_REPORTED])
    assert Report.objects.count() == 1


def test_the_report_page_query_count_is_pinned(client, django_assert_max_num_queries):
    member = UserFactory()
    listing = ListingFactory()
    client.force_login(member)
    url = report_url("listing", listing.pk)
    client.get(url)  # warm process-wide caches
    with django_assert_max_num_queries(6) as page:  # session, user, the listing + seller, page chrome
        assert client.get(url).status_code == 200
    with django_assert_max_num_queries(10) as post:  # + the dedupe check and the insert
        assert client.post(url, {"reason": "scam"}).status_code == 302
    assert len(page) <= 6 and len(post) <= 10


def test_the_moderation_queue_is_one_query_whatever_its_size(django_assert_num_queries):
    from moderation.admin import ReportAdmin
    from moderation.models import Report as ReportModel

    reporters = [UserFactory() for _ in range(3)]
    for _ in range(5):
        listing = ListingFactory()
        for reporter in reporters:
            report_create(reporter=reporter, target_type="listing", target_id=listing.pk, reason="scam")
    from django.contrib import admin

    model_admin = admin.site._registry[ReportModel]
    assert isinstance(model_admin, ReportAdmin)
    with django_assert_num_queries(1):
        rows = model_admin.queue_rows()
    assert len(rows) == 5 and {row["count"] for row in rows} == {3}
    assert all(row["reason_labels"] == ["Scam or fraud"] for row in rows)


def test_members_find_the_report_links_on_profiles_and_conversations(client):
    import uuid

    from messaging.services import conversation_open, message_send

    buyer, seller = UserFactory(), UserFactory()
    conversation, _ = conversation_open(buyer=buyer, seller=seller)
    theirs, _ = message_send(conversation=conversation, sender=seller, body="Hello", client_id=uuid.uuid4())
    mine, _ = message_send(conversation=conversation, sender=buyer, body="Hi back", client_id=uuid.uuid4())
    client.force_login(buyer)
    profile = client.get(reverse("accounts:profile", args=[seller.pk])).content.decode()
    assert reverse("moderation:report", args=["user", seller.pk]) in profile
    own_profile = client.get(reverse("accounts:profile", args=[buyer.pk])).content.decode()
    assert reverse("moderation:report", args=["user", buyer.pk]) not in own_profile
    page = client.get(reverse("messaging:conversation", args=[conversation.pk])).content.decode()
    assert reverse("moderation:report", args=["message", theirs.pk]) in page
    assert reverse("moderation:report", args=["message", mine.pk]) not in page
