"""Download my data: the job, the zip's contents (the member's, nobody else's), the link, the
limit, who may download it and its expiry (README "Your data")."""

import io
import json
import threading
import zipfile
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketplace.errors import ErrorCode, ServiceError
from marketplace.storage import private_storage
from notifications.models import Notification, NotificationType
from privacy.models import DataExport, DataExportStatus
from privacy.services import data_export_build, data_export_request, data_exports_expire
from privacy.tasks import expire_data_exports
from tests.factories import (
    FavoriteFactory,
    ListingFactory,
    MessageFactory,
    NotificationFactory,
    ReviewFactory,
    SellerFactory,
    TransactionFactory,
    UserFactory,
)
from tests.jobs import queued_jobs, run_jobs

pytestmark = pytest.mark.django_db

REQUEST_URL = reverse("privacy:export_request")


def _zip(export: DataExport) -> dict[str, object]:
    with (
        private_storage().open(export.file, "rb") as handle,
        zipfile.ZipFile(io.BytesIO(handle.read())) as archive,
    ):
        return {name: archive.read(name).decode() for name in archive.namelist()}


@pytest.fixture
def world():
    member = SellerFactory(email="member@example.com", first_name="Mia")
    other = SellerFactory(email="other@example.com", first_name="Olaf", seller_display_name="Olaf's shop")
    mine = ListingFactory(seller=member, title="Member's lamp")
    theirs = ListingFactory(seller=other, title="Other's chair")
    sale = TransactionFactory(listing=theirs, buyer=member)
    ReviewFactory(transaction=sale, comment="Lovely chair")  # member about other
    conversation = MessageFactory(
        conversation__listing=theirs, conversation__buyer=member, message="Is it oak?"
    ).conversation
    MessageFactory(conversation=conversation, sender=other, message="Yes, solid oak")
    # Someone else's conversation with the other member: never in the member's export.
    MessageFactory(conversation__listing=theirs, message="A stranger's question")
    FavoriteFactory(user=member, listing=theirs)
    FavoriteFactory(user=other, listing=mine)
    NotificationFactory(user=member, title="Member's notification")
    NotificationFactory(user=other, title="Other's notification")
    from alerts.models import SavedSearch

    SavedSearch.objects.create(user=member, name="Oak things", query={"q": "oak"}, query_string="q=oak")
    SavedSearch.objects.create(user=other, name="Other's search", query={"q": "x"}, query_string="q=x")
    return {"member": member, "other": other}


def test_the_job_builds_a_zip_of_the_members_data_and_nobody_elses(client, world, mailoutbox):
    member = world["member"]
    client.force_login(member)

    response = client.post(REQUEST_URL)

    assert response.status_code == 302
    export = DataExport.objects.get(user=member)
    assert export.status == DataExportStatus.PENDING
    assert [job["export_id"] for job in queued_jobs("privacy.build_data_export")] == [str(export.pk)]
    run_jobs()
    export.refresh_from_db()
    assert export.status == DataExportStatus.READY and export.expires_at > timezone.now()

    files = _zip(export)
    assert set(files) >= {
        "profile.json", "listings.json", "orders.json", "messages.json", "reviews.json",
        "favorites.json", "notifications.json",
    }  # fmt: skip
    everything = "".join(files.values())
    profile = json.loads(files["profile.json"])
    assert profile["email"] == "member@example.com" and profile["first_name"] == "Mia"
    assert [row["title"] for row in json.loads(files["listings.json"])] == ["Member's lamp"]
    [order] = json.loads(files["orders.json"])
    assert order["role"] == "buyer" and order["listing_title"] == "Other's chair"
    assert order["other_party"] == "Olaf's shop"
    [conversation] = json.loads(files["messages.json"])
    # The other party's messages in the member's own conversation are the member's to see.
    assert [(m["from"], m["text"]) for m in conversation["messages"]] == [
        ("me", "Is it oak?"),
        ("other_party", "Yes, solid oak"),
    ]
    assert json.loads(files["reviews.json"])["written"][0]["comment"] == "Lovely chair"
    assert [row["listing__title"] for row in json.loads(files["favorites.json"])] == ["Other's chair"]
    assert [row["title"] for row in json.loads(files["notifications.json"])] == ["Member's notification"]
    assert [row["name"] for row in json.loads(files["alerts.json"])["savedsearch"]] == ["Oak things"]
    assert json.loads(files["offers.json"]) == {"offer": []}
    # Nobody else's data, and never another member's email address.
    for foreign in ("other@example.com", "A stranger's question", "Other's notification", "Other's search"):
        assert foreign not in everything

    # The link is mailed and notified, and listed on the page.
    [mail] = mailoutbox  # sent by the mail job, which run_jobs ran too
    link = reverse("privacy:export_download", args=[export.pk])
    assert mail.to == ["member@example.com"] and link in mail.body
    assert Notification.objects.filter(
        user=member, type=NotificationType.DATA_EXPORT_READY, link_url=link
    ).exists()
    assert link.encode() in client.get(reverse("privacy:your_data")).content


