"""The Django admin: every model registered, fixed query counts, trigger-kept columns safe."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.db.models import F, Model
from django.urls import reverse
from django.utils import timezone

from accounts.admin import UserAdmin
from accounts.models import AccountStatus, AccountStatusChange, User
from alerts.models import Follow, SavedSearch, SavedSearchMatch, Watermark
from analytics.models import Event
from listings.models import Category, Favorite, Listing
from marketplace.audit import audit_record
from marketplace.models import AuditEntry, QueuedJob
from messaging.admin import INLINE_MESSAGES
from messaging.models import Conversation, ConversationArchive, ConversationReport, Message, UserBlock
from moderation.models import Report
from notifications.models import MessageEmail, Notification, NotificationPreference
from offers.models import Offer, OfferFloor
from payments.models import LedgerEntry, StaffDecision, StripeEvent, Transaction
from reviews.models import Review, ReviewFlag, ReviewModeration
from tests.factories import (
    CategoryFactory,
    ConversationFactory,
    EventFactory,
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

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sessions_in_signed_cookies(settings):
    """Keep admin logins out of Redis for these tests.

    The shared conftest empties the test cache with ``cache.clear()``, which is FLUSHDB on
    the one Redis database every concurrent test run shares: another run on this machine
    would log the admin out in the middle of a test. Sessions are not what is tested here.
    """
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"


# Registered models outside APPS that have a case: the job queue's jobs (marketplace/admin.py).
EXTRA_MODELS = {QueuedJob}
APPS = (
    "accounts",
    "listings",
    "payments",
    "reviews",
    "messaging",
    "notifications",
    "analytics",
    "privacy",
    "marketplace",  # the audit log (issue 15)
    "moderation",
    "offers",
    "alerts",
)


@dataclass(frozen=True)
class Case:
    model: type[Model]
    make: Callable[[], Model]
    # A row whose searchable text is unique, and the search that finds it alone.
    needle: Callable[[], Model]
    query: str
    # Queries of the changelist page, whatever the number of rows: the logged-in user, the
    # count, the page, and whatever the date hierarchy and related filters need.
    changelist_queries: int
    addable: bool


def stripe_event_row(event_id: str | None = None) -> StripeEvent:
    event_id = event_id or f"evt_{StripeEvent.objects.count()}_{timezone.now().timestamp()}"
    return StripeEvent.objects.create(
        event_id=event_id, type="account.updated", object_id="acct_1", created=timezone.now(), payload={}
    )


def review_flag_row(text: str = "Rude.") -> ReviewFlag:
    return ReviewFlag.objects.create(
        review=ReviewFactory(), member=UserFactory(), reason="offensive", text=text
    )


def review_moderation_row(reason: str = "Abusive.") -> ReviewModeration:
    return ReviewModeration.objects.create(
        review=ReviewFactory(), actor=UserFactory(is_staff=True), action="remove", reason=reason
    )


def status_change_row(reason: str = "Spam listings.") -> AccountStatusChange:
    return AccountStatusChange.objects.create(
        user=UserFactory(),
        actor=UserFactory(is_staff=True),
        from_status=AccountStatus.ACTIVE,
        to_status=AccountStatus.SUSPENDED,
        reason=reason,
    )


def offer_row(title: str | None = None):
    from offers.services import offer_make

    listing = ListingFactory(pricing_type="negotiable", **({"title": title} if title else {}))
    return offer_make(listing=listing, buyer=UserFactory(), amount_cents=5_000)


def offer_floor_row(title: str | None = None):
    from offers.models import OfferFloor

    listing = ListingFactory(pricing_type="negotiable", **({"title": title} if title else {}))
    return OfferFloor.objects.create(listing=listing, floor_cents=1_000)


def saved_search_row(name: str = "Desks"):
    from alerts.services import saved_search_create

    params = {"q": f"desk {SavedSearch.objects.count()}"}
    return saved_search_create(user=UserFactory(), params=params, name=name)


def saved_search_match_row(name: str = "Desks"):
    return SavedSearchMatch.objects.create(saved_search=saved_search_row(name), listing=ListingFactory())


def follow_row(email: str | None = None):
    return Follow.objects.create(
        follower=UserFactory(**({"email": email} if email else {})), seller=UserFactory(is_seller=True)
    )


def watermark_row(name: str | None = None):
    return Watermark.objects.create(name=name or f"job-{Watermark.objects.count()}", at=timezone.now())


def conversation_report_row(note: str = "Sells fake watches.") -> ConversationReport:
    conversation = ConversationFactory()
    return ConversationReport.objects.create(
        conversation=conversation, reporter=conversation.buyer, reported=conversation.seller, note=note
    )


def conversation_archive_row(email: str | None = None) -> ConversationArchive:
    conversation = ConversationFactory(**({"buyer__email": email} if email else {}))
    return ConversationArchive.objects.create(
        conversation=conversation, user=conversation.buyer, archived_at=timezone.now()
    )


def user_block_row(email: str | None = None) -> UserBlock:
    return UserBlock.objects.create(
        blocker=UserFactory(**({"email": email} if email else {})), blocked=UserFactory()
    )


def staff_decision_row(reason: str = "Buyer never received it.") -> StaffDecision:
    return StaffDecision.objects.create(
        transaction=TransactionFactory(),
        actor=UserFactory(is_staff=True),
        kind=StaffDecision.Kind.REFUND,
        amount_cents=100,
        reason=reason,
    )


def notification_preference_row(email: str | None = None) -> NotificationPreference:
    user = UserFactory(**({"email": email} if email else {}))
    return NotificationPreference.objects.create(
        user=user, type="payout_sent", channel="email", enabled=False
    )


def data_export_row(email: str | None = None):
    from privacy.models import DataExport

    return DataExport.objects.create(user=UserFactory(**({"email": email} if email else {})))


def job_row(to: str = "someone@example.com") -> QueuedJob:
    from marketplace.tasks import send_email

    job_id = send_email.defer(to=to, subject="Hello", text="Your link: https://example.com/secret")
    return QueuedJob.objects.get(pk=job_id)


def message_email_row(email: str | None = None) -> MessageEmail:
    return MessageEmail.objects.create(
        message=MessageFactory(), recipient=UserFactory(**({"email": email} if email else {})), mailed=True
    )



def audit_entry_row(reason: str = "Counterfeit.") -> AuditEntry:
    return audit_record(
        actor=UserFactory(is_staff=True), action="listings.take_down", target=ListingFactory(), reason=reason
    )


def report_row(text: str = "Fake.") -> Report:
    listing = ListingFactory()
    return Report.objects.create(
        reporter=UserFactory(),
        target_type="listing",
        object_key=f"listing:{listing.pk}",
        listing=listing,
        owner=listing.seller,
        reason="scam",
        text=text,
    )

CASES = [
    Case(
        QueuedJob,
        make=job_row,
        needle=lambda: job_row("needle.recipient@example.com"),
        query="needle.recipient@example.com",
        changelist_queries=7,  # session user, count, full count, page, events, task and queue names
        addable=False,
    ),
    Case(
        apps.get_model("privacy", "DataExport"),
        make=data_export_row,
        needle=lambda: data_export_row("needle.exporter@example.com"),
        query="needle.exporter@example.com",
        changelist_queries=5,  # session user, count, page (user joined), date hierarchy min/max and dates
        addable=False,
    ),
    Case(
        StaffDecision,
        make=staff_decision_row,
        needle=lambda: staff_decision_row("Refunded a needle sold as a sword."),
        query="sword",
        changelist_queries=5,  # session user, count, page (joined), date hierarchy min/max and its dates
        addable=False,
    ),
    Case(
        AccountStatusChange,
        make=status_change_row,
        needle=lambda: status_change_row("Sold a needle as a sword."),
        query="sword",
        changelist_queries=4,  # session user, count, full count, page (user and actor joined)
        addable=False,
    ),
    Case(
        User,
        make=lambda: UserFactory(),
        needle=lambda: UserFactory(email="needle.person@example.com"),
        query="needle.person",
        changelist_queries=4,  # session user, groups filter, count, page
        addable=True,
    ),
    Case(
        Category,
        make=lambda: CategoryFactory(parent=CategoryFactory()),
        needle=lambda: CategoryFactory(name="Needlework"),
        query="needlework",
        changelist_queries=5,  # session user, parents filter, count, full count, page
        addable=True,
    ),
    Case(
        Listing,
        make=lambda: ListingFactory(),
        needle=lambda: ListingFactory(title="Needle-felted owl"),
        query="needle-felted",
        changelist_queries=4,  # session user, category filter, count, page
        addable=True,
    ),
    Case(
        Favorite,
        make=lambda: FavoriteFactory(),
        needle=lambda: FavoriteFactory(user__email="needle@example.com"),
        query="NEEDLE@example.com",
        changelist_queries=3,  # session user, count, page
        addable=True,
    ),
    Case(
        Transaction,
        make=lambda: TransactionFactory(),
        needle=lambda: TransactionFactory(payment_intent_id="pi_needle"),
        query="pi_needle",
        changelist_queries=5,  # session user, count, page, date hierarchy min/max and its dates
        addable=False,
    ),
    Case(
        LedgerEntry,
        make=lambda: LedgerEntryFactory(),
        needle=lambda: LedgerEntryFactory(external_id="ch_needle"),
        query="ch_needle",
        changelist_queries=5,  # session user, count, page, date hierarchy min/max and its dates
        addable=False,
    ),
    Case(
        Review,
        make=lambda: ReviewFactory(),
        needle=lambda: ReviewFactory(title="Sharp as a needle"),
        query="needle",
        changelist_queries=5,  # session user, count, page, date hierarchy min/max and its dates
        addable=False,
    ),
    Case(
        ReviewFlag,
        make=lambda: review_flag_row(),
        needle=lambda: review_flag_row("A needle of a remark"),
        query="needle",
        changelist_queries=3,  # session user, count, page
        addable=False,
    ),
    Case(
        ReviewModeration,
        make=lambda: review_moderation_row(),
        needle=lambda: review_moderation_row("Needle-sharp insults"),
        query="needle",
        changelist_queries=3,  # session user, count, page
        addable=False,
    ),
    Case(
        Conversation,
        make=lambda: ConversationFactory(),
        needle=lambda: ConversationFactory(subject="Needle question"),
        query="needle",
        changelist_queries=3,  # session user, count, page
        addable=False,
    ),
    Case(
        Message,
        make=lambda: MessageFactory(),
        needle=lambda: MessageFactory(message="Any needle in this haystack?"),
        query="haystack",
        changelist_queries=3,  # session user, count, page
        addable=False,
    ),
    Case(
        Offer,
        make=offer_row,
        needle=lambda: offer_row("Haystack sideboard"),
        query="Haystack",
        changelist_queries=3,  # session user, page (no full count), listing/buyer/seller joined
        addable=False,
    ),
    Case(
        OfferFloor,
        make=offer_floor_row,
        needle=lambda: offer_floor_row("Haystack chest"),
        query="Haystack",
        changelist_queries=4,  # session user, count, full count or the filter's values, page
        addable=False,
    ),
    Case(
        SavedSearch,
        make=saved_search_row,
        needle=lambda: saved_search_row("Haystack alert"),
        query="Haystack",
        changelist_queries=4,  # session user, count, full count or the filter's values, page
        addable=False,
    ),
    Case(
        SavedSearchMatch,
        make=saved_search_match_row,
        needle=lambda: saved_search_match_row("Haystack match"),
        query="Haystack",
        changelist_queries=3,
        addable=False,
    ),
    Case(
        Follow,
        make=follow_row,
        needle=lambda: follow_row("needle.follower@example.com"),
        query="needle.follower@example.com",
        changelist_queries=4,  # session user, count, full count or the filter's values, page
        addable=False,
    ),
    Case(
        Watermark,
        make=watermark_row,
        needle=lambda: watermark_row("haystack-job"),
        query="haystack",
        changelist_queries=4,  # session user, count, full count or the filter's values, page
        addable=False,
    ),
    Case(
        ConversationReport,
        make=conversation_report_row,
        needle=lambda: conversation_report_row("A needle in the haystack."),
        query="haystack",
        changelist_queries=3,  # session user, count, page (reporter, reported, conversation joined)
        addable=False,
    ),
    Case(
        UserBlock,
        make=user_block_row,
        needle=lambda: user_block_row("needle.blocker@example.com"),
        query="needle.blocker@example.com",
        changelist_queries=3,  # session user, count, page
        addable=False,
    ),
    Case(
        ConversationArchive,
        make=conversation_archive_row,
        needle=lambda: conversation_archive_row("needle.archiver@example.com"),
        query="needle.archiver@example.com",
        changelist_queries=3,  # session user, count, page
        addable=False,
    ),
    Case(
        Notification,
        make=lambda: NotificationFactory(),
        needle=lambda: NotificationFactory(title="Needle alert"),
        query="needle",
        changelist_queries=3,  # session user, count, page
        addable=True,
    ),
    Case(
        NotificationPreference,
        make=notification_preference_row,
        needle=lambda: notification_preference_row("needle.chooser@example.com"),
        query="needle.chooser@example.com",
        changelist_queries=3,  # session user, count, page (user joined)
        addable=False,
    ),
    Case(
        MessageEmail,
        make=message_email_row,
        needle=lambda: message_email_row("needle.recipient@example.com"),
        query="needle.recipient@example.com",
        changelist_queries=3,  # session user, count, page (message and recipient joined)
        addable=False,
    ),
    Case(
        Event,
        make=lambda: EventFactory(user=UserFactory()),
        needle=lambda: EventFactory(event_name="needle_clicked"),
        query="needle_clicked",
        changelist_queries=3,  # session user, count, page
        addable=False,
    ),
    Case(
        StripeEvent,
        make=stripe_event_row,
        needle=lambda: stripe_event_row("evt_needle"),
        query="evt_needle",
        changelist_queries=7,  # session user, type filter, count, full count, page, date hierarchy (2)
        addable=False,
    ),
    Case(
        AuditEntry,
        make=audit_entry_row,
        needle=lambda: audit_entry_row("Took down a needle sold as a sword."),
        query="sword",
        changelist_queries=3,  # session user, count (estimated: one query either way), page
        addable=False,
    ),
    Case(
        Report,
        make=report_row,
        needle=lambda: report_row("A needle in the haystack."),
        query="haystack",
        changelist_queries=3,  # session user, count, page (owner and reporter joined)
        addable=False,
    ),
]


def case_id(case: Case) -> str:
    return case.model._meta.label


def admin_url(model: type[Model], view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def form_data(form: forms.BaseForm) -> dict:
    """What the browser would post back for ``form`` as rendered (unbound: its initial values)."""
    data = {}
    for name, field in form.fields.items():
        if field.disabled or isinstance(field.widget, forms.ClearableFileInput):
            continue
        value = form[name].value()
        if isinstance(field.widget, forms.SplitDateTimeWidget):
            for index, part in enumerate(field.widget.decompress(value)):
                data[f"{name}_{index}"] = "" if part is None else str(part)
        elif isinstance(field.widget, forms.CheckboxInput):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(item) for item in value]
        else:
            data[name] = "" if value is None else str(value)
    return data


def test_every_model_is_registered():
    models = {model for label in APPS for model in apps.get_app_config(label).get_models()}
    models |= EXTRA_MODELS
    assert {model for model in models if not admin.site.is_registered(model)} == set()
    assert {case.model for case in CASES} == models


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_changelist_query_count_does_not_grow_with_rows(case, admin_client, django_assert_max_num_queries):
    url = admin_url(case.model, "changelist")
    for _ in range(3):
        case.make()
    admin_client.get(url)  # warm process-wide caches (content types) so only the page is counted
    with django_assert_max_num_queries(case.changelist_queries) as few:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 3

    for _ in range(8):
        case.make()
    with django_assert_max_num_queries(case.changelist_queries) as many:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 11
    assert len(many) == len(few)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_search_finds_the_row(case, admin_client):
    case.make()
    case.make()
    needle = case.needle()

    response = admin_client.get(admin_url(case.model, "changelist"), {"q": case.query})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [needle]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_filter_choice_loads(case, admin_client):
    for _ in range(3):
        case.make()
    url = admin_url(case.model, "changelist")
    changelist = admin_client.get(url).context["cl"]
    everything = set(changelist.result_list)
    assert changelist.filter_specs, "every changelist has filters"

    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            if choice["selected"]:
                continue  # "All": the page already loaded
            response = admin_client.get(url + choice["query_string"])
            # A bad lookup redirects to ?e=1; a disallowed one answers 400.
            assert response.status_code == 200, (spec.title, choice["query_string"])
            assert set(response.context["cl"].result_list) <= everything


@pytest.mark.parametrize(
    "case", [case for case in CASES if admin.site.get_model_admin(case.model).date_hierarchy], ids=case_id
)
def test_date_hierarchy_drills_down_to_the_day(case, admin_client):
    rows = [case.make() for _ in range(3)]
    field = admin.site.get_model_admin(case.model).date_hierarchy
    now = timezone.localtime()
    url = admin_url(case.model, "changelist")

    for params in (
        {f"{field}__year": now.year},
        {f"{field}__year": now.year, f"{field}__month": now.month},
        {f"{field}__year": now.year, f"{field}__month": now.month, f"{field}__day": now.day},
    ):
        response = admin_client.get(url, params)
        assert response.status_code == 200
        assert set(response.context["cl"].result_list) == set(rows)
    last_year = admin_client.get(url, {f"{field}__year": now.year - 1})
    assert list(last_year.context["cl"].result_list) == []


def child_and_parent_categories() -> list[Category]:
    parent = CategoryFactory()
    return [CategoryFactory(parent=parent), parent]


# (model, rows to make: the first one must be the only match, the query string)
FILTERED = [
    pytest.param(
        User,
        lambda: [UserFactory(account_status="suspended"), UserFactory()],
        {"account_status__exact": "suspended"},
        id="user-status",
    ),
    pytest.param(
        User,
        lambda: [UserFactory(email_verified_at=None), UserFactory()],
        {"email_verified_at__isempty": "1"},
        id="user-unverified",
    ),
    pytest.param(
        Category, child_and_parent_categories, {"parent__id__exact": "{1.pk}"}, id="category-parent"
    ),
    pytest.param(
        Listing,
        lambda: [ListingFactory(status="draft", published_at=None), ListingFactory()],
        {"status__exact": "draft"},
        id="listing-status",
    ),
    pytest.param(
        Listing,
        lambda: [ListingFactory(currency="EUR"), ListingFactory()],
        {"currency": "EUR"},
        id="listing-currency",
    ),
    pytest.param(
        Favorite,
        lambda: [FavoriteFactory(), FavoriteFactory(created_at=timezone.now() - timedelta(days=30))],
        {"created_at__gte": "{today}", "created_at__lt": "{tomorrow}"},
        id="favorite-date",
    ),
    pytest.param(
        Transaction,
        lambda: [TransactionFactory(status="processing", completed_at=None), TransactionFactory()],
        {"status__exact": "processing"},
        id="transaction-status",
    ),
    pytest.param(
        Review, lambda: [ReviewFactory(rating=2), ReviewFactory()], {"rating": "2"}, id="review-rating"
    ),
    pytest.param(
        Conversation,
        lambda: [ConversationFactory(listing=None), ConversationFactory()],
        {"listing__isempty": "1"},
        id="conversation-without-listing",
    ),
    pytest.param(
        Message,
        lambda: [MessageFactory(read_at=timezone.now()), MessageFactory()],
        {"read_at__isempty": "0"},
        id="message-read",
    ),
    pytest.param(
        Notification,
        lambda: [NotificationFactory(type="listing_sold"), NotificationFactory()],
        {"type__exact": "listing_sold"},
        id="notification-type",
    ),
    pytest.param(
        Event,
        lambda: [EventFactory(), EventFactory(created_at=timezone.now() - timedelta(days=30))],
        {"created_at__gte": "{today}", "created_at__lt": "{tomorrow}"},
        id="event-date",
    ),
]


@pytest.mark.parametrize(("model", "make", "params"), FILTERED)
def test_filter_narrows_the_list(model, make, params, admin_client):
    rows = make()
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    query = {
        key: value.format(*rows, today=today, tomorrow=today + timedelta(days=1))
        for key, value in params.items()
    }

    response = admin_client.get(admin_url(model, "changelist"), query)

    assert response.status_code == 200
    result = [row for row in response.context["cl"].result_list if row in rows]
    assert result == rows[:1]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_change_page_loads(case, admin_client):
    obj = case.make()

    response = admin_client.get(admin_url(case.model, "change", obj.pk))

    assert response.status_code == 200


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_add_page_loads_where_adding_is_allowed(case, admin_client):
    response = admin_client.get(admin_url(case.model, "add"))

    assert response.status_code == (200 if case.addable else 403)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_database_kept_columns_are_never_form_fields(case, admin_client):
    obj = case.make()
    kept = {"created_at", "updated_at", *getattr(case.model, "trigger_managed_fields", ())}

    response = admin_client.get(admin_url(case.model, "change", obj.pk))

    assert set(response.context["adminform"].form.fields) & kept == set()


def test_trigger_managed_fields_are_declared_read_only():
    for model in (User, Listing, Conversation):
        readonly = admin.site.get_model_admin(model).readonly_fields
        assert set(model.trigger_managed_fields) <= set(readonly), model


def test_event_admin_is_read_only_and_newest_first(admin_client):
    old = EventFactory(created_at=timezone.now() - timedelta(days=3))
    new = EventFactory()

    response = admin_client.get(admin_url(Event, "changelist"))

    assert list(response.context["cl"].result_list) == [new, old]
    assert response.context["has_add_permission"] is False
    assert admin_client.post(admin_url(Event, "delete", old.pk), {"post": "yes"}).status_code == 403
    change = admin_client.get(admin_url(Event, "change", old.pk))
    assert change.status_code == 200
    assert change.context["adminform"].form.fields == {}
    assert Event.objects.count() == 2


def test_conversation_shows_only_the_newest_messages_read_only(admin_client):
    conversation = ConversationFactory()
    start = timezone.now() - timedelta(hours=1)
    messages = [
        MessageFactory(
            conversation=conversation, message=f"Message {n}", created_at=start + timedelta(minutes=n)
        )
        for n in range(INLINE_MESSAGES + 5)
    ]

    response = admin_client.get(admin_url(Conversation, "change", conversation.pk))

    assert response.status_code == 200
    (formset,) = response.context["inline_admin_formsets"]
    shown = [form.original for form in formset]
    assert shown == list(reversed(messages))[:INLINE_MESSAGES]
    assert formset.has_add_permission is False
    assert formset.has_change_permission is False
    thread = admin_client.get(admin_url(Message, "changelist"), {"conversation": conversation.pk})
    assert len(thread.context["cl"].result_list) == INLINE_MESSAGES + 5


def test_conversation_page_query_count_does_not_grow_with_messages(
    admin_client, django_assert_max_num_queries
):
    conversation = ConversationFactory()
    url = admin_url(Conversation, "change", conversation.pk)
    MessageFactory.create_batch(3, conversation=conversation)
    admin_client.get(url)  # warm the process-wide content type cache
    # session user, conversation, newest messages with senders, listing, buyer, seller
    with django_assert_max_num_queries(6) as few:
        assert admin_client.get(url).status_code == 200

    MessageFactory.create_batch(INLINE_MESSAGES, conversation=conversation)
    with django_assert_max_num_queries(6) as many:
        assert admin_client.get(url).status_code == 200
    assert len(many) == len(few)


@pytest.mark.parametrize(
    ("model", "field", "make_target", "term"),
    [
        (Listing, "seller", lambda: SellerFactory(email="needle.seller@example.com"), "needle.seller"),
        (Favorite, "user", lambda: UserFactory(email="needle.fan@example.com"), "needle.fan"),
        (Favorite, "listing", lambda: ListingFactory(title="Needle-felted fox"), "needle-felted"),
        (Notification, "user", lambda: UserFactory(email="needle.reader@example.com"), "needle.reader"),
    ],
    ids=["listing-seller", "favorite-user", "favorite-listing", "notification-user"],
)
def test_autocomplete_finds_big_table_rows(model, field, make_target, term, admin_client):
    assert field in admin.site.get_model_admin(model).autocomplete_fields
    UserFactory()
    target = make_target()

    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": model._meta.app_label,
            "model_name": model._meta.model_name,
            "field_name": field,
            "term": term,
        },
    )

    assert response.status_code == 200
    assert [result["id"] for result in response.json()["results"]] == [str(target.pk)]


def test_admin_adds_a_category_under_a_parent(admin_client):
    parent = CategoryFactory(name="Furniture")

    response = admin_client.post(
        admin_url(Category, "add"),
        {
            "name": "Desks",
            "slug": "desks",
            "parent": parent.pk,
            "icon": "",
            "sort_order": "2",
            "attribute_schema": "[]",
        },
    )

    assert response.status_code == 302
    assert Category.objects.get(slug="desks").parent == parent


def test_admin_refuses_an_invalid_attribute_schema(admin_client):
    response = admin_client.post(
        admin_url(Category, "add"),
        {"name": "Desks", "slug": "desks", "sort_order": "0", "attribute_schema": '[{"key": "Width"}]'},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Category.objects.filter(slug="desks").exists()


def test_admin_adds_a_draft_listing(admin_client):
    seller = SellerFactory()
    category = CategoryFactory()
    form = admin_client.get(admin_url(Listing, "add")).context["adminform"].form
    data = form_data(form)
    data.update(
        seller=str(seller.pk),
        category=str(category.pk),
        title="Oak desk",
        slug="oak-desk",
        description="Solid oak.",
        price_cents="25000",
        currency="EUR",
    )

    response = admin_client.post(admin_url(Listing, "add"), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    listing = Listing.objects.get(slug="oak-desk")
    assert (listing.seller, listing.status, listing.currency) == (seller, Listing.Status.DRAFT, "EUR")
    assert Listing.objects.filter(pk=listing.pk, search_vector="oak").exists()


@pytest.mark.parametrize("url", ["/admin/", "/admin/accounts/user/", "/admin/listings/listing/"])
def test_non_staff_user_is_sent_to_the_admin_login(client, url):
    client.force_login(UserFactory())

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_anonymous_visitor_is_sent_to_the_admin_login(client):
    response = client.get(admin_url(User, "changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def rate_seller_in_another_session(seller: User) -> None:
    """A completed sale and a 4-star review: triggers move the seller's counters in the database."""
    ReviewFactory(transaction__listing__seller=seller, rating=4)


