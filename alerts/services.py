"""Saved searches, their alerts, follows of sellers and price-drop notices.

Matching (``match_new_listings``, a periodic job): the listings published since the last run
(a watermark, read with an overlap so a late commit is not missed; the unique key "one match
per saved search and listing" makes the overlap harmless) go into a temporary table with a
category index and a GIN index on their search vectors. Each saved search then probes that
small table once, through the index its filters allow (its categories, else its keywords),
in one INSERT ... SELECT with a LATERAL join: the work grows with saved searches x the new
listings of their categories, not with saved searches x listings. A run records at most
``ALERTS_MAX_LISTINGS_PER_RUN`` listings per saved search (the probe stops there): an alert
names a handful of listings and links to the search for the rest, and a broad search over a
large batch would otherwise write hundreds of rows nobody reads. The filters are the search's
own (``listings.search``): categories with their descendants, the keyword tsquery built by
``keyword_query`` when the search was saved, the price range in its currency, the pricing
type, the circle by ``earth_distance``, the typed attribute filters (numbers from
``listings_listing_number`` as ``number_in_range`` reads them, booleans and options by
containment as ``filtered_listings`` does).
``tests/alerts/test_matching.py`` checks on a table of listings and searches that a match
is exactly what the search finds.

Side effects go up as hooks (``alerts.hooks``); notifications tells the members.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone
from procrastinate.contrib.django import app

from accounts.models import AccountStatus
from alerts import hooks
from alerts.models import AlertFrequency, Follow, SavedSearch, SavedSearchMatch, Watermark
from listings.models import Favorite
from listings.search.form import SearchForm
from listings.search.keywords import keyword_query
from listings.selectors import public_listings
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.money import format_amount

logger = logging.getLogger(__name__)

# Parameters that page or order a search: not part of what it finds.
NOT_FILTERS = frozenset({"cursor", "sort", "exact"})
MATCH_WATERMARK = "alerts.match_new_listings"
MATCH_LOCK = 7_315_001  # pg advisory lock key: one matching run at a time
DIGEST_WATERMARK = "alerts.daily_digest"


# --- Saved searches ----------------------------------------------------------------------------
def canonical_query(params) -> tuple[dict, str]:
    """The search's filters from its GET parameters (a ``QueryDict`` or a dict), canonical:
    known fields only, no empty values, no paging or sort, keys sorted, values as the form
    reads them. Returns (dict, query string); two URLs of one search give the same pair."""
    if not isinstance(params, QueryDict):
        data = QueryDict(mutable=True)
        for key, value in params.items():
            data.setlist(key, value if isinstance(value, list) else [value])
        params = data
    form = SearchForm(params)
    canonical = QueryDict(mutable=True)
    out: dict = {}
    for name in sorted(form.fields):
        if name in NOT_FILTERS:
            continue
        values = [v.strip() for v in params.getlist(name) if str(v).strip()]
        if not values:
            continue
        values = sorted(set(values)) if len(values) > 1 else values
        canonical.setlist(name, values)
        # Choices of an enum attribute stay a list even when one is ticked; the rest are text.
        multiple = len(values) > 1 or (name.startswith("attr_") and not name.endswith(("_min", "_max")))
        out[name] = values if multiple else values[0]
    return out, canonical.urlencode()


def _search_form(query: dict) -> SearchForm:
    data = QueryDict(mutable=True)
    for key, value in query.items():
        data.setlist(key, value if isinstance(value, list) else [value])
    return SearchForm(data)


def _default_name(form: SearchForm) -> str:
    """A readable name from the search's filters: "chair, negotiable, in Desks, $10–$50, near
    Boston" (keywords as typed, no quotes: the pages quote names themselves)."""
    data = form.cleaned_data
    parts = []
    if (data.get("q") or "").strip():
        parts.append(" ".join(data["q"].split()))
    if data.get("pricing_type"):
        parts.append(dict(form.fields["pricing_type"].choices).get(data["pricing_type"], "").lower())
    if form.category_node is not None:
        parts.append(f"in {form.category_node.name}")
    low, high = data.get("min_price_cents"), data.get("max_price_cents")
    if low is not None or high is not None:
        currency = data["currency"]
        if low is not None and high is not None:
            parts.append(f"{format_amount(low, currency)}–{format_amount(high, currency)}")
        elif low is not None:
            parts.append(f"from {format_amount(low, currency)}")
        else:
            parts.append(f"up to {format_amount(high, currency)}")
    if form.attribute_filters():
        parts.append("with details")
    if data.get("near"):
        parts.append(f"near {dict(form.fields['near'].choices)[data['near']]}")
    elif data.get("point"):
        parts.append(f"within {data['radius_km']} km")
    return (", ".join(part for part in parts if part) or "Listings with these filters")[:100]


