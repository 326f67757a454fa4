"""Guards on the migrated schema itself, read from pg_catalog, so later migrations cannot regress it."""

import re
from collections import defaultdict

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("accounts", "listings", "payments", "reviews", "messaging", "notifications", "analytics")

# Plain tables ('r') and partitioned parents ('p'); partitions inherit from their parent.
TABLES_SQL = """
    SELECT t.oid
    FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = 'public' AND t.relkind IN ('r', 'p') AND NOT t.relispartition
"""


def fetch(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def project_tables() -> set[str]:
    return {
        model._meta.db_table
        for app_label in PROJECT_APPS
        for model in apps.get_app_config(app_label).get_models(include_auto_created=False)
    }


def test_catalog_sees_the_partitioned_events_table_and_its_partitioned_indexes():
    """The queries below look at parents; make sure the parent is what they think it is."""
    (relkind,) = fetch("SELECT relkind FROM pg_class WHERE oid = 'analytics_event'::regclass")[0]
    assert relkind == "p"
    index_kinds = dict(
        fetch(
            "SELECT c.relname, c.relkind FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'analytics_event'::regclass"
        )
    )
    assert index_kinds["analytics_event_user_created"] == "I"
    assert set(index_kinds.values()) == {"I"}
    fks = fetch(
        "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = 'analytics_event'::regclass"
    )
    assert len(fks) == 1


def test_every_foreign_key_leads_a_non_partial_index():
    """Deleting or locking a referenced row scans the referencing table unless the FK column leads an index.

    Django drops its own FK index wherever ``db_index=False``; this makes sure a composite or
    unique index starting with the column took its place, including on partitioned tables
    (partitioned indexes, relkind 'I', are listed in pg_index against the parent).
    """
    rows = fetch(
        f"""
        SELECT con.conrelid::regclass::text, con.conname,
               array(SELECT attname FROM pg_attribute
                     WHERE attrelid = con.conrelid AND attnum = ANY (con.conkey)) AS columns,
               EXISTS (
                   SELECT 1 FROM pg_index i
                   WHERE i.indrelid = con.conrelid
                     AND i.indpred IS NULL
                     AND i.indisvalid
                     AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] = con.conkey
               ) AS covered
        FROM pg_constraint con
        WHERE con.contype = 'f' AND con.conrelid IN ({TABLES_SQL})
        ORDER BY 1, 2
        """
    )
    # Sanity: the query really sees the project's foreign keys, the partitioned table's included.
    tables = {table for table, *_ in rows}
    assert {"listings_listing", "payments_transaction", "messaging_message", "analytics_event"} <= tables
    uncovered = [
        f"{table}.{', '.join(columns)} ({name})" for table, name, columns, covered in rows if not covered
    ]
    assert uncovered == []


def test_single_column_fk_check_would_catch_a_missing_index():
    """The coverage query matches the FK's column set in order, not any index that mentions it."""
    rows = fetch(
        """
        SELECT (i.indkey::int2[])[0:0] = con.conkey
        FROM pg_constraint con JOIN pg_index i ON i.indrelid = con.conrelid
        JOIN pg_class c ON c.oid = i.indexrelid
        WHERE con.conrelid = 'reviews_review'::regclass AND con.contype = 'f'
          AND con.conkey = ARRAY[(SELECT attnum FROM pg_attribute
                                  WHERE attrelid = 'reviews_review'::regclass
                                    AND attname = 'reviewer_id')]
          AND c.relname = 'reviews_review_once_per_party'
        """
    )
    # (transaction_id, reviewer_id) contains reviewer_id but does not lead with it.
    assert rows == [(False,)]


def _index_signatures() -> list[tuple]:
    return fetch(
        f"""
        SELECT i.indrelid::regclass::text, c.relname, i.indisunique,
               i.indkey::text, coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
               i.indclass::text, i.indcollation::text, i.indoption::text,
               coalesce(pg_get_expr(i.indpred, i.indrelid), ''), am.amname
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_am am ON am.oid = c.relam
        WHERE i.indrelid IN ({TABLES_SQL})
        ORDER BY 1, 2
        """
    )


def test_no_table_has_two_indexes_on_the_same_thing():
    """Same method, columns/expressions, opclasses, collations, sort options and predicate.

    Covers a plain index that repeats a unique one (the seed's idx_users_email) as well as
    two plain or two unique copies.
    """
    groups = defaultdict(list)
    for table, name, _unique, *signature in _index_signatures():
        groups[(table, *signature)].append(name)
    duplicates = sorted(sorted(names) for names in groups.values() if len(names) > 1)
    assert duplicates == []


def test_no_project_index_is_a_leading_prefix_of_another():
    """A btree on (a) is redundant next to a btree on (a, b) with the same predicate.

    Limited to the project's own tables: Django's generated many-to-many tables keep a
    per-column index next to their (a, b) unique constraint, which is Django's business.
    """
    ours = project_tables()
    by_table = defaultdict(list)
    for table, name, unique, indkey, exprs, indclass, _coll, indoption, pred, method in _index_signatures():
        if table in ours and method == "btree" and not exprs and not unique:
            by_table[table].append((name, indkey.split(), indclass.split(), indoption.split(), pred))
    for table, name, _unique, indkey, exprs, indclass, _coll, indoption, pred, method in _index_signatures():
        if table not in ours or method != "btree" or exprs:
            continue
        keys, classes, options = indkey.split(), indclass.split(), indoption.split()
        for other, okeys, oclasses, ooptions, opred in by_table[table]:
            if other == name or opred != pred or len(okeys) >= len(keys):
                continue
            n = len(okeys)
            assert (okeys, oclasses, ooptions) != (keys[:n], classes[:n], options[:n]), (
                f"{table}: {other} is a leading prefix of {name}"
            )


def test_every_cents_column_is_bigint():
    rows = fetch(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attname LIKE '%%\\_cents'
        ORDER BY 1, 2
        """
    )
    columns = {f"{table}.{column}": kind for table, column, kind in rows}
    assert "listings_listing.price_cents" in columns
    assert "payments_transaction.seller_payout_cents" in columns
    assert {name: kind for name, kind in columns.items() if kind != "bigint"} == {}


def _check_constraints() -> dict[str, list[tuple[str, list[str]]]]:
    """table -> [(definition, [column names it mentions])] for every CHECK constraint."""
    result = defaultdict(list)
    rows = fetch(
        """
        SELECT con.conrelid::regclass::text, pg_get_constraintdef(con.oid),
               array(SELECT attname FROM pg_attribute
                     WHERE attrelid = con.conrelid AND attnum = ANY (con.conkey))
        FROM pg_constraint con
        JOIN pg_class t ON t.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE con.contype = 'c' AND n.nspname = 'public'
        """
    )
    for table, definition, columns in rows:
        result[table].append((definition, columns))
    return result


def _choices_fields():
    for app_label in PROJECT_APPS:
        for model in apps.get_app_config(app_label).get_models():
            for field in model._meta.concrete_fields:
                if field.choices:
                    yield model, field


def test_project_has_choices_fields_to_check():
    names = {f"{model._meta.label}.{field.name}" for model, field in _choices_fields()}
    assert {
        "listings.Listing.status",
        "notifications.Notification.type",
        "payments.Transaction.status",
    } <= names


@pytest.mark.parametrize(
    ("model", "field"),
    list(_choices_fields()),
    ids=[f"{model._meta.label}.{field.name}" for model, field in _choices_fields()],
)
def test_every_choices_field_is_backed_by_a_check_constraint(model, field):
    """``choices`` is only enforced by full_clean(); QuerySet.update() and raw SQL need a CHECK.

    The CHECK must name exactly the model's choice values, so adding a choice without a
    migration (or a migration without the choice) fails here.
    """
    expected = {str(value) for value, _label in field.flatchoices}
    candidates = [
        definition
        for definition, columns in _check_constraints()[model._meta.db_table]
        if columns == [field.column]
    ]
    values = [set(re.findall(r"'((?:[^']|'')*)'::", definition)) for definition in candidates]
    assert expected in values, f"no CHECK on {model._meta.db_table}.{field.column} lists {sorted(expected)}"


def test_postgresql_is_15_or_newer():
    """Older servers silently ignore NULLS NOT DISTINCT (messaging_conversation_unique)."""
    assert connection.pg_version >= 150000
    (version,) = fetch("SELECT current_setting('server_version_num')::int")[0]
    assert version >= 150000


def test_required_extensions_are_installed():
    installed = {name for (name,) in fetch("SELECT extname FROM pg_extension")}
    assert {"cube", "earthdistance", "pg_trgm"} <= installed


def test_conversation_unique_constraint_really_treats_nulls_as_equal():
    """The proof that Django did not drop nulls_distinct=False on the way to the database."""
    (definition,) = fetch(
        "SELECT pg_get_indexdef('messaging_conversation_unique'::regclass)",
    )[0]
    assert "NULLS NOT DISTINCT" in definition
