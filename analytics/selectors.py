"""Staff reads over the events table. Both filter on ``created_at`` (partitions pruned) and
the ``(event_name, created_at)`` index; one query each."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from analytics.tracking import EventName


def zero_result_searches(*, days: int = 30, limit: int = 20) -> list[dict]:
    """The searches of the last ``days`` days that found nothing, most frequent first:
    ``[{"query": str, "count": int}]`` (queries compared trimmed and lower-cased; empty
    keywords, a filter-only search, are left out)."""
    since = timezone.now() - timedelta(days=days)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT lower(btrim(properties->>'query')) AS query, COUNT(*) AS count
            FROM analytics_event
            WHERE event_name = %s AND created_at >= %s
              AND properties->>'result_count' = '0'
              AND btrim(coalesce(properties->>'query', '')) <> ''
            GROUP BY 1
            ORDER BY count DESC, query
            LIMIT %s
            """,
            [EventName.SEARCH.value, since, limit],
        )
        return [{"query": query, "count": count} for query, count in cursor.fetchall()]


def conversion_funnel(*, days: int = 30) -> list[dict]:
    """Per category (its slug), over the last ``days`` days: listing views, conversations
    started, checkouts started and orders paid, busiest category first:
    ``[{"category": str, "views": int, "contacts": int, "checkouts": int, "paid": int}]``.
    Events without a category (Global Privacy Control counts, a contact from a profile) are
    left out."""
    since = timezone.now() - timedelta(days=days)
    names = [
        EventName.LISTING_VIEWED.value,
        EventName.CONTACT_STARTED.value,
        EventName.CHECKOUT_STARTED.value,
        EventName.ORDER_PAID.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT properties->>'category' AS category,
                   COUNT(*) FILTER (WHERE event_name = %s) AS views,
                   COUNT(*) FILTER (WHERE event_name = %s) AS contacts,
                   COUNT(*) FILTER (WHERE event_name = %s) AS checkouts,
                   COUNT(*) FILTER (WHERE event_name = %s) AS paid
            FROM analytics_event
            WHERE event_name = ANY(%s) AND created_at >= %s
              AND coalesce(properties->>'category', '') <> ''
            GROUP BY 1
            ORDER BY views DESC, category
            """,
            [*names, names, since],
        )
        return [
            {"category": category, "views": views, "contacts": contacts, "checkouts": checkouts, "paid": paid}
            for category, views, contacts, checkouts, paid in cursor.fetchall()
        ]
