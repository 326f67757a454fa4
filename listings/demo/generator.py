"""Rows for the demo load: users and listings (with their favorites), invented from the
catalogue with one ``random.Random``, so that a seed always gives the same rows."""

from __future__ import annotations

import base64
import bisect
import itertools
import json
import math
import random
import re
import string
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings

from listings.cities import CITIES, City
from listings.demo.catalogue import (
    CLOSERS,
    CONDITION_PRICE,
    CONDITION_SENTENCES,
    COUNTRY_CURRENCY,
    COUNTRY_WEIGHTS,
    CURRENT_YEAR,
    DOLLAR_RATE,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    LOGISTICS,
    OPENERS,
    REMOTE_LOGISTICS,
    SELLER_BIOS,
    SHOP_WORDS,
    STATUS_WEIGHTS,
    VISIBILITY_WEIGHTS,
    Spec,
)
from listings.services import attributes_normalise

DEMO_SELLER_EMAIL = "seller@example.com"
DEMO_BUYER_EMAIL = "buyer@example.com"
LISTING_HISTORY_DAYS = 180
NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass
class LeafPlan:
    """A leaf category as the generator uses it: its row, merged schema and spec."""

    id: str
    name: str
    slug: str
    spec: Spec
    schema: list[dict]
    images: list[str] = field(default_factory=list)


def random_uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _format_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if value >= 10_000 else str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@lru_cache(maxsize=4096)
def _lower(text: str) -> str:
    """Lower case for the middle of a sentence, keeping acronyms: "DSLR camera", "SUV"."""
    return " ".join(word if len(word) > 1 and word.isupper() else word.lower() for word in text.split(" "))


def _template_fields(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def _pick(items: Sequence, random_: Callable[[], float]):
    """``rng.choice``, for hot loops: one call to ``rng.random``."""
    return items[int(random_() * len(items))]


class _Weighted:
    """A weighted choice by bisection over cumulative weights."""

    def __init__(self, items: Sequence, weights: Iterable[float]):
        self.items = list(items)
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self, random_: Callable[[], float]):
        return self.items[bisect.bisect(self.cumulative, random_() * self.total)]


@dataclass
class _Attribute:
    """One attribute of a leaf's merged schema and how to invent its value."""

    key: str
    kind: str
    always: bool
    role: str = ""  # "parent" or "child" of the leaf's linked pair
    choices: Sequence | None = None
    low: float = 0
    step: float = 1
    span: int = 1
    decimals: bool = False
    chance: float = 0.5


