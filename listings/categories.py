"""The category tree: read whole from the database once, cached in Redis under a versioned
key, and the attribute schema a category's listings follow (its ancestors' attributes first).

Services, selectors, search and forms read categories through here; it imports no other
listings module but the models.
"""

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from listings.models import Category, Listing
from marketplace.db import loaded_instances
from marketplace.db_router import on_primary

CATEGORY_TREE_VERSION_KEY = "category-tree-version"
CATEGORY_TREE_TTL = 60 * 60


@dataclass
class CategoryNode:
    id: str
    name: str
    slug: str
    icon: str
    parent_id: str | None
    attribute_schema: list
    children: list["CategoryNode"] = field(default_factory=list)

    def descendant_ids(self) -> list[str]:
        ids = [self.id]
        for child in self.children:
            ids.extend(child.descendant_ids())
        return ids


@dataclass
class CategoryTree:
    roots: list[CategoryNode]
    by_id: dict[str, CategoryNode]
    by_slug: dict[str, CategoryNode]
    # The version of CATEGORY_TREE_VERSION_KEY this tree was read under (set by category_tree).
    version: object = field(default=None, compare=False)

    def ancestors(self, node: CategoryNode) -> list[CategoryNode]:
        chain = []
        while node.parent_id:
            node = self.by_id[node.parent_id]
            chain.append(node)
        return list(reversed(chain))


def _build_category_tree() -> CategoryTree:
    nodes = [
        CategoryNode(
            id=str(category.id),
            name=category.name,
            slug=category.slug,
            icon=category.icon,
            parent_id=str(category.parent_id) if category.parent_id else None,
            attribute_schema=category.attribute_schema,
        )
        for category in Category.objects.order_by("sort_order", "name")
    ]
    by_id = {node.id: node for node in nodes}
    roots = []
    for node in nodes:
        if node.parent_id and node.parent_id in by_id:
            by_id[node.parent_id].children.append(node)
        else:
            roots.append(node)
    return CategoryTree(roots=roots, by_id=by_id, by_slug={node.slug: node for node in nodes})


# The last tree this process read: (version, tree, when the version was read, monotonic
# seconds). A version names one tree for good (a change bumps it), so the process keeps it
# instead of reading and unpickling it again (every search page asks for it), and asks Redis
# for the version at most every CATEGORY_TREE_CHECK_SECONDS. Read-only: callers never change
# a node. Replaced under _tree_lock only, never by an older version, nor by a read that
# started before the last forget_category_tree() (_tree_generation): threads of one process
# serve requests side by side, and a slow read must not bring back the tree a bump retired.
_last_tree: tuple[object, "CategoryTree", float] | None = None
_tree_generation = 0
_tree_lock = threading.Lock()
_clock = time.monotonic


def category_tree(*, fresh: bool = False) -> CategoryTree:
    """The whole tree, one query on a cache miss; cached in Redis under a versioned key, and in
    the process for the version it was read under.

    The version is read from Redis at most every ``CATEGORY_TREE_CHECK_SECONDS`` (1 s) per
    process (0: on every call), and on every call with ``fresh`` (services and forms that
    validate a listing's details against its category's schema): a category change reaches
    the process that made it at once (``bump_category_tree_version``) and the pages of the
    other processes within that time. Whatever is filed under a tree version (the home page,
    a listing page, a search page, the counts) takes it from the tree (``tree.version``),
    never from Redis, so it names the tree that built it or an older one."""
    global _last_tree
    last = _last_tree
    checked = _clock()
    if not fresh and last is not None and checked - last[2] < settings.CATEGORY_TREE_CHECK_SECONDS:
        return last[1]
    generation = _tree_generation
    # A lost version key restarts from the clock, never from a number an old tree was filed under.
    version = cache.get_or_set(CATEGORY_TREE_VERSION_KEY, time.time_ns, timeout=None)
    if last is not None and last[0] == version:
        tree = last[1]
    else:
        key = f"category-tree:v{version}"
        tree = cache.get(key)
        if tree is None:
            tree = on_primary(_build_category_tree)  # filed under the current version: never stale rows
            cache.set(key, tree, CATEGORY_TREE_TTL)
        tree.version = version
    with _tree_lock:
        current = _last_tree
        older = current is not None and _is_older(version, current[0])
        if generation == _tree_generation and not older:
            _last_tree = (version, tree, checked)
    return tree


def _is_older(version, than) -> bool:
    # Versions only grow (INCR, or the clock when the key was lost).
    return isinstance(version, int) and isinstance(than, int) and version < than


def forget_category_tree() -> None:
    """Make this process read the tree's version on its next ``category_tree()`` (and keep no
    tree from a read that started before)."""
    global _last_tree, _tree_generation
    with _tree_lock:
        _tree_generation += 1
        _last_tree = None


def attach_categories(listings: Iterable, tree: CategoryTree) -> None:
    """Give each listing (loaded with ``category_id``, without its category) its category
    from ``tree``, in place of a JOIN: building 24 categories from the rows of a results page
    (``select_related``) costs 0.5 ms, more than the query. Each category is an instance with
    id, name, slug, icon and parent loaded (any other field is deferred: read on access), one
    per category, cached on the listing as ``select_related`` caches it. A category the tree
    lacks (created after the version it was read under) is left to the usual lazy load."""
    made: dict = {}
    cache_category = Listing._meta.get_field("category").set_cached_value
    for listing in listings:
        key = listing.category_id
        if key not in made:
            node = tree.by_id.get(str(key))
            made[key] = None if node is None else _category_from_node(node, listing._state.db)
        if made[key] is not None:
            cache_category(listing, made[key])


# What a category from the tree has loaded, in the model's field order.
_NODE_FIELDS = tuple(
    field.attname
    for field in Category._meta.concrete_fields
    if field.attname in ("id", "name", "slug", "icon", "parent_id")
)


def _category_from_node(node: CategoryNode, db: str | None) -> Category:
    loaded = {
        "id": uuid.UUID(node.id),
        "name": node.name,
        "slug": node.slug,
        "icon": node.icon,
        "parent_id": uuid.UUID(node.parent_id) if node.parent_id else None,
    }
    return loaded_instances(Category, _NODE_FIELDS, [[loaded[name] for name in _NODE_FIELDS]], db)[0]


def bump_category_tree_version() -> None:
    """Invalidate the cached tree (call on commit of any category change): this process reads
    the new version at once, the others within CATEGORY_TREE_CHECK_SECONDS."""
    try:
        cache.incr(CATEGORY_TREE_VERSION_KEY)
    except ValueError:
        cache.set(CATEGORY_TREE_VERSION_KEY, time.time_ns(), timeout=None)
    forget_category_tree()


def attribute_schema_for(node: CategoryNode | None, tree: CategoryTree | None = None) -> list[dict]:
    """The category's attributes, its ancestors' first (children may add their own). ``tree``:
    the tree ``node`` came from, when the caller has it (saves reading the version again)."""
    if node is None:
        return []
    tree = tree or category_tree()
    schema, seen = [], set()
    for category in [*tree.ancestors(node), node]:
        for attribute in category.attribute_schema:
            if attribute.get("key") not in seen:
                seen.add(attribute.get("key"))
                schema.append(attribute)
    return schema
