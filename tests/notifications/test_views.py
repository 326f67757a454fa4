"""The notification centre, marking read, the settings form, the header badge, unsubscribe."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from notifications.badge import UNREAD_CACHE_KEY
from notifications.models import Notification, NotificationPreference
from notifications.models import NotificationType as T
from notifications.services import notify
from notifications.unsubscribe import unsubscribe_token
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def make(user, n: int, **kwargs) -> list[Notification]:
    return [
        notify(
            user=user,
            type=T.LISTING_SOLD,
            title=f"Sold {i}",
            link=f"/payments/orders/{i}/",
            key=f"k{i}",
            **kwargs,
        )
        for i in range(n)
    ]


@pytest.fixture
def member(client):
    user = UserFactory()
    client.force_login(user)
    return user


def test_centre_lists_newest_first_unread_highlighted_with_links(client, member):
    first, second = make(member, 2)
    Notification.objects.filter(pk=first.pk).update(read_at=first.created_at)
    make(UserFactory(), 1)  # someone else's
    page = client.get(reverse("notifications:centre")).content.decode()
    assert page.index("Sold 1") < page.index("Sold 0")
    assert page.count("notification-unread") == 1
    assert reverse("notifications:open", args=[second.pk]) in page


def test_centre_is_for_members_only(client):
    response = client.get(reverse("notifications:centre"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_keyset_pages(client, member, settings):
    settings.NOTIFICATIONS_PAGE_SIZE = 3
    make(member, 7)
    seen = []
    url = reverse("notifications:centre")
    for _ in range(3):
        response = client.get(url)
        page = response.context["page"]
        seen += [row.title for row in page.rows]
        if not page.next_cursor:
            break
        url = f"{reverse('notifications:centre')}?cursor={page.next_cursor}"
    assert seen == [f"Sold {i}" for i in range(6, -1, -1)]
    tampered = client.get(reverse("notifications:centre") + "?cursor=junk")
    assert tampered.context["page"].cursor_invalid and b"no longer valid" in tampered.content


def test_opening_marks_read_and_goes_to_the_object(client, member):
    [note] = make(member, 1)
    response = client.get(reverse("notifications:open", args=[note.pk]))
    assert response.status_code == 302 and response["Location"] == "/payments/orders/0/"
    note.refresh_from_db()
    assert note.read_at is not None


def test_an_offsite_link_is_never_followed(client, member):
    note = notify(user=member, type=T.ACCOUNT, title="x", link="https://evil.example/", key="evil")
    response = client.get(reverse("notifications:open", args=[note.pk]))
    assert response["Location"] == reverse("notifications:centre")


def test_mark_one_and_all_read_by_post_only(client, member):
    a, b, c = make(member, 3)
    assert client.get(reverse("notifications:mark_read", args=[a.pk])).status_code == 405
    client.post(reverse("notifications:mark_read", args=[a.pk]))
    assert Notification.objects.filter(user=member, read_at__isnull=True).count() == 2
    assert client.get(reverse("notifications:mark_all_read")).status_code == 405
    client.post(reverse("notifications:mark_all_read"))
    assert Notification.objects.filter(user=member, read_at__isnull=True).count() == 0


def test_settings_form_on_the_profile_page_saves_every_choice(client, member):
    page = client.get(reverse("accounts:profile_edit")).content.decode()
    assert 'name="listing_sold__email" checked' in page and 'name="new_message__email">' in page
    # Untick "sold" email, tick "new message" email; everything else unticked too.
    response = client.post(
        reverse("notifications:preferences"), {"new_message__email": "on", "listing_sold__in_app": "on"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("accounts:profile_edit")
    chosen = dict(
        ((p.type, p.channel), p.enabled) for p in NotificationPreference.objects.filter(user=member)
    )
    assert chosen[("new_message", "email")] is True
    assert chosen[("listing_sold", "email")] is False and chosen[("listing_sold", "in_app")] is True
    page = client.get(reverse("accounts:profile_edit")).content.decode()
    assert 'name="new_message__email" checked' in page


def test_header_badge_counts_unread_on_every_page(client, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # each notification drops the cached count
        make(member, 2)
    page = client.get(reverse("accounts:email_change")).content.decode()
    assert "data-notification-count>2<" in page


@pytest.mark.parametrize("count", [1, 30])
def test_centre_query_count_does_not_grow(client, member, django_assert_num_queries, count):
    make(member, count)
    client.force_login(member)  # counts the badge into the cache, as a real log-in does
    # The session's user, the page of notifications (the badge is cached).
    with django_assert_num_queries(2):
        assert client.get(reverse("notifications:centre")).status_code == 200


@pytest.mark.parametrize("count", [1, 30])
def test_header_badge_is_one_cached_query(
    client, member, django_assert_num_queries, django_capture_on_commit_callbacks, count
):
    with django_capture_on_commit_callbacks(execute=True):
        make(member, count)
    client.force_login(member)  # primes the badge at log-in: pages show it without a query
    with django_assert_num_queries(1):  # the session's user only
        page = client.get(reverse("accounts:email_change")).content.decode()
    assert f"data-notification-count>{count}<" in page
    cache.delete(UNREAD_CACHE_KEY.format(user_id=member.pk))
    with django_assert_num_queries(2):  # the session's user, the count (one query whatever the count)
        page = client.get(reverse("accounts:email_change")).content.decode()
    assert f"data-notification-count>{count}<" in page


def test_unsubscribe_get_confirms_post_unsubscribes_logged_out(client):
    user = UserFactory()
    url = reverse("notifications:unsubscribe", args=[unsubscribe_token(user.pk, T.PAYOUT_SENT)])
    page = client.get(url)
    assert page.status_code == 200 and b"Payout sent" in page.content and b"<form" in page.content
    assert not NotificationPreference.objects.exists()  # a GET (a link scanner) changes nothing
    done = client.post(url)  # RFC 8058: no CSRF token, no cookie
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    assert NotificationPreference.objects.get().enabled is False
    assert client.post(url).status_code == 200  # again: still unsubscribed, no error


def test_one_click_post_needs_no_csrf_token():
    from django.test import Client

    user = UserFactory()
    strict = Client(enforce_csrf_checks=True)
    url = reverse("notifications:unsubscribe", args=[unsubscribe_token(user.pk, T.LISTING_SOLD)])
    assert strict.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert (
        NotificationPreference.objects.get(user=user, type=T.LISTING_SOLD, channel="email").enabled is False
    )


@pytest.mark.parametrize("mangle", ["tamper", "foreign", "other_user_type"])
def test_a_bad_token_is_400_and_changes_nothing(client, mangle):
    from django.core import signing

    user = UserFactory()
    token = unsubscribe_token(user.pk, T.PAYOUT_SENT)
    bad = {
        "tamper": token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        "foreign": signing.dumps({"u": str(user.pk), "t": "payout_sent"}, salt="accounts.verify_email"),
        "other_user_type": signing.dumps({"u": str(user.pk), "t": "bogus"}, salt="notifications.unsubscribe"),
    }[mangle]
    url = reverse("notifications:unsubscribe", args=[bad])
    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code == 400 and b"not valid" in response.content
    assert not NotificationPreference.objects.exists()
