"""The category tree: read whole from the database once, cached in Redis under a versioned
key, and the attribute schema a category's listings follow (its ancestors' attributes first).

Services, selectors, search and forms read categories through here; it imports no other
listings module but the models.
"""

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.cache import cache

from listings.models import Category
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


# The last tree this process read, with its version: a version names one tree for good (a
# change bumps it), so the process keeps it instead of reading and unpickling it again (every
# search page asks for it). Read-only: callers never change a node.
_last_tree: tuple[object, CategoryTree] | None = None


def category_tree() -> CategoryTree:
    """The whole tree, one query on a cache miss; cached in Redis under a versioned key, and in
    the process for the version it was read under (one Redis read per call: the version)."""
    global _last_tree
    # A lost version key restarts from the clock, never from a number an old tree was filed under.
    version = cache.get_or_set(CATEGORY_TREE_VERSION_KEY, time.time_ns, timeout=None)
    if _last_tree is not None and _last_tree[0] == version:
        return _last_tree[1]
    key = f"category-tree:v{version}"
    tree = cache.get(key)
    if tree is None:
        tree = on_primary(_build_category_tree)  # filed under the current version: never stale rows
        cache.set(key, tree, CATEGORY_TREE_TTL)
    tree.version = version
    _last_tree = (version, tree)
    return tree


def attach_categories(listings: Iterable, tree: CategoryTree) -> None:
    """Give each listing (loaded with ``category_id``, without its category) its category
    from ``tree``, in place of a JOIN: building 24 categories from the rows of a results page
    (``select_related``) costs 0.5 ms, more than the query. Each category is an instance with
    id, name, slug, icon and parent loaded (any other field is deferred: read on access), one
    per category. A category the tree lacks (created after the version it was read under) is
    left to the usual lazy load."""
    made: dict = {}
    for listing in listings:
        key = str(listing.category_id)
        if key not in made:
            node = tree.by_id.get(key)
            made[key] = None if node is None else _category_from_node(node, listing._state.db)
        if made[key] is not None:
            listing.category = made[key]


def _category_from_node(node: CategoryNode, db: str | None) -> Category:
    loaded = {
        "id": uuid.UUID(node.id),
        "name": node.name,
        "slug": node.slug,
        "icon": node.icon,
        "parent_id": uuid.UUID(node.parent_id) if node.parent_id else None,
    }
    names = [f.attname for f in Category._meta.concrete_fields if f.attname in loaded]
    return Category.from_db(db, names, [loaded[name] for name in names])


def bump_category_tree_version() -> None:
    """Invalidate the cached tree (call on commit of any category change)."""
    try:
        cache.incr(CATEGORY_TREE_VERSION_KEY)
    except ValueError:
        cache.set(CATEGORY_TREE_VERSION_KEY, time.time_ns(), timeout=None)


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
