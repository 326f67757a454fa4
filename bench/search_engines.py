"""The two searches ``search_bench.py`` measures beside the project, on the same inputs.

- ``naive_search``: the draft a first version would ship (the seed's patterns): ILIKE on
  title and description, attributes compared as text (``attributes->>'ram_gb' >= '8'``),
  the banned-seller rule as a join to every user, OFFSET pagination, an uncapped COUNT and
  one query per result for its seller (N+1). It is also wrong: text comparison finds "8"
  above "16".
- ``TantivyIndex``: a dedicated engine (tantivy, bench-only dependency in
  requirements-dev.txt) over the same searchable listings: title and description (English
  stemming, BM25, title boosted 2x), category, currency and price, position, number
  attributes. Top 24 plus the exact count, as a search engine answers; no facets. Radius is
  a latitude/longitude box (tantivy has no distance), so its counts include the corners.

Both take a valid ``SearchForm``, as the project's ``run_search`` does.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

PAGE = 24
# Number attributes the bench filters on (search_bench.ATTRIBUTE_RANGES and ZERO_ATTRIBUTES).
NUMBER_KEYS = (
    "width",
    "seats",
    "height",
    "storage_gb",
    "ram_gb",
    "megapixels",
    "year",
    "mileage",
    "engine_cc",
    "frame_size",
    "delivery_days",
)


def naive_search(form) -> tuple[list[str], int]:
    """(ids of the first page, exact count) the naive way; see the module docstring."""
    from django.db import connection

    data = form.cleaned_data
    where = ["l.status = 'active'", "l.visibility = 'public'", "u.account_status <> 'banned'"]
    params: list = []
    for word in (data.get("q") or "").split():
        where.append("(l.title ILIKE %s OR l.description ILIKE %s)")
        params += [f"%{word}%", f"%{word}%"]
    if form.category_node is not None:
        where.append("l.category_id::text = ANY(%s)")
        params.append([str(node_id) for node_id in form.category_node.descendant_ids()])
    for attribute, value in form.attribute_filters():
        key = attribute["key"]
        if attribute["type"] == "number":
            low, high = value
            if low is not None:
                where.append("l.attributes->>%s >= %s")
                params += [key, f"{low.normalize():f}"]
            if high is not None:
                where.append("l.attributes->>%s <= %s")
                params += [key, f"{high.normalize():f}"]
    if data.get("min_price_cents") is not None or data.get("max_price_cents") is not None:
        where.append("l.currency = %s")
        params.append(data["currency"])
        if data.get("min_price_cents") is not None:
            where.append("l.price_cents >= %s")
            params.append(data["min_price_cents"])
        if data.get("max_price_cents") is not None:
            where.append("l.price_cents <= %s")
            params.append(data["max_price_cents"])
    distance = None
    if data.get("point"):
        lat, lng = data["point"]
        distance = (
            "earth_distance(ll_to_earth(l.location_lat::float8, l.location_lng::float8), ll_to_earth(%s, %s))"
        )
        where.append(f"{distance} <= %s")
        params += [lat, lng, data["radius_km"] * 1000]
    order = {
        "price_asc": "l.price_cents ASC",
        "price_desc": "l.price_cents DESC",
        "distance": "l.location_lat",  # the draft sorts by latitude for "distance"
    }.get(data["sort"], "l.created_at DESC")
    base = f"FROM listings_listing l JOIN accounts_user u ON u.id = l.seller_id WHERE {' AND '.join(where)}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT l.* {base} ORDER BY {order} OFFSET 0 LIMIT {PAGE}", params)  # noqa: S608
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        cursor.execute(f"SELECT count(*) {base}", params)  # noqa: S608
        total = cursor.fetchone()[0]
        for row in rows:  # N+1: the seller of each card
            cursor.execute("SELECT * FROM accounts_user WHERE id = %s", [row["seller_id"]])
            cursor.fetchone()
    return [str(row["id"]) for row in rows], total


class TantivyIndex:
    """The searchable listings of the current database in a tantivy index on disk, built once
    (``build``) and reused while the listing count is unchanged."""

    def __init__(self, path: Path):
        import tantivy

        self.tantivy = tantivy
        self.path = path
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("id", stored=True, tokenizer_name="raw")
        builder.add_text_field("title", tokenizer_name="en_stem")
        builder.add_text_field("description", tokenizer_name="en_stem")
        builder.add_text_field("category", tokenizer_name="raw")
        builder.add_text_field("currency", tokenizer_name="raw")
        builder.add_integer_field("price", indexed=True, fast=True)
        builder.add_integer_field("published", indexed=True, fast=True)
        builder.add_float_field("lat", indexed=True, fast=True)
        builder.add_float_field("lng", indexed=True, fast=True)
        for key in NUMBER_KEYS:
            builder.add_float_field(f"attr_{key}", indexed=True, fast=True)
        self.schema = builder.build()
        self.index = None

    def open_or_build(self, expected: int) -> float:
        """Open the index holding ``expected`` documents, building it when it does not;
        returns the build time in seconds (0 when reused)."""
        meta = self.path / "bench-meta.json"
        if meta.exists() and json.loads(meta.read_text()).get("documents") == expected:
            self.index = self.tantivy.Index(self.schema, path=str(self.path))
            return 0.0
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        started = time.monotonic()
        count = self._build()
        meta.write_text(json.dumps({"documents": count}))
        return time.monotonic() - started

    def _build(self) -> int:
        from django.db import connection, transaction

        from listings.selectors import public_listings

        self.index = self.tantivy.Index(self.schema, path=str(self.path))
        writer = self.index.writer(heap_size=256_000_000, num_threads=2)
        fields = (
            "id",
            "title",
            "description",
            "category_id",
            "currency",
            "price_cents",
            "published_at",
            "location_lat",
            "location_lng",
            "attributes",
        )
        sql, params = public_listings().values_list(*fields).query.sql_with_params()
        count = 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DECLARE bench_listings NO SCROLL CURSOR FOR {sql}", params)
            while True:
                cursor.execute("FETCH 5000 FROM bench_listings")
                rows = cursor.fetchall()
                if not rows:
                    break
                for (
                    listing_id,
                    title,
                    description,
                    category,
                    currency,
                    price,
                    published,
                    lat,
                    lng,
                    attrs,
                ) in rows:
                    document = {
                        "id": str(listing_id),
                        "title": title,
                        "description": description,
                        "category": str(category),
                        "currency": currency,
                        "published": int(published.timestamp()),
                    }
                    if price is not None:
                        document["price"] = int(price)
                    if lat is not None:
                        document["lat"], document["lng"] = float(lat), float(lng)
                    attributes = json.loads(attrs) if isinstance(attrs, str) else attrs
                    for key in NUMBER_KEYS:
                        value = attributes.get(key)
                        if isinstance(value, int | float) and not isinstance(value, bool):
                            document[f"attr_{key}"] = float(value)
                    writer.add_document(self.tantivy.Document(**{k: [v] for k, v in document.items()}))
                    count += 1
            cursor.execute("CLOSE bench_listings")
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        return count

    def search(self, form) -> tuple[list[str], int]:
        """(ids of the first page, exact count): BM25 with keywords, newest first without."""
        tantivy = self.tantivy
        data = form.cleaned_data
        must = []
        q = (data.get("q") or "").strip()
        if q:
            must.append(
                self.index.parse_query(
                    q, ["title", "description"], field_boosts={"title": 2.0}, conjunction_by_default=True
                )
            )
        if form.category_node is not None:
            must.append(
                tantivy.Query.term_set_query(self.schema, "category", form.category_node.descendant_ids())
            )
        for attribute, value in form.attribute_filters():
            if attribute["type"] == "number" and attribute["key"] in NUMBER_KEYS:
                low, high = (None if bound is None else float(bound) for bound in value)
                must.append(
                    tantivy.Query.range_query(
                        self.schema, f"attr_{attribute['key']}", tantivy.FieldType.Float, low, high
                    )
                )
        if data.get("min_price_cents") is not None or data.get("max_price_cents") is not None:
            must.append(tantivy.Query.term_query(self.schema, "currency", data["currency"]))
            must.append(
                tantivy.Query.range_query(
                    self.schema,
                    "price",
                    tantivy.FieldType.Integer,
                    data.get("min_price_cents"),
                    data.get("max_price_cents"),
                )
            )
        if data.get("point"):
            lat, lng = data["point"]
            degrees = data["radius_km"] / 111.2
            lng_degrees = degrees / max(0.01, math.cos(math.radians(lat)))
            must.append(
                tantivy.Query.range_query(
                    self.schema, "lat", tantivy.FieldType.Float, lat - degrees, lat + degrees
                )
            )
            must.append(
                tantivy.Query.range_query(
                    self.schema, "lng", tantivy.FieldType.Float, lng - lng_degrees, lng + lng_degrees
                )
            )
        query = (
            tantivy.Query.boolean_query([(tantivy.Occur.Must, part) for part in must])
            if must
            else tantivy.Query.all_query()
        )
        searcher = self.index.searcher()
        if q and data["sort"] == "relevance":
            result = searcher.search(query, PAGE, count=True)
        else:
            field = {"price_asc": "price", "price_desc": "price"}.get(data["sort"], "published")
            order = tantivy.Order.Asc if data["sort"] == "price_asc" else tantivy.Order.Desc
            result = searcher.search(query, PAGE, count=True, order_by_field=field, order=order)
        ids = [searcher.doc(address)["id"][0] for _, address in result.hits]
        return ids, result.count
