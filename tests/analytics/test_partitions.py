import threading
from datetime import UTC, date, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from analytics.models import Event
from analytics.partitions import (
    add_months,
    existing_partitions,
    maintain_partitions,
    month_start,
    partition_name,
)
from tests.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def where_is(event: Event) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM analytics_event WHERE id = %s", [event.id])
        return cursor.fetchone()[0]


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def test_add_months_crosses_years():
    assert add_months(date(2026, 11, 1), 2) == date(2027, 1, 1)
    assert add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert add_months(date(2026, 1, 1), -13) == date(2024, 12, 1)


def test_creates_current_and_next_months():
    report = maintain_partitions(months_ahead=2, retention_months=12, now=NOW)
    assert report.created == [
        "analytics_event_p2026_11",
        "analytics_event_p2026_12",
        "analytics_event_p2027_01",
    ]
    assert set(existing_partitions()) >= {date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)}
    # A second run has nothing to do.
    again = maintain_partitions(months_ahead=2, retention_months=12, now=NOW)
    assert again.created == [] and again.retired == []


def test_event_lands_in_its_months_partition():
    maintain_partitions(months_ahead=2, retention_months=12, now=NOW)
    event = EventFactory(created_at=datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert where_is(event) == "analytics_event_p2026_12"
    # The month boundary is exclusive at the top, in UTC.
    first_of_january = EventFactory(created_at=datetime(2027, 1, 1, tzinfo=UTC))
    assert where_is(first_of_january) == "analytics_event_p2027_01"


def test_far_future_event_waits_in_default_then_moves_when_its_month_is_created():
    maintain_partitions(months_ahead=1, retention_months=12, now=NOW)
    user = UserFactory()
    # The command works from the real clock: 30 months ahead of it.
    future_month = add_months(month_start(timezone.now()), 30)
    future = EventFactory(
        created_at=datetime(future_month.year, future_month.month, 15, tzinfo=UTC),
        user=user,
        properties={"listing": "abc"},
    )
    assert where_is(future) == "analytics_event_default"

    call_command("partitions", "--ahead", "31", "--retention-months", "12")

    assert where_is(future) == partition_name(future_month)
    moved = Event.objects.get(pk=future.pk)
    assert moved.user_id == user.id
    assert moved.properties == {"listing": "abc"}
    assert moved.created_at == future.created_at
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_event_default")
        assert cursor.fetchone()[0] == 0


def test_new_events_still_insert_after_rows_moved():
    """The identity sequence lives on the parent: ids stay unique across partitions."""
    EventFactory(created_at=datetime(2026, 11, 2, tzinfo=UTC))
    maintain_partitions(months_ahead=0, retention_months=12, now=NOW)
    later = EventFactory(created_at=datetime(2026, 11, 3, tzinfo=UTC))
    assert where_is(later) == "analytics_event_p2026_11"
    assert Event.objects.filter(created_at__month=11).count() == 2


def test_dry_run_changes_nothing():
    event = EventFactory(created_at=datetime(2026, 11, 2, tzinfo=UTC))
    before = existing_partitions()
    report = maintain_partitions(months_ahead=1, retention_months=12, now=NOW, dry_run=True)
    assert "analytics_event_p2026_11" in report.created
    assert report.moved_rows["analytics_event_p2026_11"] == 1
    assert existing_partitions() == before
    assert where_is(event) == "analytics_event_default"


def test_partitions_past_retention_are_dropped():
    maintain_partitions(months_ahead=0, retention_months=24, now=datetime(2025, 1, 10, tzinfo=UTC))
    old = "analytics_event_p2025_01"
    assert table_exists(old)
    report = maintain_partitions(months_ahead=0, retention_months=12, now=NOW)
    assert report.retired == [old]
    assert not table_exists(old)


def test_partitions_past_retention_can_be_detached_and_kept():
    maintain_partitions(months_ahead=0, retention_months=24, now=datetime(2025, 1, 10, tzinfo=UTC))
    event = EventFactory(created_at=datetime(2025, 1, 11, tzinfo=UTC))
    out = call_command_output("--ahead", "0", "--retention-months", "12", "--action", "detach")
    assert "detach analytics_event_p2025_01" in out
    assert table_exists("analytics_event_p2025_01")
    assert date(2025, 1, 1) not in existing_partitions()
    assert not Event.objects.filter(pk=event.pk).exists()


def test_expired_rows_waiting_in_default_are_purged_when_dropping():
    expired = EventFactory(created_at=datetime(2020, 3, 1, tzinfo=UTC))
    report = maintain_partitions(months_ahead=0, retention_months=12, now=NOW)
    assert report.purged_default_rows == 1
    assert not Event.objects.filter(pk=expired.pk).exists()


def call_command_output(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("partitions", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    "args",
    [["--ahead", "-1"], ["--retention-months", "0"]],
)
def test_bad_arguments_are_refused_with_a_clear_error(args):
    before = existing_partitions()
    with pytest.raises(CommandError, match="months"):
        call_command("partitions", *args)
    assert existing_partitions() == before


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_create_each_partition_once():
    far = datetime(2091, 1, 15, tzinfo=UTC)
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def run():
        try:
            barrier.wait()
            reports.append(maintain_partitions(months_ahead=2, retention_months=1200, now=far))
        except Exception as error:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        created = sorted(name for report in reports for name in report.created)
        assert created == ["analytics_event_p2091_01", "analytics_event_p2091_02", "analytics_event_p2091_03"]
    finally:
        with connection.cursor() as cursor:
            for month, name in existing_partitions().items():
                if month.year == 2091:
                    cursor.execute(f"DROP TABLE {name}")