class LeafRecipe:
    """A leaf category compiled once: its attributes in schema order, titles and wording."""

    def __init__(self, leaf: LeafPlan):
        spec = leaf.spec
        self.leaf, self.spec = leaf, spec
        self.titles = [(template, _template_fields(template)) for template in spec.titles]
        self.item = (spec.item, _template_fields(spec.item))
        # Keys the templates mention are always generated, so that every template is usable.
        wanted = frozenset().union(self.item[1], *(names for _, names in self.titles))
        self.parent_key, self.child_key, self.table = spec.linked or (None, None, {})
        self.parents = list(self.table)
        self.by_key = {entry["key"]: entry for entry in leaf.schema}
        self.attributes = [
            self._compile(entry, wanted) for entry in leaf.schema if entry["key"] not in spec.skip
        ]
        self.details = [
            (entry["key"], entry["type"], entry["label"], f" {entry['unit']}" if entry.get("unit") else "")
            for entry in leaf.schema
            if entry["key"] != "condition"
        ]
        types = list(spec.pricing)
        self.pricing = _Weighted(types, [spec.pricing[name][0] for name in types])

    def _compile(self, entry: dict, wanted: frozenset[str]) -> _Attribute:
        key, kind, spec = entry["key"], entry["type"], self.spec
        attribute = _Attribute(key=key, kind=kind, always=bool(entry.get("required")) or key in wanted)
        if key == self.parent_key:
            attribute.role = "parent"
        elif key == self.child_key:
            attribute.role = "child"
        if kind == "enum":
            options = entry["options"]
            attribute.choices = [
                option for option in spec.options.get(key, ()) if option in options
            ] or options
        elif kind == "number":
            hint = spec.numbers.get(key, (1, 100, 1))
            if isinstance(hint, list):
                attribute.choices = hint
            else:
                low, high, step = hint
                attribute.low, attribute.step = low, step
                attribute.span = int((high - low) / step) + 1
                attribute.decimals = isinstance(step, float)
        elif kind == "boolean":
            attribute.chance = spec.booleans.get(key, 0.5)
        else:
            attribute.choices = spec.texts.get(key) or FIRST_NAMES
        return attribute

    def attributes_for(self, rng: random.Random) -> dict:
        """Typed values: numbers as numbers, enum values among the options."""
        random_ = rng.random
        values: dict = {}
        overrides = None
        for attribute in self.attributes:
            if not attribute.always and random_() >= 0.85:
                continue
            key = attribute.key
            if attribute.role == "parent":
                values[key] = _pick(self.parents, random_)
            elif attribute.role == "child" and self.parent_key in values:
                choice = _pick(self.table[values[self.parent_key]], random_)
                if isinstance(choice, tuple):
                    choice, overrides = choice
                values[key] = choice
            elif attribute.kind == "boolean":
                values[key] = random_() < attribute.chance
            elif attribute.choices is not None:
                values[key] = _pick(attribute.choices, random_)
            else:
                value = attribute.low + int(random_() * attribute.span) * attribute.step
                values[key] = round(value, 2) if attribute.decimals else int(value)
        if overrides:
            for key, value in overrides.items():
                entry = self.by_key.get(key)
                if entry and (entry["type"] != "enum" or value in entry["options"]):
                    values[key] = value
        if self.spec.adjust:
            self.spec.adjust(values, rng)
        return values

    def words(self, values: dict, rng: random.Random) -> tuple[str, str]:
        """Title and opening paragraph from the leaf's word lists and the attributes."""
        random_, spec = rng.random, self.spec
        fields: dict[str, str] = {}
        for key, value in values.items():
            if isinstance(value, str):
                fields[key], fields[f"{key}_l"] = value, _lower(value)
            else:
                fields[key] = fields[f"{key}_l"] = _format_value(value)
        fields["noun"] = _pick(spec.nouns, random_) if spec.nouns else self.leaf.name.lower()
        fields["adjective"] = _pick(spec.adjectives, random_) if spec.adjectives else "Great"
        available = fields.keys()
        usable = [template for template, names in self.titles if names <= available] or ["{noun}"]
        title = _pick(usable, random_).format_map(fields)
        item = self.item[0].format_map(fields) if self.item[1] <= available else fields["noun"]
        fields["item"], fields["Item"] = item, item[:1].upper() + item[1:]

        sentences = [_pick(OPENERS[spec.kind], random_).format_map(fields)]
        condition = values.get("condition")
        if condition in CONDITION_SENTENCES:
            sentences.append(CONDITION_SENTENCES[condition])
        if spec.features:
            sentences.extend(rng.sample(spec.features, min(len(spec.features), 1 + int(random_() * 3))))
        return (title[:1].upper() + title[1:])[:255], " ".join(sentences)

    def details_for(self, values: dict) -> str:
        parts = []
        for key, kind, label, unit in self.details:
            value = values.get(key)
            if value is None or value is False:
                continue
            parts.append(label if kind == "boolean" else f"{label}: {_format_value(value)}{unit}")
        return f"Details: {'; '.join(parts)}." if parts else ""

    def price(self, values: dict, currency: str, rng: random.Random) -> tuple[int | None, str]:
        """Minor units of ``currency`` (None: contact for price) and the pricing type."""
        spec, random_ = self.spec, rng.random
        pricing_type = self.pricing.pick(random_)
        low, high = spec.pricing[pricing_type][1] or spec.price
        if spec.price_by and values.get(spec.price_by[0]) in spec.price_by[1]:
            low, high = spec.price_by[1][values[spec.price_by[0]]]
        if random_() < spec.contact_rate:
            return None, pricing_type
        amount = math.exp(math.log(low) + (math.log(high) - math.log(low)) * random_())
        amount *= CONDITION_PRICE.get(values.get("condition"), 1.0)
        if "year" in values:
            amount *= spec.depreciation ** max(0, CURRENT_YEAR - values["year"])
        amount = max(amount, low * 0.15) * DOLLAR_RATE.get(currency, 1.0)
        return _nice_amount(amount, settings.CURRENCIES.get(currency, 2), random_), pricing_type