def test_saving_a_user_keeps_ratings_changed_since_the_form_was_opened(admin_client):
    seller = SellerFactory(first_name="Old")
    url = admin_url(User, "change", seller.pk)
    form = admin_client.get(url).context["adminform"].form
    assert not set(User.trigger_managed_fields) & set(form.fields)

    rate_seller_in_another_session(seller)
    data = form_data(form)
    data["first_name"] = "New"
    # A forged post cannot write them either.
    data.update(seller_rating="1.00", seller_rating_sum="1", seller_rating_count="1", total_sales_count="0")
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    seller.refresh_from_db()
    assert seller.first_name == "New"
    assert (seller.seller_rating, seller.seller_rating_sum, seller.seller_rating_count) == (4, 4, 1)
    assert seller.total_sales_count == 1


def test_saving_a_user_keeps_ratings_changed_while_the_request_runs(admin_client, monkeypatch):
    """The row is read, then a review lands, then the admin saves its (stale) copy."""
    seller = SellerFactory()
    url = admin_url(User, "change", seller.pk)
    data = form_data(admin_client.get(url).context["adminform"].form)
    data["bio"] = "Edited by staff"
    save_model = UserAdmin.save_model

    def save_after_a_concurrent_review(self, request, obj, form, change):
        rate_seller_in_another_session(obj)
        save_model(self, request, obj, form, change)

    monkeypatch.setattr(UserAdmin, "save_model", save_after_a_concurrent_review)
    response = admin_client.post(url, data)

    assert response.status_code == 302
    seller.refresh_from_db()
    assert seller.bio == "Edited by staff"
    assert (seller.seller_rating_sum, seller.seller_rating_count, seller.total_sales_count) == (4, 1, 1)


