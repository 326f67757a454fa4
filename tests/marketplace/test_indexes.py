"""The hot queries use the index built for them, on enough rows that the planner cares.

One module-level data set (tens of thousands of listings, notifications and messages,
bulk-inserted with INSERT ... SELECT generate_series, then ANALYZE) serves every test. It
lives in an outer transaction around the module's tests and is rolled back at the end.
"""

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection, transaction
from django.db.models import F, Q
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from listings.models import Listing
from listings.search import SearchForm, run_search
from listings.selectors import featured_listings, newest_listings, public_listings
from messaging.models import Conversation, Message
from notifications.models import Notification

pytestmark = pytest.mark.django_db

TAG = "idxbulk"
N_SELLERS = 200
N_BUYERS = 400
N_CATEGORIES = 20
N_LISTINGS = 20_000
N_CONVERSATIONS = 1_500
MESSAGES_PER_CONVERSATION = 8
NOTIFICATIONS_PER_USER = 40

CATEGORY_SCHEMA = json.dumps(
    [
        {
            "key": "material",
            "label": "Material",
            "type": "enum",
            "options": ["Walnut", "Oak", "Pine", "Steel", "Glass", "Plastic", "Fabric", "Leather", "Teak"],
        },
        {"key": "width", "label": "Width", "type": "number", "unit": "in"},
    ]
)

# Every 200th listing is walnut (0.5%): a selective attribute filter, as most are.
# Words that occur in about 2% of titles each, so a two-word search matches a handful.
BULK_SQL = f"""
INSERT INTO accounts_user (
    id, password, is_superuser, email, first_name, last_name, avatar, bio, is_seller, is_staff,
    is_active, total_sales_count, seller_rating_sum, seller_rating_count, buyer_rating_sum,
    buyer_rating_count, phone_number, account_status, email_verified_at)
SELECT gen_random_uuid(), '!', false, '{TAG}-' || i || '@example.com', 'Bulk', 'User ' || i, '', '',
       i <= {N_SELLERS}, false, true, 0, 0, 0, 0, 0, '', 'active', now()
FROM generate_series(1, {N_SELLERS + N_BUYERS}) AS i;

CREATE TEMP TABLE {TAG}_users ON COMMIT DROP AS
SELECT id, substring(email FROM '-([0-9]+)@')::int AS n
FROM accounts_user WHERE email LIKE '{TAG}-%';

INSERT INTO listings_category (id, name, slug, icon, sort_order, attribute_schema)
SELECT gen_random_uuid(), 'Bulk category ' || i, '{TAG}-category-' || i, '', i, '{CATEGORY_SCHEMA}'
FROM generate_series(1, {N_CATEGORIES}) AS i;

CREATE TEMP TABLE {TAG}_categories ON COMMIT DROP AS
SELECT id, sort_order AS n
FROM listings_category WHERE slug LIKE '{TAG}-%';

INSERT INTO listings_listing (
    id, seller_id, category_id, title, slug, description, price_cents, currency, pricing_type,
    attributes, images, videos, primary_image_url, location_country, location_city,
    location_lat, location_lng, status, visibility, share_token, featured, featured_until,
    meta_title, meta_description, view_count, favorite_count, inquiry_count,
    created_at, published_at, sold_at)
SELECT gen_random_uuid(), u.id, c.id,
       (ARRAY['Vintage', 'Modern', 'Rustic', 'Classic', 'Compact'])[i % 5 + 1] || ' '
           || (ARRAY['table', 'chair', 'lamp', 'desk', 'shelf', 'sofa', 'bed', 'mirror', 'rug',
                     'clock'])[i % 10 + 1] || ' number ' || i
           || CASE WHEN i % 53 = 0 THEN ' heirloom' ELSE '' END,
       '{TAG}-listing-' || i,
       'Well kept item ' || i || ', collected from a smoke-free home.'
           || CASE WHEN i % 47 = 0 THEN ' Hand-carved by a craftsman.' ELSE '' END,
       1000 + (i * 37) % 100000, 'USD', 'fixed',
       jsonb_build_object(
           'material', CASE WHEN i % 200 = 0 THEN 'Walnut'
                            ELSE (ARRAY['Oak', 'Pine', 'Steel', 'Glass', 'Plastic', 'Fabric',
                                        'Leather', 'Teak'])[i % 8 + 1]
                       END,
           'width', i % 120,
           'condition', CASE WHEN i % 3 = 0 THEN 'New' ELSE 'Used' END),
       '[]', '[]', '', 'US', '',
       CASE WHEN i % 10 < 7 THEN ((i * 7919) % 14000) / 100.0 - 70 END,
       CASE WHEN i % 10 < 7 THEN ((i * 104729) % 36000) / 100.0 - 180 END,
       CASE WHEN i % 20 = 0 THEN 'draft' WHEN i % 20 = 1 THEN 'sold' WHEN i % 20 = 2 THEN 'archived'
            ELSE 'active' END,
       CASE WHEN i % 10 = 9 THEN 'unlisted' ELSE 'public' END,
       '{TAG}-' || i,
       i % 250 = 0,
       CASE WHEN i % 250 = 0 THEN now() + ((i % 30) - 5) * interval '1 day' END,
       '', '', 0, 0, 0,
       now() - i * interval '1 minute',
       CASE WHEN i % 20 <> 0 THEN now() - i * interval '1 minute' END,
       CASE WHEN i % 20 = 1 THEN now() - i * interval '30 seconds' END
FROM generate_series(1::bigint, {N_LISTINGS}) AS i
JOIN {TAG}_users u ON u.n = i % {N_SELLERS} + 1
JOIN {TAG}_categories c ON c.n = i % {N_CATEGORIES} + 1;

INSERT INTO messaging_conversation (id, listing_id, buyer_id, seller_id, status, subject)
SELECT gen_random_uuid(), l.id, b.id, l.seller_id, 'active', 'About ' || l.title
FROM generate_series(1, {N_CONVERSATIONS}) AS i
JOIN listings_listing l ON l.slug = '{TAG}-listing-' || i
JOIN {TAG}_users b ON b.n = {N_SELLERS} + i % {N_BUYERS} + 1;

INSERT INTO messaging_message (id, conversation_id, sender_id, message, attachments, created_at)
SELECT gen_random_uuid(), c.id, CASE WHEN m % 2 = 0 THEN c.buyer_id ELSE c.seller_id END,
       'Message ' || m, '[]', c.created_at - ({MESSAGES_PER_CONVERSATION} - m) * interval '1 hour'
FROM messaging_conversation c
CROSS JOIN generate_series(1, {MESSAGES_PER_CONVERSATION}) AS m
JOIN listings_listing l ON l.id = c.listing_id AND l.slug LIKE '{TAG}-%';

-- Most notifications are read: the unread index holds about 5% of the rows.
INSERT INTO notifications_notification (
    id, user_id, type, title, message, link_url, link_text, metadata, read_at, created_at)
SELECT gen_random_uuid(), u.id, 'new_message', 'Notification ' || k, '', '', '', '{{}}',
       CASE WHEN k % 20 <> 0 THEN now() END, now() - k * interval '1 hour'
FROM {TAG}_users u CROSS JOIN generate_series(1, {NOTIFICATIONS_PER_USER}) AS k;
"""

