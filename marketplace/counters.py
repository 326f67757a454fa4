"""Verify and repair the denormalized counters that database triggers keep.

Triggers keep these columns exact on every write (see each app's ``0002_triggers``
migration); they drift only when something bypasses the triggers: a bulk load with
triggers disabled, a restore, a hand-written UPDATE, a trigger bug. Each function here
recomputes one family of counters from the rows they count, with set-based SQL, and
returns how many rows were wrong. With ``dry_run`` it only counts.

A repair cannot simply write the recount: a writer that commits between the recount and
the write would be lost (its trigger's +1 lands on a row we then overwrite with a total
taken before it). So the repair locks the wrong rows first, then recounts in a new
statement, whose READ COMMITTED snapshot includes everything committed before the locks
were granted; a writer still in flight updates the row after us and adds its delta to the
right total. Writes to these counter columns fire no counting trigger (only
``set_updated_at``), so a repair never counts anything twice.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction

# pg_try_advisory_lock key: the bytes of "counters" read as an integer (fits a bigint).
ADVISORY_LOCK_KEY = int.from_bytes(b"counters", "big")


class CountersBusy(Exception):
    """Another repair holds the advisory lock."""


@dataclass(frozen=True)
class CounterFamily:
    """Counter columns of ``table`` and the aggregate that gives their true values.

    ``aggregate`` returns one row per target id that has anything to count, as ``id`` and
    one column per counter; a target row it leaves out takes ``defaults``.
    """

    table: str
    aggregate: str
    defaults: dict[str, str]

    @property
    def mismatches(self) -> str:
        """Rows whose stored counters differ from the truth: their id and the true values."""
        columns = list(self.defaults)
        truth = [f"coalesce(agg.{column}, {self.defaults[column]})" for column in columns]
        stored = [f"t.{column}" for column in columns]
        selected = ", ".join(f"{value} AS {column}" for value, column in zip(truth, columns, strict=True))
        return (
            f"SELECT t.id, {selected} FROM {self.table} AS t "  # noqa: S608 - constants only
            f"LEFT JOIN ({self.aggregate}) AS agg ON agg.id = t.id "
            f"WHERE ({', '.join(stored)}) IS DISTINCT FROM ({', '.join(truth)})"
        )


FAVORITE_COUNT = CounterFamily(
    table="listings_listing",
    aggregate=(
        "SELECT listing_id AS id, count(*) AS favorite_count FROM listings_favorite GROUP BY listing_id"
    ),
    defaults={"favorite_count": "0"},
)

# Every conversation about a listing is an inquiry, whatever its status (as the trigger counts).
INQUIRY_COUNT = CounterFamily(
    table="listings_listing",
    aggregate=(
        "SELECT listing_id AS id, count(*) AS inquiry_count FROM messaging_conversation "
        "WHERE listing_id IS NOT NULL GROUP BY listing_id"
    ),
    defaults={"inquiry_count": "0"},
)


def _user_ratings_family() -> CounterFamily:
    """Reviews that count (published, active, reviewer not banned: the trigger's rule). A buyer's
    review rates the reviewee as a seller, a seller's as a buyer; per role the overall sum,
    count, average and 1-5 star distribution, and the sum and count of each detailed rating."""
    columns: dict[str, str] = {}
    defaults: dict[str, str] = {}
    for role, reviewer_type in (("seller", "buyer"), ("buyer", "seller")):
        of_role = f"r.reviewer_type = '{reviewer_type}'"
        columns[f"{role}_rating_sum"] = f"sum(r.rating) FILTER (WHERE {of_role})"
        columns[f"{role}_rating_count"] = f"count(*) FILTER (WHERE {of_role})"
        columns[f"{role}_rating"] = (
            f"round(sum(r.rating) FILTER (WHERE {of_role})::numeric"
            f" / nullif(count(*) FILTER (WHERE {of_role}), 0), 2)"
        )
        stars = ", ".join(f"count(*) FILTER (WHERE {of_role} AND r.rating = {n})" for n in range(1, 6))
        columns[f"{role}_rating_distribution"] = f"ARRAY[{stars}]::integer[]"
        defaults.update(
            {
                f"{role}_rating_sum": "0",
                f"{role}_rating_count": "0",
                f"{role}_rating": "NULL",
                f"{role}_rating_distribution": "'{0,0,0,0,0}'::integer[]",
            }
        )
        for detail in ("communication", "quality", "delivery"):
            columns[f"{role}_{detail}_sum"] = f"sum(r.rating_{detail}) FILTER (WHERE {of_role})"
            columns[f"{role}_{detail}_count"] = f"count(r.rating_{detail}) FILTER (WHERE {of_role})"
            defaults.update({f"{role}_{detail}_sum": "0", f"{role}_{detail}_count": "0"})
    selected = ",\n            ".join(f"{expression} AS {column}" for column, expression in columns.items())
    aggregate = f"""
        SELECT r.reviewee_id AS id,
            {selected}
        FROM reviews_review AS r JOIN accounts_user AS reviewer ON reviewer.id = r.reviewer_id
        WHERE r.status = 'active' AND r.published_at IS NOT NULL AND reviewer.account_status <> 'banned'
        GROUP BY r.reviewee_id
    """  # noqa: S608 - constants only
    return CounterFamily(table="accounts_user", aggregate=aggregate, defaults=defaults)


USER_RATINGS = _user_ratings_family()

# Flags members raised on each review (resolved or not), as the reviews_count_flags trigger counts.
REVIEW_FLAG_COUNT = CounterFamily(
    table="reviews_review",
    aggregate="SELECT review_id AS id, count(*) AS flag_count FROM reviews_reviewflag GROUP BY review_id",
    defaults={"flag_count": "0"},
)

TOTAL_SALES_COUNT = CounterFamily(
    table="accounts_user",
    aggregate=(
        "SELECT seller_id AS id, count(*) AS total_sales_count FROM payments_transaction "
        "WHERE status = 'completed' GROUP BY seller_id"
    ),
    defaults={"total_sales_count": "0"},
)

LAST_MESSAGE_AT = CounterFamily(
    table="messaging_conversation",
    aggregate=(
        "SELECT conversation_id AS id, max(created_at) AS last_message_at FROM messaging_message "
        "GROUP BY conversation_id"
    ),
    defaults={"last_message_at": "NULL"},
)


def _count_or_repair(family: CounterFamily, *, dry_run: bool) -> int:
    """How many rows of ``family`` were wrong; unless ``dry_run``, after fixing them.

    Expects READ COMMITTED (PostgreSQL's default): the recount must see what the writers
    whose locks it waited for committed. A dry run is one statement, so one snapshot in
    which every committed writer's rows and counters agree: it needs no lock.
    """
    mismatches = family.mismatches
    with connection.cursor() as cursor:
        if dry_run:
            cursor.execute(f"SELECT count(*) FROM ({mismatches}) AS wrong")  # noqa: S608 - constants only
            return cursor.fetchone()[0]
        with transaction.atomic():
            # Lock the wrong rows in id order (as concurrent repairs would), then recount.
            cursor.execute(
                f"SELECT count(*) FROM (SELECT t.id FROM {family.table} AS t "  # noqa: S608
                f"WHERE t.id IN (SELECT id FROM ({mismatches}) AS wrong) "
                f"ORDER BY t.id FOR NO KEY UPDATE OF t) AS locked"
            )
            if cursor.fetchone()[0] == 0:
                return 0
            assignments = ", ".join(f"{column} = wrong.{column}" for column in family.defaults)
            cursor.execute(
                f"UPDATE {family.table} AS target SET {assignments} "  # noqa: S608 - constants only
                f"FROM ({mismatches}) AS wrong WHERE target.id = wrong.id"
            )
            return cursor.rowcount


def repair_listing_favorite_count(*, dry_run: bool = False) -> int:
    """``listings_listing.favorite_count``: the listing's favorites."""
    return _count_or_repair(FAVORITE_COUNT, dry_run=dry_run)


def repair_listing_inquiry_count(*, dry_run: bool = False) -> int:
    """``listings_listing.inquiry_count``: conversations about the listing."""
    return _count_or_repair(INQUIRY_COUNT, dry_run=dry_run)


def repair_user_ratings(*, dry_run: bool = False) -> int:
    """``accounts_user`` seller and buyer ratings (sum, count, average, star distribution and
    each detailed rating) from the reviews that count: published, active, reviewer not banned."""
    return _count_or_repair(USER_RATINGS, dry_run=dry_run)


def repair_review_flag_count(*, dry_run: bool = False) -> int:
    """``reviews_review.flag_count``: the flags raised on the review."""
    return _count_or_repair(REVIEW_FLAG_COUNT, dry_run=dry_run)


def repair_user_total_sales_count(*, dry_run: bool = False) -> int:
    """``accounts_user.total_sales_count``: the user's completed sales."""
    return _count_or_repair(TOTAL_SALES_COUNT, dry_run=dry_run)


def repair_conversation_last_message_at(*, dry_run: bool = False) -> int:
    """``messaging_conversation.last_message_at``: its newest message's time, NULL without one."""
    return _count_or_repair(LAST_MESSAGE_AT, dry_run=dry_run)


# Label shown by the command -> function.
COUNTERS: dict[str, Callable[..., int]] = {
    "listing favorite_count": repair_listing_favorite_count,
    "listing inquiry_count": repair_listing_inquiry_count,
    "user seller/buyer ratings": repair_user_ratings,
    "review flag_count": repair_review_flag_count,
    "user total_sales_count": repair_user_total_sales_count,
    "conversation last_message_at": repair_conversation_last_message_at,
}


@contextmanager
def repair_lock() -> Iterator[None]:
    """Hold the session-level advisory lock of counter repairs, or raise ``CountersBusy``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise CountersBusy("Another counter repair is running; try again when it has finished.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def counters_repair(*, dry_run: bool = False) -> dict[str, int]:
    """Every counter family checked (and unless ``dry_run`` fixed): label -> rows wrong.

    A repair holds the advisory lock, so two at once cannot run; a dry run writes nothing
    and takes no lock. Each family is its own transaction: a family fixed stays fixed if a
    later one fails.
    """
    if dry_run:
        return {label: repair(dry_run=True) for label, repair in COUNTERS.items()}
    with repair_lock():
        return {label: repair(dry_run=False) for label, repair in COUNTERS.items()}
