"""Staff moderation: Suspend / Ban / Reinstate from the admin, with a required, recorded reason,
and a ban that takes the seller's listings off public pages at once."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import reverse

from accounts import hooks
from accounts.models import AccountStatus, AccountStatusChange, User
from accounts.services import STATUS_REASON_MAX_LENGTH, user_ban, user_reinstate, user_suspend
from marketplace.errors import ServiceError
from tests.factories import ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's
CHANGELIST = reverse("admin:accounts_user_changelist")
REASON = "Listed counterfeit goods after two warnings."


@pytest.fixture(autouse=True)
def _sessions_in_signed_cookies(settings):
    """Admin logins out of the shared Redis database (see tests/test_admin.py)."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True, email="moderator@example.com")


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def member():
    return UserFactory(email="member@example.com")


@pytest.fixture
def recorded():
    """What ``user_status_changed`` announced, subscribed for one test."""
    calls = []

    def record(*args):
        calls.append(args)

    hooks.user_status_changed.subscribe(record)
    yield calls
    hooks.user_status_changed.subscribers.remove(record)


def status_of(user) -> str:
    user.refresh_from_db()
    return user.account_status


def action(client, name: str, users, **extra):
    data = {"action": name, "_selected_action": [str(user.pk) for user in users], **extra}
    return client.post(CHANGELIST, data)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- The services -----------------------------------------------------------------------------


def test_a_ban_is_recorded_with_its_reason_actor_and_statuses(member, staff):
    user_ban(user=member, actor=staff, reason=f"  {REASON}\n")

    change = AccountStatusChange.objects.get(user=member)
    assert (change.actor, change.from_status, change.to_status) == (staff, "active", "banned")
    assert change.reason == REASON  # stripped
    assert change.created_at is not None

    user_reinstate(user=member, actor=staff, reason="Appeal upheld.")
    history = AccountStatusChange.objects.filter(user=member).order_by("created_at", "id")
    assert [(c.from_status, c.to_status) for c in history] == [("active", "banned"), ("banned", "active")]


@pytest.mark.parametrize("reason", ["", "   \n\t"])
@pytest.mark.parametrize("service", [user_ban, user_suspend])
def test_a_missing_reason_is_refused_and_nothing_changes(member, staff, recorded, service, reason):
    with pytest.raises(ServiceError) as refused:
        service(user=member, actor=staff, reason=reason)
    assert refused.value.code == "incomplete"
    assert "Give a reason" in refused.value.message
    assert status_of(member) == AccountStatus.ACTIVE
    assert not AccountStatusChange.objects.exists()
    assert recorded == []


def test_a_reason_past_the_limit_is_refused(member, staff):
    with pytest.raises(ServiceError) as refused:
        user_ban(user=member, actor=staff, reason="x" * (STATUS_REASON_MAX_LENGTH + 1))
    assert refused.value.code == "invalid"
    assert status_of(member) == AccountStatus.ACTIVE


def test_the_status_an_account_already_has_is_refused_as_unchanged(member, staff):
    user_suspend(user=member, actor=staff, reason=REASON)
    with pytest.raises(ServiceError) as refused:
        user_suspend(user=member, actor=staff, reason=REASON)
    assert refused.value.code == "unchanged"
    assert refused.value.message == "This account is already suspended."
    assert AccountStatusChange.objects.filter(user=member).count() == 1