def test_only_the_owner_downloads_it_while_it_lasts(client, world):
    export = data_export_request(user=world["member"])
    data_export_build(export_id=export.pk)
    url = reverse("privacy:export_download", args=[export.pk])

    assert Client().get(url).status_code == 302  # anonymous: log in first
    client.force_login(world["other"])
    assert client.get(url).status_code == 404
    client.force_login(world["member"])
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Cache-Control"] == "private, no-store"
    assert b"member@example.com" in zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read(
        "profile.json"
    )

    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(url).status_code == 404


def test_one_export_a_day_then_429_with_the_reason(client, world):
    client.force_login(world["member"])
    assert client.post(REQUEST_URL).status_code == 302
    response = client.post(REQUEST_URL)
    assert response.status_code == 429
    assert b"one copy of your data a day" in response.content
    assert 23 * 3600 < int(response["Retry-After"]) <= 24 * 3600
    assert DataExport.objects.filter(user=world["member"]).count() == 1
    assert len(queued_jobs("privacy.build_data_export")) == 1


def test_a_failed_build_does_not_count_against_the_limit(world):
    export = data_export_request(user=world["member"])
    DataExport.objects.filter(pk=export.pk).update(status=DataExportStatus.FAILED)
    assert data_export_request(user=world["member"]).pk != export.pk


def test_building_twice_builds_once(world):
    export = data_export_request(user=world["member"])
    first = data_export_build(export_id=export.pk)
    again = data_export_build(export_id=export.pk)
    assert again.file == first.file and again.ready_at == first.ready_at
    assert len(private_storage().listdir(f"exports/{world['member'].pk}")[1]) == 1


def test_expired_exports_lose_their_file(world, django_capture_on_commit_callbacks):
    export = data_export_build(export_id=data_export_request(user=world["member"]).pk)
    assert data_exports_expire() == 0
    later = export.expires_at + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert data_exports_expire(now=later) == 1
    export.refresh_from_db()
    assert export.status == DataExportStatus.EXPIRED and export.file == ""
    assert not private_storage().listdir(f"exports/{world['member'].pk}")[1]
    expire_data_exports(timestamp=0)  # the periodic job runs the same service: nothing left


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_make_one_export():
    member = UserFactory()
    results, barrier = [], threading.Barrier(2)

    def ask():
        barrier.wait()
        try:
            data_export_request(user=member)
            results.append("ok")
        except ServiceError as error:
            results.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted(["ok", ErrorCode.RATE_LIMITED])
    assert DataExport.objects.filter(user=member).count() == 1


@pytest.mark.parametrize("count", [0, 7])
def test_the_data_page_costs_two_queries_whatever_the_exports(client, django_assert_max_num_queries, count):
    member = UserFactory()
    for _ in range(count):
        DataExport.objects.create(user=member, status="expired")
    client.force_login(member)
    with django_assert_max_num_queries(2):
        response = client.get(reverse("privacy:your_data"))
    assert response.status_code == 200
    assert response.content.count(b"Expired") == min(count, 5)


def test_the_profile_offers_the_download_and_the_deletion(client):
    client.force_login(UserFactory())
    page = client.get(reverse("accounts:profile_edit")).content.decode()
    assert reverse("privacy:export_request") in page
    assert reverse("privacy:delete_account") in page