ANALYZED_TABLES = (
    "accounts_user",
    "listings_category",
    "listings_listing",
    # Filled by listings' trigger from the bulk listings' number attributes; left to the
    # statistics of whatever rows an earlier test committed, its range estimate is anyone's guess.
    "listings_listing_number",
    "messaging_conversation",
    "messaging_message",
    "notifications_notification",
)


@dataclass(frozen=True)
class Bulk:
    seller_id: str
    buyer_id: str
    category_id: str
    conversation_id: str


def _load_bulk_data() -> Bulk:
    with connection.cursor() as cursor:
        cursor.execute(BULK_SQL)
        # Run the deferred foreign-key checks now, once: left pending, every test's teardown
        # (Django's check_constraints() inside a savepoint) would run them all again.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(f"ANALYZE {', '.join(ANALYZED_TABLES)}")
        cursor.execute(
            "SELECT (SELECT id FROM accounts_user WHERE email = %s),"
            " (SELECT id FROM accounts_user WHERE email = %s),"
            " (SELECT id FROM listings_category WHERE slug = %s),"
            " (SELECT id FROM messaging_conversation WHERE listing_id ="
            "     (SELECT id FROM listings_listing WHERE slug = %s))",
            [
                f"{TAG}-7@example.com",
                f"{TAG}-{N_SELLERS + 7}@example.com",
                f"{TAG}-category-3",
                f"{TAG}-listing-7",
            ],
        )
        return Bulk(*(str(value) for value in cursor.fetchone()))


@pytest.fixture(scope="module")
def bulk(django_db_setup, django_db_blocker):
    """Load once per module inside an outer transaction; each test runs in a savepoint of it.

    Rolling the outer transaction back at the end is the cleanup: nothing is committed, so
    no deferred foreign-key checks at commit and no row-by-row deletes through triggers.
    ANALYZE inside the transaction samples its own uncommitted rows, and the planner of
    this transaction sees those statistics.
    """
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            data = _load_bulk_data()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield data
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


def index_names(plan) -> set[str]:
    """Every "Index Name" anywhere in an EXPLAIN (FORMAT JSON) plan tree."""
    found = set()
    if isinstance(plan, list):
        for item in plan:
            found |= index_names(item)
    elif isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(plan["Index Name"])
        for key in ("Plan", "Plans"):
            if key in plan:
                found |= index_names(plan[key])
    return found