def test_saving_a_listing_keeps_counters_changed_since_the_form_was_opened(admin_client):
    listing = ListingFactory()
    url = admin_url(Listing, "change", listing.pk)
    form = admin_client.get(url).context["adminform"].form
    assert not set(Listing.trigger_managed_fields) & set(form.fields)

    FavoriteFactory(listing=listing)
    Listing.objects.filter(pk=listing.pk).update(view_count=F("view_count") + 7)
    data = form_data(form)
    data["title"] = "Renamed by staff"
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    listing.refresh_from_db()
    assert listing.title == "Renamed by staff"
    assert (listing.favorite_count, listing.view_count) == (1, 7)
    assert Listing.objects.filter(pk=listing.pk, search_vector="renamed").exists()


def test_admin_creates_a_user_from_email_and_password(admin_client):
    response = admin_client.post(
        admin_url(User, "add"),
        {
            "email": "New.Person@Example.COM",
            "usable_password": "true",
            "password1": "plum-orchard-lantern-42",
            "password2": "plum-orchard-lantern-42",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(email__iexact="new.person@example.com")
    assert user.email == "New.Person@example.com"  # the domain is normalised, the local part kept
    assert user.check_password("plum-orchard-lantern-42")
    assert not user.is_staff
    assert not user.is_superuser


def test_admin_refuses_an_email_that_differs_only_in_case(admin_client):
    UserFactory(email="foo@example.com")

    response = admin_client.post(
        admin_url(User, "add"),
        {
            "email": "Foo@Example.com",
            "usable_password": "true",
            "password1": "plum-orchard-lantern-42",
            "password2": "plum-orchard-lantern-42",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [
        "A user with this email address already exists."
    ]
    assert User.objects.filter(email__iexact="foo@example.com").count() == 1


def test_admin_refuses_changing_an_email_to_another_users_in_other_case(admin_client):
    UserFactory(email="taken@example.com")
    user = UserFactory(email="mine@example.com")
    url = admin_url(User, "change", user.pk)
    data = form_data(admin_client.get(url).context["adminform"].form)
    data["email"] = "TAKEN@example.com"

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.email == "mine@example.com"


def test_user_password_change_page_loads(admin_client):
    user = UserFactory()

    response = admin_client.get(reverse("admin:auth_user_password_change", args=[user.pk]))

    assert response.status_code == 200