def _filter_columns(form: SearchForm) -> dict:
    """The saved search's matching columns, from the search's cleaned form (the search's
    own meanings: descendants of the category, price in the chosen currency, the circle)."""
    data = form.cleaned_data
    priced = data.get("min_price_cents") is not None or data.get("max_price_cents") is not None
    point = data.get("point")
    return {
        "category_ids": list(form.category_node.descendant_ids()) if form.category_node is not None else [],
        "currency": data["currency"] if priced else "",
        "min_price_cents": data.get("min_price_cents"),
        "max_price_cents": data.get("max_price_cents"),
        "pricing_type": data.get("pricing_type") or "",
        "latitude": float(point[0]) if point else None,
        "longitude": float(point[1]) if point else None,
        "radius_m": float(data["radius_km"] * 1000) if point else None,
        "attribute_filters": [
            _attribute_filter(attribute, value) for attribute, value in form.attribute_filters()
        ],
    }


def _attribute_filter(attribute: dict, value) -> dict:
    """One of ``SearchForm.attribute_filters`` as the matching SQL reads it (JSON)."""
    key, kind = attribute["key"], attribute["type"]
    if kind == "number":
        low, high = value
        return {
            "key": key,
            "type": "number",
            "min": None if low is None else str(low),
            "max": None if high is None else str(high),
        }
    if kind == "boolean":
        return {"key": key, "type": "boolean"}
    return {"key": key, "type": "enum", "any": list(value)}


def saved_search_create(*, user, params, name: str = "", alert: str = AlertFrequency.INSTANT) -> SavedSearch:
    """Save the search of ``params`` (its GET parameters) for ``user``; saving the same
    search again returns the one saved (its name and alert unchanged).

    Refused: an invalid search (``invalid``, the form's first error), a search with no
    keyword or filter (``invalid``: it would alert on everything), more than
    ``SAVED_SEARCHES_MAX`` (``limit_reached``), a name over 100 characters, an unknown alert.
    """
    if user is None or not user.is_authenticated:
        raise ServiceError("Log in to save a search.", code=ErrorCode.LOGIN_REQUIRED)
    query, query_string = canonical_query(params)
    form = _search_form(query)
    if not form.is_valid():
        first = next(iter(form.errors.values()))[0]
        raise ServiceError(f"This search cannot be saved: {first}", code=ErrorCode.INVALID)
    if not query:
        raise ServiceError(
            "Add a keyword or a filter first: a search for everything would alert on every listing.",
            code=ErrorCode.INVALID,
        )
    if alert not in AlertFrequency.values:
        raise ServiceError("Choose how often to be alerted.", code=ErrorCode.INVALID)
    name = " ".join(str(name or "").split()) or _default_name(form)
    if len(name) > 100:
        raise ServiceError("Keep the name under 100 characters.", code=ErrorCode.INVALID)
    existing = SavedSearch.objects.filter(user=user, query_string=query_string).first()
    if existing is not None:
        return existing
    if SavedSearch.objects.filter(user=user).count() >= settings.SAVED_SEARCHES_MAX:
        raise ServiceError(
            f"You have {settings.SAVED_SEARCHES_MAX} saved searches: delete one to save another.",
            code=ErrorCode.LIMIT_REACHED,
        )
    try:
        with transaction.atomic():
            saved = SavedSearch.objects.create(
                user=user,
                name=name,
                query=query,
                query_string=query_string,
                alert=alert,
                **_filter_columns(form),
            )
            keywords = keyword_query(form.cleaned_data.get("q") or "")
            if keywords is not None:
                SavedSearch.objects.filter(pk=saved.pk).update(keywords=keywords)
    except IntegrityError:
        # The same search saved at the same moment (a double click): the other one stands.
        return SavedSearch.objects.get(user=user, query_string=query_string)
    return saved


def _own(saved_search: SavedSearch, actor) -> None:
    if actor is None or not actor.is_authenticated or saved_search.user_id != actor.pk:
        raise ServiceError("No such saved search.", code=ErrorCode.NOT_FOUND)