def orm_indexes(queryset) -> set[str]:
    return index_names(json.loads(queryset.explain(format="json")))


def sql_indexes(sql: str, params) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return index_names(json.loads(plan) if isinstance(plan, str) else plan)


# Both GIN indexes of searchable listings' words answer the words alone: (words, publication
# day) of listings migration 0014 and (words, category) of 0016. Which one the planner takes
# turns on each index's own statistics (GIN keeps them in its metapage, updated by VACUUM),
# so a test asks for either, never for a sequential scan or the plain btree indexes.
WORDS_INDEXES = frozenset({"listings_listing_search_day", "listing_search_category"})


def public_active():
    # What anyone may find, as the site asks for it: the partial search indexes hold only
    # these rows (not sold by a banned seller: listings migration 0015).
    return public_listings()


def test_bulk_data_is_there(bulk):
    assert Listing.objects.filter(slug__startswith=TAG).count() == N_LISTINGS
    assert Listing.objects.filter(seller_id=bulk.seller_id).count() == N_LISTINGS // N_SELLERS
    assert Listing.objects.filter(seller_id=bulk.buyer_id).count() == 0
    assert Listing.objects.filter(category_id=bulk.category_id).count() == N_LISTINGS // N_CATEGORIES
    assert Message.objects.filter(conversation_id=bulk.conversation_id).count() == MESSAGES_PER_CONVERSATION
    assert Conversation.objects.filter(buyer_id=bulk.buyer_id).count() > 1
    assert Notification.objects.filter(user_id=bulk.buyer_id, read_at__isnull=True).count() > 1


def test_plan_walker_finds_nested_index_names():
    plan = [
        {
            "Plan": {
                "Node Type": "Limit",
                "Plans": [
                    {
                        "Node Type": "Bitmap Heap Scan",
                        "Plans": [
                            {"Node Type": "BitmapOr", "Plans": [{"Index Name": "a"}, {"Index Name": "b"}]}
                        ],
                    }
                ],
            }
        }
    ]
    assert index_names(plan) == {"a", "b"}


def test_sellers_listings_newest_first(bulk):
    queryset = Listing.objects.filter(seller_id=bulk.seller_id).order_by("-created_at")[:20]
    assert "listing_seller_created" in orm_indexes(queryset)


def test_active_listings_of_a_category_newest_first(bulk):
    queryset = public_active().filter(category_id=bulk.category_id).order_by("-published_at")[:24]
    assert "listing_category_status_pub" in orm_indexes(queryset)


def test_newest_active_public_listings(bulk):
    queryset = public_active().order_by("-published_at")[:24]
    assert "listings_listing_active_newest" in orm_indexes(queryset)


def test_attribute_containment(bulk):
    queryset = (
        public_active().filter(attributes__contains={"material": "Walnut"}).order_by("-published_at")[:24]
    )
    assert "listings_listing_attributes" in orm_indexes(queryset)


def test_attribute_containment_really_matches(bulk):
    walnut = Listing.objects.filter(slug__startswith=TAG, attributes__contains={"material": "Walnut"})
    assert walnut.count() == N_LISTINGS // 200


def test_full_text_search(bulk):
    query = SearchQuery("vintage heirloom", search_type="websearch", config="english")
    queryset = (
        public_active()
        .filter(search_vector=query)
        .annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank", "-published_at")[:24]
    )
    assert WORDS_INDEXES & orm_indexes(queryset)
    assert queryset.count() > 0


RADIUS_SQL = """
    SELECT id, title, earth_distance(ll_to_earth(%(lat)s, %(lng)s),
                                     ll_to_earth(location_lat::float8, location_lng::float8)) AS distance
    FROM listings_listing
    WHERE status = 'active' AND visibility = 'public'
      AND earth_box(ll_to_earth(%(lat)s, %(lng)s), %(radius)s)
          @> ll_to_earth(location_lat::float8, location_lng::float8)
      AND earth_distance(ll_to_earth(%(lat)s, %(lng)s),
                         ll_to_earth(location_lat::float8, location_lng::float8)) <= %(radius)s
    ORDER BY distance
    LIMIT 24
"""


def test_radius_search(bulk):
    params = {"lat": 40.7128, "lng": -74.006, "radius": 200_000.0}
    assert "listings_listing_location" in sql_indexes(RADIUS_SQL, params)


def test_radius_search_finds_listings_inside_the_radius_only(bulk):
    params = {"lat": 40.7128, "lng": -74.006, "radius": 500_000.0}
    with connection.cursor() as cursor:
        cursor.execute(RADIUS_SQL, params)
        distances = [row[2] for row in cursor.fetchall()]
    assert distances
    assert max(distances) <= params["radius"]


