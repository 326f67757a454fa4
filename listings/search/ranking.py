"""Best match: the relevance order of a keyword search, ranked over a bounded candidate set.

The order (every key descending):

1. ``title_match``: the title alone matches the keywords (1) or not (0). A listing with the
   words in its title comes before one that has them only in its description or details.
2. ``rank``: ``ts_rank_cd`` with weights title 1.0, description 0.1, attribute text 0.01
   (``RANK_WEIGHTS``), so one title occurrence outweighs up to ten in the description, and a
   description occurrence ten in the details.
3. ``published_at``, then ``id``: recency breaks ties, and only ties.

Ranking every match costs a heap visit and a ``ts_rank_cd`` per match (a broad word matches
5 % of a million listings: 50k visits, 300+ ms). So when the count says "1,000+"
(``SEARCH_COUNT_CAP``), the ranking runs over candidates (``candidates_sql``): the
``SEARCH_RANK_CANDIDATES`` newest title matches plus the ``SEARCH_RANK_CANDIDATES`` newest
matches. Each "newest N" is a union of recency windows (last day, week, month, quarter, the
rest), each sorted and limited, under one outer LIMIT: PostgreSQL never starts a window once
N rows are out, and the (words, publication day) GIN indexes (btree_gin, listings migration
0014) read only the matches of the window. Below the cap every match is ranked (at most a
thousand rows).

Guarantee (tests/listings/test_search_ranking.py): below the count cap the order is exact;
above it, the first pages are exactly the exhaustive order restricted to the candidates,
then the remaining matches follow, newest first (the "tail", a second zone of the cursor).
"""

from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db.models import BooleanField, DateField, F, FloatField, Func, IntegerField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone

from listings.models import Listing
from listings.search.keywords import SEARCH_CONFIG

# Weights of ts_rank_cd, in PostgreSQL's order {D, C, B, A}: D is unused, C attribute text,
# B description, A title.
RANK_WEIGHTS = [0.001, 0.01, 0.1, 1.0]
# Recency windows of the candidate search, in days back from now (the last one runs to the
# oldest listing). They only shape the plan: the candidates are the newest N whatever they are.
WINDOW_DAYS = (1, 7, 30, 90)


class TitleVector(Func):
    """The title's own vector, exactly as the listings_listing_title_search index computes it."""

    template = f"to_tsvector('{SEARCH_CONFIG}'::regconfig, %(expressions)s)"
    output_field = SearchVectorField()


class PublishedDay(Func):
    """The UTC day of publication, exactly as the listings_listing_*_day indexes compute it."""

    template = "((%(expressions)s AT TIME ZONE 'UTC')::date)"
    output_field = DateField()


class Matches(Func):
    arg_joiner = " @@ "
    template = "(%(expressions)s)"
    output_field = BooleanField()


def candidates_count() -> int:
    return settings.SEARCH_RANK_CANDIDATES


# Placeholders of the window bounds in the SQL compiled once per candidate stream (then
# repeated per window with the real bounds): compiling a filtered queryset costs ~0.5 ms.
_SINCE = datetime(1001, 1, 1, tzinfo=UTC)
_UNTIL = datetime(1002, 1, 1, tzinfo=UTC)
_SINCE_DAY = date(1001, 1, 1)
# The open ends of the oldest and newest windows.
_BEGINNING = datetime(1, 1, 2, tzinfo=UTC)
_END = datetime(9999, 12, 30, tzinfo=UTC)