def test_the_database_refuses_a_reasonless_or_edited_record(member, staff):
    user_ban(user=member, actor=staff, reason=REASON)
    change = AccountStatusChange.objects.get()
    for write in (
        lambda: AccountStatusChange.objects.filter(pk=change.pk).update(reason="Edited later."),
        lambda: AccountStatusChange.objects.filter(pk=change.pk).delete(),
        lambda: AccountStatusChange.objects.create(
            user=member, actor=staff, from_status="banned", to_status="active", reason=" "
        ),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            write()
    assert AccountStatusChange.objects.get().reason == REASON


def test_the_hook_is_announced_after_commit_only(member, staff, recorded, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user_suspend(user=member, actor=staff, reason=REASON)
    assert recorded == [(member.pk, "active", "suspended")]

    recorded.clear()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        user_ban(user=member, actor=staff, reason=REASON)
        transaction.set_rollback(True)
    assert recorded == []
    assert status_of(member) == AccountStatus.SUSPENDED


# --- The admin actions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "before", "after", "done"),
    [
        ("suspend_users", AccountStatus.ACTIVE, AccountStatus.SUSPENDED, "suspended"),
        ("ban_users", AccountStatus.SUSPENDED, AccountStatus.BANNED, "banned"),
        ("reinstate_users", AccountStatus.BANNED, AccountStatus.ACTIVE, "reinstated"),
    ],
)
def test_each_action_asks_for_a_reason_then_changes_and_records(
    staff_client, staff, name, before, after, done
):
    users = [UserFactory(email="a@example.com", account_status=before), UserFactory(email="b@example.com")]
    users[1].account_status = before
    users[1].save(update_fields=["account_status"])

    page = action(staff_client, name, users)
    assert page.status_code == 200
    html = page.content.decode()
    assert "a@example.com" in html and "b@example.com" in html
    assert 'name="reason"' in html
    assert f'name="action" value="{name}"' in html
    assert [status_of(user) for user in users] == [before, before]  # asking changes nothing

    response = action(staff_client, name, users, apply="yes", reason=REASON)
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert [status_of(user) for user in users] == [after, after]
    assert messages_of(response) == [f"2 accounts {done}: a@example.com, b@example.com."]
    for user in users:
        change = AccountStatusChange.objects.get(user=user)
        assert (change.actor, change.from_status, change.to_status, change.reason) == (
            staff,
            before,
            after,
            REASON,
        )


@pytest.mark.parametrize("reason", ["", "    "])
def test_an_empty_reason_is_refused_with_a_message_and_changes_nothing(staff_client, member, reason):
    response = action(staff_client, "ban_users", [member], apply="yes", reason=reason)
    assert response.status_code == 200
    assert "Give a reason: nothing was changed." in response.content.decode()
    assert status_of(member) == AccountStatus.ACTIVE
    assert not AccountStatusChange.objects.exists()


def test_a_ban_from_the_admin_ends_the_members_sessions(staff_client, member):
    browser = Client()
    assert (
        browser.post(reverse("accounts:login"), {"username": member.email, "password": PASSWORD}).status_code
        == 302
    )
    assert browser.get(reverse("accounts:profile_edit")).status_code == 200

    action(staff_client, "ban_users", [member], apply="yes", reason=REASON)

    response = browser.get(reverse("home"))
    assert "You have been logged out. This account has been banned." in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    assert browser.get(reverse("accounts:profile_edit")).status_code == 302


def test_a_refusal_is_reported_per_account_and_the_others_go_through(member):
    moderator = UserFactory(is_staff=True, email="mod@example.com")  # staff, not superuser
    moderator.user_permissions.add(Permission.objects.get(codename="change_user"))
    moderator.user_permissions.add(Permission.objects.get(codename="moderate_user"))
    colleague = UserFactory(is_staff=True, email="colleague@example.com")
    client = Client()
    client.force_login(moderator)

    response = action(client, "suspend_users", [member, colleague], apply="yes", reason=REASON)

    assert response.status_code == 302
    assert messages_of(response) == [
        "colleague@example.com: Only a superuser can change the status of a staff account.",
        "1 account suspended: member@example.com.",
    ]
    assert status_of(member) == AccountStatus.SUSPENDED
    assert status_of(colleague) == AccountStatus.ACTIVE


def test_an_account_already_in_that_status_is_reported_and_skipped(staff_client, member):
    other = UserFactory(email="other@example.com", account_status=AccountStatus.BANNED)
    response = action(staff_client, "ban_users", [member, other], apply="yes", reason=REASON)
    assert messages_of(response) == [
        "other@example.com: This account is already banned.",
        "1 account banned: member@example.com.",
    ]
    assert AccountStatusChange.objects.filter(user=other).count() == 0


def test_members_cannot_reach_the_actions(member):
    client = Client()
    client.force_login(UserFactory(email="curious@example.com"))
    response = action(client, "ban_users", [member], apply="yes", reason=REASON)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    status_url = reverse("admin:accounts_user_status", args=[member.pk, "ban"])
    assert client.post(status_url, {"reason": REASON}).status_code == 302
    assert status_of(member) == AccountStatus.ACTIVE
    assert not AccountStatusChange.objects.exists()


def test_staff_who_may_only_view_users_get_no_moderation(member):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client = Client()
    client.force_login(viewer)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert page.context["action_form"] is None  # no action at all: delete and moderation need more
    assert "ban_users" not in page.content.decode()
    change_page = client.get(reverse("admin:accounts_user_change", args=[member.pk])).content.decode()
    assert "Ban…" not in change_page and "Suspend…" not in change_page
    status_url = reverse("admin:accounts_user_status", args=[member.pk, "ban"])
    assert client.post(status_url, {"reason": REASON}).status_code == 404
    assert status_of(member) == AccountStatus.ACTIVE


def test_the_change_page_has_buttons_and_shows_the_history(staff_client, staff, member):
    change_url = reverse("admin:accounts_user_change", args=[member.pk])
    html = staff_client.get(change_url).content.decode()
    assert "No status changes." in html
    assert "Suspend…" in html and "Ban…" in html and "Reinstate…" not in html

    ban_url = reverse("admin:accounts_user_status", args=[member.pk, "ban"])
    page = staff_client.get(ban_url)
    assert page.status_code == 200 and "member@example.com" in page.content.decode()
    refused = staff_client.post(ban_url, {"reason": ""})
    assert refused.status_code == 200
    assert "Give a reason: nothing was changed." in refused.content.decode()
    assert status_of(member) == AccountStatus.ACTIVE

    response = staff_client.post(ban_url, {"reason": "Fraud <script>"})
    assert response.status_code == 302 and response["Location"] == change_url
    assert status_of(member) == AccountStatus.BANNED

    html = staff_client.get(change_url).content.decode()
    assert "Banned" in html and "moderator@example.com" in html
    assert "Fraud &lt;script&gt;" in html  # the reason is escaped
    assert "Reinstate…" in html and "Ban…" not in html


def test_an_unknown_status_action_is_404(staff_client, member):
    assert (
        staff_client.get(reverse("admin:accounts_user_status", args=[member.pk, "delete"])).status_code == 404
    )


# --- A ban takes the seller's listings off public pages at once -------------------------------


def test_a_ban_takes_the_sellers_listings_off_public_pages_at_once(
    client, staff_client, django_capture_on_commit_callbacks
):
    seller = SellerFactory(first_name="Mallory")
    listing = ListingFactory(seller=seller, title="Zanzibar walnut desk", category__name="Writing desks")
    ListingFactory(title="Zanzibar pine shelf", category__name="Shelves")  # another seller's
    detail = reverse("listings:detail", args=[listing.slug])
    search = reverse("listings:search") + "?q=zanzibar"
    profile = reverse("accounts:profile", args=[seller.pk])
    facet = 'Writing desks</a> <span class="count">1</span>'

    # Warm every cache the pages use: the listing page fragments, the search facet counts.
    for _ in range(2):
        assert client.get(detail).status_code == 200
        html = client.get(search).content.decode()
        assert "Zanzibar walnut desk" in html and facet in html
        assert "Zanzibar walnut desk" in client.get(reverse("home")).content.decode()
        assert "Zanzibar walnut desk" in client.get(profile).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        action(staff_client, "ban_users", [seller], apply="yes", reason=REASON)

    assert client.get(detail).status_code == 404
    html = client.get(search).content.decode()
    assert "Zanzibar walnut desk" not in html
    assert facet not in html  # the cached category count went too
    assert "1 listing" in html and "Zanzibar pine shelf" in html
    assert "Zanzibar walnut desk" not in client.get(reverse("home")).content.decode()
    assert client.get(profile).status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        action(staff_client, "reinstate_users", [seller], apply="yes", reason="Appeal upheld.")

    assert client.get(detail).status_code == 200
    html = client.get(search).content.decode()
    assert "Zanzibar walnut desk" in html and facet in html


def test_a_suspended_sellers_listings_stay_public(client, staff_client, django_capture_on_commit_callbacks):
    listing = ListingFactory(title="Zanzibar walnut desk")
    with django_capture_on_commit_callbacks(execute=True):
        action(staff_client, "suspend_users", [listing.seller], apply="yes", reason=REASON)
    assert status_of(listing.seller) == User.AccountStatus.SUSPENDED
    assert client.get(reverse("listings:detail", args=[listing.slug])).status_code == 200
    assert "1 listing" in client.get(reverse("listings:search") + "?q=zanzibar").content.decode()