def _nice_amount(amount: float, exponent: int, random_: Callable[[], float]) -> int:
    """A price a person would ask: 45, 120, 1,450, 18,500, sometimes ending in .99."""
    steps = ((10, 0.5), (100, 1), (1_000, 5), (10_000, 50), (100_000, 500))
    step = next((step for limit, step in steps if amount < limit), 5_000)
    value = max(step, round(amount / step) * step)
    minor = int(round(value * 10**exponent))
    if exponent and value < 1_000 and random_() < 0.3:
        minor -= 1  # 49.99
    return minor


def share_token(rng: random.Random) -> str:
    return base64.urlsafe_b64encode(rng.getrandbits(128).to_bytes(16, "big")).rstrip(b"=").decode()


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, remainder = divmod(number, 36)
        text = digits[remainder] + text
        if not number:
            return text


def _slug(title: str, number: int) -> str:
    """The title's words and a per-load number: unique in a load into an empty table."""
    return f"{NOT_SLUG.sub('-', title.lower()).strip('-')[:200] or 'listing'}-{_base36(number)}"


def _currency_for(city: City | None) -> str:
    preferred = COUNTRY_CURRENCY.get(city.country, "USD") if city else "USD"
    return preferred if preferred in settings.CURRENCIES else settings.DEFAULT_CURRENCY


def generate_users(
    rng: random.Random, count: int, password_hash: str, now: datetime, existing: dict, number_from: int = 0
):
    """Rows for ``accounts_user`` (index 0 the demo seller, 1 the demo buyer) and the ids.

    ``existing`` maps a demo email to the id of an account that already has it: that
    account is reused (and not written again). Bulk emails are numbered from
    ``number_from`` (the users already there), so they never meet an earlier load's.
    """
    ids, sellers, rows = [], [], []
    for index in range(count):
        user_id = str(random_uuid(rng))
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = now - timedelta(days=rng.uniform(LISTING_HISTORY_DAYS + 5, 730))
        if index == 0:
            email, first, last, is_seller, status = DEMO_SELLER_EMAIL, "Sam", "Rivera", True, "active"
        elif index == 1:
            email, first, last, is_seller, status = DEMO_BUYER_EMAIL, "Alex", "Morgan", False, "active"
        else:
            email = f"{first}.{last}.{number_from + index}@{rng.choice(EMAIL_DOMAINS)}".lower()
            is_seller = rng.random() < 0.25
            roll = rng.random()
            status = "banned" if roll < 0.003 else "suspended" if roll < 0.01 else "active"
        demo = index < 2
        verified = demo or is_seller or rng.random() < 0.9
        kyc = is_seller and (demo or rng.random() < 0.4)
        seller_verified = kyc and (demo or rng.random() < 0.6)
        phone = demo or rng.random() < 0.5
        stamp = created + timedelta(hours=rng.uniform(1, 72))
        if is_seller:
            shop = first if index else "Sam"
            display_name = (
                f"{first} {last}" if rng.random() < 0.5 else f"{shop}'s {_pick(SHOP_WORDS, rng.random)}"
            )
        else:
            display_name = ""
        if email in existing:
            user_id = existing[email]
        else:
            rows.append(
                (
                    user_id,
                    password_hash,
                    now - timedelta(days=rng.uniform(0, 30)) if rng.random() < 0.7 else None,
                    False,
                    email,
                    stamp if verified else None,
                    first,
                    last,
                    "",
                    rng.choice(SELLER_BIOS) if is_seller else "",
                    is_seller,
                    display_name,
                    False,
                    status != "banned",
                    stamp + timedelta(days=3) if seller_verified else None,
                    None,
                    0,
                    None,
                    0,
                    0,
                    None,
                    0,
                    0,
                    f"+1555{rng.randrange(10**7):07d}" if phone else "",
                    stamp if phone else None,
                    stamp + timedelta(days=2) if kyc else None,
                    status,
                    created,
                    stamp,
                )
            )
        ids.append(user_id)
        if is_seller and status == "active":
            sellers.append(index)
    return ids, sellers, rows