def saved_search_update(
    *, saved_search: SavedSearch, actor, name: str | None = None, alert: str | None = None
) -> SavedSearch:
    """Rename it or change its alert (instant, daily, off)."""
    _own(saved_search, actor)
    fields = []
    if name is not None:
        name = " ".join(str(name).split())
        if not name or len(name) > 100:
            raise ServiceError("Give the search a name of at most 100 characters.", code=ErrorCode.INVALID)
        saved_search.name = name
        fields.append("name")
    if alert is not None:
        if alert not in AlertFrequency.values:
            raise ServiceError("Choose how often to be alerted.", code=ErrorCode.INVALID)
        saved_search.alert = alert
        fields.append("alert")
    if fields:
        saved_search.save(update_fields=fields)
    return saved_search


def saved_search_delete(*, saved_search: SavedSearch, actor) -> None:
    _own(saved_search, actor)
    saved_search.delete()


# --- Matching ------------------------------------------------------------------------------------
@dataclass
class MatchRun:
    listings: int = 0
    matches: int = 0
    skipped: bool = False


# The saved searches' filters, each as ``listings.search.filters`` applies it (see module doc).
_COMMON = """
    AND n.seller_id <> s.user_id
    AND (s.keywords IS NULL OR n.search_vector @@ s.keywords)
    AND (s.pricing_type = '' OR n.pricing_type = s.pricing_type)
    AND (s.min_price_cents IS NULL OR (n.currency = s.currency AND n.price_cents >= s.min_price_cents))
    AND (s.max_price_cents IS NULL OR (n.currency = s.currency AND n.price_cents <= s.max_price_cents))
    AND (s.radius_m IS NULL OR (n.location_lat IS NOT NULL AND earth_distance(
        ll_to_earth(s.latitude, s.longitude),
        ll_to_earth(n.location_lat::float8, n.location_lng::float8)) <= s.radius_m))
    AND (s.attribute_filters = '[]'::jsonb OR NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(s.attribute_filters) AS f
        WHERE NOT CASE f->>'type'
            -- number_in_range: the typed value kept by the listings_listing_number trigger
            WHEN 'number' THEN EXISTS (
                SELECT 1 FROM listings_listing_number AS num
                WHERE num.listing_id = n.id AND num.key = f->>'key'
                  AND (f->>'min' IS NULL OR num.value >= (f->>'min')::numeric)
                  AND (f->>'max' IS NULL OR num.value <= (f->>'max')::numeric))
            WHEN 'boolean' THEN n.attributes @> jsonb_build_object(f->>'key', true)
            -- enum: any of the chosen options
            ELSE EXISTS (
                SELECT 1 FROM jsonb_array_elements(f->'any') AS option
                WHERE n.attributes @> jsonb_build_object(f->>'key', option))
        END))
"""
# Each saved search probes the new listings once, by the index its filters allow.
_BRANCHES = (
    # keywords and a category: the GIN index finds the keywords, the category is rechecked
    "cardinality(s.category_ids) > 0 AND s.keywords IS NOT NULL",
    "n.search_vector @@ s.keywords AND n.category_id = ANY(s.category_ids)",
    "cardinality(s.category_ids) > 0 AND s.keywords IS NULL",
    "n.category_id = ANY(s.category_ids)",
    "cardinality(s.category_ids) = 0 AND s.keywords IS NOT NULL",
    "n.search_vector @@ s.keywords",
    "cardinality(s.category_ids) = 0 AND s.keywords IS NULL",
    "TRUE",
)
_MATCH_SQL = " UNION ALL ".join(
    f"""
    SELECT s.id AS saved_search_id, n.id AS listing_id
    FROM alerts_savedsearch s
    JOIN accounts_user u ON u.id = s.user_id AND u.account_status = %(active)s
    CROSS JOIN LATERAL (
        SELECT n.id FROM alerts_new_listings n WHERE {probe} {_COMMON}
        LIMIT %(cap)s
    ) n
    WHERE s.alert <> %(off)s AND {which}"""  # noqa: S608 - constant SQL, values as params
    for which, probe in zip(_BRANCHES[::2], _BRANCHES[1::2], strict=True)
)


