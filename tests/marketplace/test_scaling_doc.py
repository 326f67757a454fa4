"""docs/scaling.md cannot drift from the schema: its Citus table map, and the unique constraints
and foreign keys it says must change, are checked against the live catalog of the migrated test
database. A new table, unique constraint or foreign key fails this test until the document
says where it goes."""

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"
KINDS = {"distributed", "reference", "local"}

pytestmark = pytest.mark.django_db


def _cells(line: str) -> list[str]:
    return [cell.strip().strip("`").strip() for cell in line.strip().strip("|").split("|")]


def doc_table(heading: str) -> list[dict[str, str]]:
    """The rows of the first Markdown table under ``## heading``, keyed by column title."""
    text = DOC.read_text()
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"docs/scaling.md has no section '## {heading}'"
    lines = [line for line in match.group(1).splitlines() if line.strip().startswith("|")]
    assert len(lines) >= 2, f"section '{heading}' has no table"
    header = [cell.lower() for cell in _cells(lines[0])]
    return [dict(zip(header, _cells(line), strict=True)) for line in lines[2:]]


@dataclass(frozen=True)
class Placement:
    kind: str
    column: str
    group: str
    new_column: bool  # "seller_id (new)": added before distributing, so absent from the schema


def table_map() -> dict[str, Placement]:
    placements = {}
    for row in doc_table("Table map"):
        table = row["table"]
        assert table not in placements, f"{table} is mapped twice"
        assert row["kind"] in KINDS, f"{table}: kind {row['kind']!r} is not one of {sorted(KINDS)}"
        assert row["why"], f"{table}: give the reason"
        if row["kind"] == "distributed":
            assert row["distribution column"] and row["co-location group"], f"{table}: column and group"
        column, _, note = row["distribution column"].partition(" ")
        column = column.strip("`")
        placements[table] = Placement(row["kind"], column, row["co-location group"], note == "(new)")
    return placements


def _fetch(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def schema_tables() -> dict[str, set[str]]:
    """Top-level tables of the public schema (partitions belong to their parent) -> columns."""
    rows = _fetch(
        """
        SELECT c.relname, a.attname FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        """
    )
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def unique_indexes() -> list[tuple[str, str, list[str]]]:
    """(table, index name, key columns) of every unique index (primary keys, unique constraints,
    unique indexes, partial or on expressions: an expression key counts as no column)."""
    rows = _fetch(
        """
        SELECT t.relname, i.relname,
               array(SELECT coalesce(a.attname, '') FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
                     LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                     ORDER BY k.ord)
        FROM pg_index x
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' AND x.indisunique AND t.relkind IN ('r', 'p') AND NOT t.relispartition
        """
    )
    return [(table, index, list(columns)) for table, index, columns in rows]


def foreign_keys() -> list[tuple[str, str, list[str], str, list[str]]]:
    """(table, constraint, columns, referenced table, referenced columns), partitions' clones left out."""
    rows = _fetch(
        """
        SELECT t.relname, c.conname,
               array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
               r.relname,
               array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o)
        FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_class r ON r.oid = c.confrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE c.contype = 'f' AND n.nspname = 'public' AND c.conparentid = 0 AND NOT t.relispartition
        """
    )
    return [(t, name, list(cols), ref, list(ref_cols)) for t, name, cols, ref, ref_cols in rows]


def listed(heading: str) -> set[tuple[str, str]]:
    rows = doc_table(heading)
    for row in rows:
        assert row["change"], f"{heading}: {row['table']}.{row['constraint']} needs its change"
    return {(row["table"], row["constraint"]) for row in rows}


def test_every_table_is_mapped_and_every_distribution_column_exists():
    placements, tables = table_map(), schema_tables()
    assert sorted(set(tables) - set(placements)) == [], "tables the document does not map"
    assert sorted(set(placements) - set(tables)) == [], "mapped tables the schema does not have"
    for table, placement in placements.items():
        if placement.kind == "distributed" and placement.new_column:
            assert placement.column not in tables[table], f"{table}.{placement.column} exists: not (new)"
        elif placement.kind == "distributed":
            assert placement.column in tables[table], f"{table} has no column {placement.column}"


def _needs_change_unique(placements) -> set[tuple[str, str]]:
    found = set()
    for table, index, columns in unique_indexes():
        placement = placements.get(table)
        if placement and placement.kind == "distributed" and placement.column not in columns:
            found.add((table, index))
    return found


def test_unique_constraints_on_distributed_tables_hold_the_distribution_column_or_are_listed():
    placements = table_map()
    needed = _needs_change_unique(placements)
    documented = listed("Unique constraints that change")
    assert sorted(needed - documented) == [], "unique constraints Citus would refuse, not in the document"
    assert sorted(documented - needed) == [], "listed unique constraints that need no change (or are gone)"


def _fk_needs_change(placements, table, columns, ref, ref_columns) -> bool:
    source, target = placements[table], placements[ref]
    if target.kind == "reference":
        return False  # every kind of table may reference a reference table
    if source.kind == "local" and target.kind == "local":
        return False
    if source.kind == "distributed" and target.kind == "distributed":
        co_located = source.group == target.group
        pairs = dict(zip(columns, ref_columns, strict=True))
        return not (co_located and pairs.get(source.column) == target.column)
    return True  # into a distributed table from elsewhere, or anything into a coordinator-local one


def test_foreign_keys_between_distributed_tables_are_co_located_or_listed():
    placements = table_map()
    needed = {
        (table, name)
        for table, name, columns, ref, ref_columns in foreign_keys()
        if _fk_needs_change(placements, table, columns, ref, ref_columns)
    }
    documented = listed("Foreign keys that change")
    assert sorted(needed - documented) == [], "foreign keys Citus would refuse, not in the document"
    assert sorted(documented - needed) == [], "listed foreign keys that need no change (or are gone)"