def generate_listings(
    rng: random.Random,
    leaves: list[LeafPlan],
    count: int,
    user_ids: list[str],
    sellers: list[int],
    favorites_out,
    now: datetime,
):
    """Yield listing rows; write their favorites (COPY text lines) to ``favorites_out``.

    Returns, as the generator's value, the number of favorites written.
    """
    random_ = rng.random
    recipes = _Weighted([LeafRecipe(leaf) for leaf in leaves], [max(1, leaf.spec.weight) for leaf in leaves])
    cities = _Weighted(CITIES, [COUNTRY_WEIGHTS.get(city.country, 1) for city in CITIES])
    statuses = _Weighted([name for name, _ in STATUS_WEIGHTS], [weight for _, weight in STATUS_WEIGHTS])
    visibilities = _Weighted(
        [name for name, _ in VISIBILITY_WEIGHTS], [weight for _, weight in VISIBILITY_WEIGHTS]
    )
    demo_share = min(12, max(1, count // 10))
    others = [index for index in sellers if index != 0] or [0]
    demo_buyer_odds = min(1.0, 15 / max(1, count))
    favorites = 0
    for number in range(1, count + 1):
        listing_id = str(random_uuid(rng))
        recipe = recipes.pick(random_)
        leaf, kind = recipe.leaf, recipe.spec.kind
        seller = 0 if number <= demo_share else others[int(len(others) * random_() ** 2)]
        attributes = recipe.attributes_for(rng)
        title, opening = recipe.words(attributes, rng)
        city = None if kind == "service" and random_() < 0.15 else cities.pick(random_)  # online-only
        currency = _currency_for(city)
        price_cents, pricing_type = recipe.price(attributes, currency, rng)
        status, visibility = statuses.pick(random_), visibilities.pick(random_)
        if price_cents is None and status in ("sold", "reserved"):
            status = "active"

        logistics = (
            _pick(LOGISTICS[kind], random_).format(city=city.name)
            if city
            else _pick(REMOTE_LOGISTICS, random_)
        )
        closer = _pick(CLOSERS.get(pricing_type, CLOSERS["fixed"]), random_)
        details = recipe.details_for(attributes)
        description = (
            f"{opening}\n\n{details}\n\n{logistics} {closer}"
            if details
            else f"{opening}\n\n{logistics} {closer}"
        )

        if city:
            lat = city.lat + (random_() - 0.5) * 0.16
            lng = city.lng + (random_() - 0.5) * 0.16 / max(0.2, math.cos(math.radians(city.lat)))
            lat_text, lng_text = f"{lat:.6f}", f"{lng:.6f}"
        else:
            lat_text = lng_text = None

        if status == "draft":
            published = None
            created = now - timedelta(days=60 * random_())
        else:
            published = now - timedelta(days=LISTING_HISTORY_DAYS * random_() ** 1.3)
            created = published - timedelta(hours=0.1 + 48 * random_())
        sold = published + (now - published) * (0.1 + 0.85 * random_()) if status == "sold" else None
        updated = sold or published or created
        featured = status == "active" and visibility == "public" and random_() < 0.03
        featured_until = now + timedelta(days=1 + 29 * random_()) if featured else None

        photos = rng.sample(leaf.images, 1 + int(random_() * len(leaf.images))) if leaf.images else []

        fans = 0
        if published and visibility == "public":
            wanted = int(rng.expovariate(1 / (4.0 if featured else 1.3)))
            picked = []
            if wanted:
                # One spare in case the seller is drawn; distinct users, so pairs are unique.
                drawn = rng.sample(range(len(user_ids)), min(wanted + 1, len(user_ids)))
                picked = [fan for fan in drawn if fan != seller][:wanted]
            if random_() < demo_buyer_odds and seller != 1 and 1 not in picked:
                picked.append(1)  # the demo buyer has a few favorites to show
            for fan in picked:
                when = published + (now - published) * random_()
                favorites_out.write(
                    f"{random_uuid(rng)}\t{user_ids[fan]}\t{listing_id}\t{when.isoformat()}\n"
                )
            fans = len(picked)
            favorites += fans
        views = int(rng.expovariate(1 / 60)) + fans * (5 + int(random_() * 11)) if published else 0

        yield (
            listing_id,
            user_ids[seller],
            leaf.id,
            title,
            _slug(title, number),
            description,
            price_cents,
            currency,
            pricing_type,
            # Stored through the one check every write path uses (typed, against the schema).
            json.dumps(
                attributes_normalise(schema=leaf.schema, attributes=attributes, category_name=leaf.name)
            ),
            json.dumps(photos),
            "[]",
            photos[0] if photos else "",
            city.country if city else "",
            city.name if city else "",
            lat_text,
            lng_text,
            status,
            visibility,
            share_token(rng),
            featured,
            featured_until,
            "",
            "",
            views,
            fans,
            0,
            created,
            updated,
            published,
            sold,
        )
    return favorites