def test_featured_listings(bulk):
    queryset = (
        public_active()
        .filter(featured=True, featured_until__gt=timezone.now())
        .order_by("featured_until")[:12]
    )
    assert "listings_listing_featured" in orm_indexes(queryset)


def test_unread_notifications_newest_first(bulk):
    queryset = Notification.objects.filter(user_id=bulk.buyer_id, read_at__isnull=True).order_by(
        "-created_at"
    )[:20]
    assert "notifications_user_unread" in orm_indexes(queryset)


def test_conversation_messages_in_order(bulk):
    queryset = Message.objects.filter(conversation_id=bulk.conversation_id).order_by("created_at", "id")[:50]
    assert "messaging_message_conv_created" in orm_indexes(queryset)


def test_conversation_messages_keyset_page(bulk):
    first = Message.objects.filter(conversation_id=bulk.conversation_id).order_by("created_at", "id").first()
    after_first = Q(created_at__gt=first.created_at) | Q(created_at=first.created_at, id__gt=first.id)
    queryset = Message.objects.filter(after_first, conversation_id=bulk.conversation_id).order_by(
        "created_at", "id"
    )[:50]
    assert "messaging_message_conv_created" in orm_indexes(queryset)
    assert len(queryset) == MESSAGES_PER_CONVERSATION - 1


def test_buyers_conversations_by_last_message(bulk):
    queryset = Conversation.objects.filter(buyer_id=bulk.buyer_id).order_by(
        F("last_message_at").desc(nulls_last=True)
    )[:20]
    assert "messaging_conv_buyer_last" in orm_indexes(queryset)


def test_sellers_conversations_by_last_message(bulk):
    queryset = Conversation.objects.filter(seller_id=bulk.seller_id).order_by(
        F("last_message_at").desc(nulls_last=True)
    )[:20]
    assert "messaging_conv_seller_last" in orm_indexes(queryset)


def test_bulk_timestamps_are_sane(bulk):
    newest = public_active().filter(slug__startswith=TAG).order_by("-published_at").first()
    assert timezone.now() - newest.published_at < timedelta(hours=1)


# The app's own queries: captured from its selectors and search as they run, then explained.


def app_listing_page_indexes(run) -> set[str]:
    """Indexes in the plan of the first listings page query that ``run()`` issues."""
    with CaptureQueriesContext(connection) as captured:
        run()
    pages = [query["sql"] for query in captured if query["sql"].startswith('SELECT "listings_listing"."id"')]
    assert pages, [query["sql"][:80] for query in captured]
    return sql_indexes(pages[0], None)


def search_form(**params) -> SearchForm:
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query.setlist(key, value if isinstance(value, list) else [str(value)])
    form = SearchForm(query)
    assert form.is_valid(), form.errors
    return form


def test_app_home_newest_listings(bulk):
    assert "listings_listing_active_newest" in app_listing_page_indexes(newest_listings)


def test_app_home_featured_listings(bulk):
    assert "listings_listing_featured" in app_listing_page_indexes(featured_listings)


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({"category": f"{TAG}-category-3"}, "listing_category_status_pub"),
        ({"q": "vintage heirloom"}, WORDS_INDEXES),
        # Accents folded by the marketplace_search configuration, OR grouped first: same indexes.
        ({"q": "víntage hèirloom"}, WORDS_INDEXES),
        ({"q": "heirloom chair OR lamp"}, WORDS_INDEXES),
        ({"category": f"{TAG}-category-3", "attr_material": ["Walnut"]}, "listings_listing_attributes"),
        # A number range reads listings_listing_number (listings migration 0012): its
        # (key, value) index finds a narrow range (here a few rows) before any listing is read.
        (
            {"category": f"{TAG}-category-3", "attr_width_min": "10", "attr_width_max": "11"},
            "listings_listing_number_range",
        ),
        ({"sort": "price_asc"}, "listings_listing_active_price"),
        ({"sort": "price_desc"}, "listings_listing_active_price"),
        ({"sort": "newest"}, "listings_listing_active_newest"),
        ({"lat": "40.7128", "lng": "-74.006", "radius_km": "200"}, "listings_listing_location"),
        (
            {"lat": "40.7128", "lng": "-74.006", "radius_km": "200", "sort": "distance"},
            "listings_listing_location",
        ),
    ],
    ids=[
        "category",
        "keywords",
        "keywords-accents",
        "keywords-or-group",
        "enum-attribute",
        "number-attribute",
        "price-asc",
        "price-desc",
        "newest",
        "radius",
        "radius-by-distance",
    ],
)
def test_app_search_page(bulk, params, index):
    form = search_form(**params)
    wanted = index if isinstance(index, frozenset) else {index}
    assert wanted & app_listing_page_indexes(lambda: run_search(form))