def _load_new_listings(since: datetime, until: datetime) -> int:
    """The public listings published in (since, until] into ``alerts_new_listings``."""
    new = public_listings().filter(published_at__gt=since, published_at__lte=until)
    sql, params = new.values(
        "id",
        "seller_id",
        "category_id",
        "search_vector",
        "currency",
        "price_cents",
        "pricing_type",
        "location_lat",
        "location_lng",
        "attributes",
    ).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS alerts_new_listings")
        cursor.execute(f"CREATE TEMP TABLE alerts_new_listings ON COMMIT DROP AS {sql}", params)  # noqa: S608
        cursor.execute("CREATE INDEX ON alerts_new_listings (category_id)")
        cursor.execute("CREATE INDEX ON alerts_new_listings USING gin (search_vector)")
        cursor.execute("ANALYZE alerts_new_listings")
        cursor.execute("SELECT count(*) FROM alerts_new_listings")
        return cursor.fetchone()[0]


def match_new_listings(*, now: datetime | None = None) -> MatchRun:
    """Record which saved searches the newly published listings match, tell the instant
    alerts, and tell the followers who asked to be alerted of their sellers' new listings.

    One run at a time (a transaction-level advisory lock: a second run at once returns
    ``skipped``); reads listings published after the watermark less
    ``ALERTS_MATCH_OVERLAP_SECONDS``; each (saved search, listing) is recorded and told once.
    """
    now = now or timezone.now()
    run = MatchRun()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [MATCH_LOCK])
            if not cursor.fetchone()[0]:
                run.skipped = True
                return run
        mark = Watermark.objects.select_for_update().filter(name=MATCH_WATERMARK).first()
        since = (mark.at if mark else now - timedelta(hours=1)) - timedelta(
            seconds=settings.ALERTS_MATCH_OVERLAP_SECONDS
        )
        run.listings = _load_new_listings(since, now)
        rows = []
        if run.listings:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""INSERT INTO alerts_savedsearchmatch (saved_search_id, listing_id, created_at)
                        SELECT saved_search_id, listing_id, %(now)s FROM ({_MATCH_SQL}) AS found
                        ON CONFLICT (saved_search_id, listing_id) DO NOTHING
                        RETURNING id, saved_search_id, listing_id""",  # noqa: S608 - constant SQL
                    {
                        "active": AccountStatus.ACTIVE,
                        "off": AlertFrequency.OFF,
                        "now": now,
                        "cap": settings.ALERTS_MAX_LISTINGS_PER_RUN,
                    },
                )
                rows = cursor.fetchall()
            _tell_followers(now)
        run.matches = len(rows)
        _tell_instant_matches(rows, now)
        Watermark.objects.update_or_create(name=MATCH_WATERMARK, defaults={"at": now})
    return run


TELL_BATCH = 200  # saved searches (or followers) told per job


def _defer(task_name: str, **kwargs) -> None:
    """Queue a job of ``alerts.tasks`` by name, in the caller's transaction (the tasks module
    imports this one, so it is named, not imported)."""
    app.configure_task(name=task_name).defer(**kwargs)


def _tell_instant_matches(rows: list[tuple], now: datetime) -> None:
    """Queue the telling of the new matches of instant alerts, in jobs of ``TELL_BATCH``
    saved searches (deferred in this transaction: a rolled-back run queues nothing)."""
    if not rows:
        return
    instant = sorted(
        set(
            SavedSearch.objects.filter(
                pk__in={row[1] for row in rows}, alert=AlertFrequency.INSTANT
            ).values_list("pk", flat=True)
        )
    )
    for start in range(0, len(instant), TELL_BATCH):
        chunk = instant[start : start + TELL_BATCH]
        _defer("alerts.tell_matches", saved_search_ids=[str(pk) for pk in chunk])


def tell_matches(*, saved_search_ids: list, now: datetime | None = None) -> int:
    """Tell the instant alerts of ``saved_search_ids`` their matches not told yet: one hook
    call per saved search, after commit. Rows another run holds are skipped and told rows are
    marked, so a retried or concurrent job tells each match once (the notification's key
    makes a replay after a crash between commit and hook harmless too). Returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        pending = list(
            SavedSearchMatch.objects.select_for_update(skip_locked=True)
            .filter(saved_search_id__in=saved_search_ids, notified_at__isnull=True)
            .order_by("id")
            .values_list("pk", "saved_search_id", "listing_id")
        )
        by_search: dict = {}
        for _, saved_search_id, listing_id in pending:
            by_search.setdefault(saved_search_id, []).append(listing_id)
        SavedSearchMatch.objects.filter(pk__in=[row[0] for row in pending]).update(notified_at=now)
        for saved_search_id, listing_ids in by_search.items():
            after_commit(hooks.saved_search_matched, saved_search_id, listing_ids)
    return len(by_search)


