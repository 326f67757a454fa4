"""Reads of listings and categories for public pages."""

from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import AccountStatus
from listings.models import Category, Listing, ListingStatus, ListingVisibility

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


def category_tree() -> CategoryTree:
    """The whole tree, one query on a cache miss; cached in Redis under a versioned key."""
    version = cache.get_or_set(CATEGORY_TREE_VERSION_KEY, 1, timeout=None)
    key = f"category-tree:v{version}"
    tree = cache.get(key)
    if tree is None:
        tree = _build_category_tree()
        cache.set(key, tree, CATEGORY_TREE_TTL)
    return tree


def bump_category_tree_version() -> None:
    """Invalidate the cached tree (call on commit of any category change)."""
    try:
        cache.incr(CATEGORY_TREE_VERSION_KEY)
    except ValueError:
        cache.set(CATEGORY_TREE_VERSION_KEY, 2, timeout=None)


def public_listings() -> QuerySet[Listing]:
    """Listings anyone may find: active, public, and not sold by a banned account."""
    return Listing.objects.filter(status=ListingStatus.ACTIVE, visibility=ListingVisibility.PUBLIC).exclude(
        seller__account_status=AccountStatus.BANNED
    )


def featured_listings(limit: int = 8) -> list[Listing]:
    now = timezone.now()
    return list(
        public_listings()
        .filter(Q(featured=True), Q(featured_until__isnull=True) | Q(featured_until__gt=now))
        .select_related("seller", "category")
        .order_by("-published_at", "id")[:limit]
    )


def newest_listings(limit: int = 12) -> list[Listing]:
    newest = public_listings().select_related("seller", "category").order_by("-published_at", "id")
    return list(newest[:limit])
