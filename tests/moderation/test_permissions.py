"""Every staff action x every staff group, through the admin: allowed or 403 (or, for a
changelist action, not offered and nothing changed), and non-staff sent to the admin login.

The groups come from the data migration (moderation 0002): Support reads everything and
resolves reports; Moderator takes down, moderates reviews and conversations, suspends, bans
and verifies; Finance refunds and releases held payouts. Every group sees the dashboard and
the audit log.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group
from django.db.models import Q
from django.test import Client
from django.urls import reverse

from accounts.models import AccountStatus
from marketplace.models import AuditEntry
from moderation.models import Report
from moderation.services import report_create
from tests.factories import ListingFactory, MessageFactory, ReviewFactory, UserFactory
from tests.moderation.helpers import GROUPS, ensure_groups, staff_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sessions_in_signed_cookies(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"


def act_url(target_type: str, obj, action: str) -> str:
    return reverse("admin:moderation_report_act", args=[target_type, obj.pk, action])


def reported_listing():
    listing = ListingFactory()
    report_create(reporter=UserFactory(), target_type="listing", target_id=listing.pk, reason="scam")
    return listing


def taken_down_listing():
    listing = ListingFactory()
    listing.status, listing.taken_down_at, listing.moderation_reason = "archived", "2026-01-01T00:00Z", "x"
    listing.save(update_fields=["status", "taken_down_at", "moderation_reason"])
    return listing


def pending_listing():
    listing = ListingFactory(status="pending", published_at=None)
    return listing


@dataclass(frozen=True)
class Action:
    name: str
    url: Callable  # () -> (url, check) where check() says whether the action happened
    allowed: frozenset[str]


def _act(target_type, make, action, done):
    def build():
        obj = make()
        return act_url(target_type, obj, action), lambda: done(obj)

    return build


def _reload(obj):
    return type(obj).objects.get(pk=obj.pk)


MODERATOR = frozenset({"Moderator"})
ACTIONS = [
    Action(
        "take_down",
        _act("listing", reported_listing, "take_down", lambda o: _reload(o).status == "archived"),
        MODERATOR,
    ),
    Action(
        "restore",
        _act("listing", taken_down_listing, "restore", lambda o: _reload(o).status == "active"),
        MODERATOR,
    ),
    Action(
        "approve",
        _act("listing", pending_listing, "approve", lambda o: _reload(o).status == "active"),
        MODERATOR,
    ),
    Action(
        "decline",
        _act("listing", pending_listing, "decline", lambda o: _reload(o).status == "draft"),
        MODERATOR,
    ),
    Action(
        "review_remove",
        _act("review", ReviewFactory, "remove", lambda o: _reload(o).status == "removed"),
        MODERATOR,
    ),
    Action(
        "conversation_spam",
        _act("message", MessageFactory, "spam", lambda o: _reload(o.conversation).status == "spam"),
        MODERATOR,
    ),
    Action(
        "suspend",
        _act("user", UserFactory, "suspend", lambda o: _reload(o).account_status == AccountStatus.SUSPENDED),
        MODERATOR,
    ),
    Action(
        "ban",
        _act("user", UserFactory, "ban", lambda o: _reload(o).account_status == AccountStatus.BANNED),
        MODERATOR,
    ),
    Action(
        "verify_seller",
        _act("user", UserFactory, "verify_seller", lambda o: _reload(o).seller_verified_at is not None),
        MODERATOR,
    ),
    Action(
        "resolve_no_action",
        _act(
            "listing",
            reported_listing,
            "no_action",
            lambda o: not Report.objects.filter(listing=o, status="open").exists(),
        ),
        frozenset({"Support", "Moderator"}),
    ),
]


@pytest.mark.parametrize("group", [*GROUPS, None])
@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.name)
def test_each_action_for_each_group(action, group):
    url, happened = action.url()
    client = Client()
    client.force_login(staff_in(group))
    page = client.get(url)
    response = client.post(url, {"reason": "Walking the permissions.", "resolve": "on"})
    if group in action.allowed:
        assert page.status_code == 200
        assert response.status_code == 302, response.content.decode()[:2000]
        assert happened()
        assert AuditEntry.objects.filter(reason="Walking the permissions.").exists()
    else:
        assert page.status_code == 403
        assert response.status_code == 403
        assert not happened()
        assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.name)
def test_non_staff_are_sent_to_the_admin_login(action):
    url, happened = action.url()
    client = Client()
    client.force_login(UserFactory())
    response = client.post(url, {"reason": "Let me in."})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert not happened()


# --- Changelist actions of each app's admin, by group ------------------------------------------
CHANGELIST_ACTIONS = [
    ("listings", "listing", "take_down_listings", MODERATOR),
    ("listings", "listing", "approve_listings", MODERATOR),
    ("accounts", "user", "ban_users", MODERATOR),
    ("accounts", "user", "grant_kyc_verified", MODERATOR),
    ("reviews", "review", "remove_reviews", MODERATOR),
    ("messaging", "conversation", "mark_spam", MODERATOR),
    ("messaging", "conversationreport", "confirm_spam", MODERATOR),
    ("payments", "transaction", "refund_in_full", frozenset({"Finance"})),
    ("payments", "transaction", "release_held_payouts", frozenset({"Finance"})),
]


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize(("app", "model", "action", "allowed"), CHANGELIST_ACTIONS, ids=lambda v: str(v))
def test_changelist_offers_an_action_only_to_its_group(app, model, action, allowed, group):
    client = Client()
    client.force_login(staff_in(group))
    response = client.get(reverse(f"admin:{app}_{model}_changelist"))
    assert response.status_code == 200  # every group reads everything
    form = response.context["action_form"]
    offered = form is not None and action in dict(form.fields["action"].choices)
    assert offered == (group in allowed)


@pytest.mark.parametrize("group", [*GROUPS, None])
def test_dashboard_and_audit_log_for_every_group_only(group):
    client = Client()
    client.force_login(staff_in(group))
    expected = 200 if group else 403
    assert client.get(reverse("staff_dashboard")).status_code == expected
    assert client.get(reverse("admin:marketplace_auditentry_changelist")).status_code == expected
    assert client.get(reverse("admin:moderation_report_queue")).status_code == expected


def test_the_groups_exist_with_their_own_permissions():
    ensure_groups()
    def perms(name):
        return set(
            Group.objects.get(name=name)
            .permissions.filter(~Q(codename__startswith="view_") | Q(codename="view_staff_dashboard"))
            .values_list("content_type__app_label", "codename")
        )

    assert perms("Support") == {("marketplace", "view_staff_dashboard"), ("moderation", "resolve_report")}
    assert ("listings", "moderate_listing") in perms("Moderator")
    assert ("payments", "refund_transaction") in perms("Finance")
    assert ("payments", "refund_transaction") not in perms("Moderator")
    assert ("listings", "moderate_listing") not in perms("Support") | perms("Finance")


def test_the_groups_migration_leaves_the_app_registry_as_it_found_it(db):
    """Run with the real registry (as ``ensure_groups`` does after a flush), it must not clear
    the apps' ``models_module``: post_migrate would then skip creating permissions after every
    later flush, and staff would silently lose theirs."""
    import importlib

    from django.apps import apps

    before = {config.label: config.models_module for config in apps.get_app_configs()}
    importlib.import_module("moderation.migrations.0002_staff_groups").create_groups(apps, None)
    assert {config.label: config.models_module for config in apps.get_app_configs()} == before