def _tell_followers(now: datetime) -> None:
    """Followers with alerts on hear of each new listing of their sellers once (the
    notification's key is the listing): queued as jobs; the new listings are the run's
    temporary table."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT f.follower_id, n.id FROM alerts_new_listings n
               JOIN alerts_follow f ON f.seller_id = n.seller_id AND f.alert
               JOIN accounts_user u ON u.id = f.follower_id AND u.account_status = %s
               ORDER BY n.id""",
            [AccountStatus.ACTIVE],
        )
        pairs = [[str(follower), str(listing)] for follower, listing in cursor.fetchall()]
    for start in range(0, len(pairs), TELL_BATCH):
        _defer("alerts.tell_followers", pairs=pairs[start : start + TELL_BATCH])


def tell_followers(*, pairs: list) -> int:
    """One hook call per (follower id, listing id) pair, after commit."""
    for follower_id, listing_id in pairs:
        after_commit(hooks.followed_seller_listed, follower_id, listing_id)
    return len(pairs)


def send_daily_digests(*, now: datetime | None = None) -> int:
    """The daily alerts: each member's saved searches on the daily digest with matches not
    told yet, in one hook call per member (one email). Returns how many members. Rows other
    runs hold are skipped, so two runs at once tell each match once."""
    now = now or timezone.now()
    with transaction.atomic():
        pending = list(
            SavedSearchMatch.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(notified_at__isnull=True, saved_search__alert=AlertFrequency.DAILY)
            .values_list("pk", "saved_search__user_id", "saved_search_id", "listing_id")
        )
        per_user: dict = {}
        for _, user_id, saved_search_id, listing_id in pending:
            per_user.setdefault(user_id, {}).setdefault(saved_search_id, []).append(listing_id)
        SavedSearchMatch.objects.filter(pk__in=[row[0] for row in pending]).update(notified_at=now)
        for user_id, searches in per_user.items():
            after_commit(hooks.saved_search_digest, user_id, searches, now.date().isoformat())
    return len(per_user)


# --- Follows -------------------------------------------------------------------------------------
def follow_seller(*, follower, seller, alert: bool = False) -> Follow:
    """``follower`` follows ``seller`` (idempotent; a second call sets ``alert``). Refused:
    following yourself (``invalid``), a seller who is not active (``not_found``)."""
    if follower is None or not follower.is_authenticated:
        raise ServiceError("Log in to follow sellers.", code=ErrorCode.LOGIN_REQUIRED)
    if follower.pk == seller.pk:
        raise ServiceError("You cannot follow yourself.", code=ErrorCode.INVALID)
    if seller.account_status != AccountStatus.ACTIVE:
        raise ServiceError("No such member.", code=ErrorCode.NOT_FOUND)
    follow, created = Follow.objects.get_or_create(
        follower=follower, seller=seller, defaults={"alert": alert}
    )
    if not created and follow.alert != alert:
        follow.alert = alert
        follow.save(update_fields=["alert"])
    return follow


def unfollow_seller(*, follower, seller) -> None:
    Follow.objects.filter(follower_id=follower.pk, seller_id=seller.pk).delete()


# --- Price drops ---------------------------------------------------------------------------------
def price_drop_notify(
    *, listing_id, old_cents: int, new_cents: int, dropped_at: str, batch: int = 500
) -> int:
    """Tell the members who favorited ``listing_id`` that its price dropped, in batches of
    ``batch`` (one hook call each); ``dropped_at`` names the drop, so a retried job tells
    each member once. Returns how many members. Nothing when the listing is no longer public
    or its price went back up meanwhile."""
    listing = public_listings().filter(pk=listing_id).values("price_cents", "seller_id").first()
    if listing is None or listing["price_cents"] is None or listing["price_cents"] > new_cents:
        return 0
    told = 0
    favoriters = (
        Favorite.objects.filter(listing_id=listing_id, user__account_status=AccountStatus.ACTIVE)
        .exclude(user_id=listing["seller_id"])
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )
    user_ids = list(favoriters)
    for start in range(0, len(user_ids), batch):
        chunk = user_ids[start : start + batch]
        hooks.price_dropped(listing_id, chunk, old_cents, new_cents, dropped_at)
        told += len(chunk)
    return told


def alerts_forget_member(*, member) -> None:
    """The member's account is being deleted (``privacy.services.account_delete``): their saved
    searches (and matches) and follows, both ways, go with it."""
    SavedSearch.objects.filter(user_id=member.pk).delete()
    Follow.objects.filter(Q(follower_id=member.pk) | Q(seller_id=member.pk)).delete()