def _windows(now: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until) pairs, newest first, covering all time."""
    edges = [now - timedelta(days=days) for days in WINDOW_DAYS]
    windows, until = [], _END
    for edge in edges:
        windows.append((edge, until))
        until = edge
    windows.append((_BEGINNING, until))
    return windows


class PublishedOnDays(Func):
    """The UTC day of publication is one of ``days`` (a list of dates, one array parameter):
    the same expression as the *_day indexes, so a GIN scan takes it, one day at a time."""

    output_field = BooleanField()

    def __init__(self, days):
        super().__init__(F("published_at"))
        self.days = days

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(({sql} AT TIME ZONE 'UTC')::date = ANY(%s::date[]))", [*params, self.days]


# Placeholder of a window's list of days (compared by identity).
_DAYS: list = []


def _newest_sql(
    qs: QuerySet[Listing], limit: int, now: datetime, day_lists: bool = False
) -> tuple[str, list]:
    """SQL of the ids of the ``limit`` newest rows of ``qs``, as a union of recency windows.

    ``day_lists``: the windows after the newest (week, month, quarter) name their days one
    by one instead of a lower bound. btree_gin answers "day >= X" by reading every entry of
    every day from X on (a month: ~70k rows) before intersecting with the words; "day =
    ANY(list)" intersects day by day ("golf" in titles: 64 ms -> 5 ms for the month window at
    1M listings). The newest window keeps its bound: it is open-ended (a clock ahead), and a
    day of entries is cheap. Used for the title candidates of searches without a category:
    with a category the planner then prefers the GIN to the category index, which serves
    those windows better.
    """
    # The first day of a window lets the (words, day) GIN index take it; the exact timestamps
    # then trim it. Only a lower day bound: btree_gin scans each bound on its own, and
    # "day <= X" alone is every older day. The oldest window leaves the day out.
    ordered = qs.order_by(F("published_at").desc(), F("id").desc()).values("id")
    recent = ordered.alias(published_day=PublishedDay(F("published_at"))).filter(
        published_day__gte=_SINCE_DAY, published_at__gte=_SINCE, published_at__lt=_UNTIL
    )
    recent_sql, recent_template = recent[:limit].query.sql_with_params()
    listed_sql, listed_template = (
        ordered.filter(PublishedOnDays(_DAYS), published_at__gte=_SINCE, published_at__lt=_UNTIL)[
            :limit
        ].query.sql_with_params()
        if day_lists
        else (recent_sql, recent_template)
    )
    oldest_sql, oldest_template = ordered.filter(published_at__lt=_UNTIL)[:limit].query.sql_with_params()
    branches, params = [], []
    for since, until in _windows(now):
        bounds = {_SINCE: since, _UNTIL: until, _SINCE_DAY: since.astimezone(UTC).date()}
        days: list = []
        if since == _BEGINNING:
            sql, template = oldest_sql, oldest_template
        elif until == _END:  # the newest: open-ended (clocks), and a day or two is cheap as a range
            sql, template = recent_sql, recent_template
        else:
            sql, template = listed_sql, listed_template
            if day_lists:  # only these windows name their days (the others span centuries)
                first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
                days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
        branches.append(f"({sql})")
        params.extend(
            days if value is _DAYS else bounds.get(value, value) if isinstance(value, date) else value
            for value in template
        )
    union = " UNION ALL ".join(branches)
    return f"(SELECT id FROM ({union}) AS newest LIMIT %s)", [*params, limit]  # noqa: S608 - SQL of the ORM


def candidates_sql(
    matching: QuerySet[Listing],
    query: SearchQuery,
    now: datetime | None = None,
    title_pool: QuerySet[Listing] | None = None,
    day_lists: bool = False,
):
    """SQL (and params) of the candidate ids: the newest SEARCH_RANK_CANDIDATES title matches
    and the newest SEARCH_RANK_CANDIDATES matches of ``matching`` (which already holds every
    filter, the keywords included).

    ``title_pool``: every filter but the keywords, for keywords without a negated term: then
    a title match is a match (the title's words are the document's first words), and leaving
    the document's match out keeps the planner from multiplying two correlated GIN
    selectivities (it then expects 20x too few rows and reads every match to sort them).
    """
    now = now or timezone.now()
    limit = candidates_count()
    pool = matching if title_pool is None else title_pool
    titles = pool.alias(title_vector=TitleVector(F("title"))).filter(title_vector=query)
    title_sql, title_params = _newest_sql(titles, limit, now, day_lists)
    # The matches' windows keep the lower bound: with a list the planner took the day from
    # title_day and the words from listings_listing_search, a BitmapAnd of a whole week.
    any_sql, any_params = _newest_sql(matching, limit, now)
    return f"{title_sql} UNION {any_sql}", [*title_params, *any_params]


def with_relevance(qs: QuerySet[Listing], query: SearchQuery) -> QuerySet[Listing]:
    """``qs`` annotated with ``title_match`` (0/1) and ``rank``, the keys of the order."""
    return qs.annotate(
        title_match=Cast(Matches(TitleVector(F("title")), query), IntegerField()),
        rank=Cast(
            SearchRank(F("search_vector"), query, weights=RANK_WEIGHTS, cover_density=True), FloatField()
        ),
    )


RELEVANCE_ORDER = (F("title_match").desc(), F("rank").desc(), F("published_at").desc(), F("id").desc())
TAIL_ORDER = (F("published_at").desc(), F("id").desc())


def after_relevance(value: list, listing_id: str) -> Q:
    """Rows after (title_match, rank, published_at, id) in the descending relevance order."""
    title_match, rank, published = value
    published = datetime.fromisoformat(published)
    return (
        Q(title_match__lt=title_match)
        | Q(title_match=title_match, rank__lt=rank)
        | Q(title_match=title_match, rank=rank, published_at__lt=published)
        | Q(title_match=title_match, rank=rank, published_at=published, id__lt=listing_id)
    )


def after_newest(published: str, listing_id: str) -> Q:
    published_at = datetime.fromisoformat(published)
    return Q(published_at__lt=published_at) | Q(published_at=published_at, id__lt=listing_id)


def ranked_candidates(
    matching: QuerySet[Listing],
    query: SearchQuery,
    now: datetime,
    title_pool: QuerySet[Listing] | None = None,
    day_lists: bool = False,
) -> QuerySet[Listing]:
    """The candidates in relevance order (annotated; slice it)."""
    sql, params = candidates_sql(matching, query, now, title_pool, day_lists)
    # The candidates passed every filter already: the outer query only ranks them (with the
    # filters again, the planner misjudged the banned-seller anti-join of 400 rows as one
    # and compared each with every banned user).
    candidates = Listing.objects.filter(pk__in=RawSQL(sql, params))  # noqa: S611 - SQL of the ORM
    return with_relevance(candidates, query).order_by(*RELEVANCE_ORDER)


def tail(
    matching: QuerySet[Listing],
    query: SearchQuery,
    now: datetime,
    title_pool: QuerySet[Listing] | None = None,
    day_lists: bool = False,
) -> QuerySet[Listing]:
    """The matches that are not candidates, newest first (annotated like the candidates)."""
    sql, params = candidates_sql(matching, query, now, title_pool, day_lists)
    others = matching.exclude(pk__in=RawSQL(sql, params))  # noqa: S611 - SQL of the ORM
    return with_relevance(others, query).order_by(*TAIL_ORDER)


def exhaustive(matching: QuerySet[Listing], query: SearchQuery) -> QuerySet[Listing]:
    """Every match in relevance order: the reference the candidates approximate (tests and
    the benchmark's overlap figure; far too slow for a broad word at scale)."""
    return with_relevance(matching, query).order_by(*RELEVANCE_ORDER)
