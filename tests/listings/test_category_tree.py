import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from listings.categories import attach_categories, bump_category_tree_version, category_tree
from listings.models import Category, Listing
from tests.factories import CategoryFactory, ListingFactory

pytestmark = pytest.mark.django_db


def test_database_refuses_a_cycle_in_the_category_tree():
    root = CategoryFactory()
    child = CategoryFactory(parent=root)
    grandchild = CategoryFactory(parent=child)
    with pytest.raises(IntegrityError, match="own descendant"), transaction.atomic():
        Category.objects.filter(pk=root.pk).update(parent=grandchild)
    root.refresh_from_db()
    assert root.parent_id is None


def test_moving_a_subtree_elsewhere_is_allowed():
    first, second = CategoryFactory(), CategoryFactory()
    child = CategoryFactory(parent=first)
    Category.objects.filter(pk=child.pk).update(parent=second)
    child.refresh_from_db()
    assert child.parent_id == second.pk


def test_clean_explains_a_cycle_on_the_parent_field():
    root = CategoryFactory()
    child = CategoryFactory(parent=root)
    root.parent = child
    with pytest.raises(ValidationError) as error:
        root.full_clean()
    assert "parent" in error.value.message_dict


def test_a_category_saved_in_the_admin_shows_in_the_cached_tree(
    admin_client, django_capture_on_commit_callbacks
):
    from listings.categories import category_tree

    root = CategoryFactory(name="Furniture", slug="furniture")
    assert category_tree().by_slug["furniture"].name == "Furniture"  # cached now
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/listings/category/{root.pk}/change/",
            {
                "name": "Home furniture",
                "slug": "furniture",
                "parent": "",
                "icon": "",
                "sort_order": 0,
                "attribute_schema": "[]",
            },
        )
    assert response.status_code == 302, response.content
    assert category_tree().by_slug["furniture"].name == "Home furniture"


def test_the_process_keeps_the_tree_of_a_version_and_reads_a_new_one_after_a_bump(
    django_assert_num_queries,
):
    from django.core.cache import cache

    from listings.categories import bump_category_tree_version, category_tree

    CategoryFactory(slug="kept-a")
    bump_category_tree_version()
    tree = category_tree()
    assert "kept-a" in tree.by_slug
    cache.delete_pattern("category-tree:v*")  # Redis lost the tree: the process's copy answers
    with django_assert_num_queries(0):
        assert category_tree() is tree
    CategoryFactory(slug="kept-b")
    bump_category_tree_version()
    assert "kept-b" in category_tree().by_slug


def test_a_lost_tree_version_restarts_from_the_clock_never_from_a_used_number(seller_listing):
    """A process keeps the tree of a version: no version may name two trees, so the listing
    page's key, which also starts the version when it is missing, starts it from the clock."""
    import time

    from django.core.cache import cache

    from listings.categories import CATEGORY_TREE_VERSION_KEY
    from listings.selectors import listing_page_cache_key

    before = time.time_ns()
    cache.delete(CATEGORY_TREE_VERSION_KEY)
    listing_page_cache_key(seller_listing)
    assert cache.get(CATEGORY_TREE_VERSION_KEY) >= before


@pytest.fixture
def seller_listing():
    from tests.factories import ListingFactory

    return ListingFactory()


def test_attached_categories_come_from_the_tree_without_a_query(django_assert_num_queries):
    parent = CategoryFactory(name="Furniture", slug="furniture", icon="sofa")
    desks = CategoryFactory(name="Desks & tables", slug="desks", parent=parent, sort_order=7)
    listings = ListingFactory.create_batch(3, category=desks) + [ListingFactory(category=parent)]
    bump_category_tree_version()
    tree = category_tree()
    ids = [listing.pk for listing in listings]
    loaded = list(Listing.objects.filter(pk__in=ids).only("title", "category"))
    with django_assert_num_queries(0):
        attach_categories(loaded, tree)
        shown = {(listing.category.pk, listing.category.name, listing.category.slug) for listing in loaded}
        assert shown == {(desks.pk, "Desks & tables", "desks"), (parent.pk, "Furniture", "furniture")}
        assert {listing.category.parent_id for listing in loaded} == {parent.pk, None}
    same = [listing.category for listing in loaded if listing.category_id == desks.pk]
    assert same[0] is same[1] is same[2]  # one instance per category
    # Fields the tree does not hold are deferred, read on access, never a wrong default.
    with django_assert_num_queries(1):
        assert same[0].sort_order == 7


def test_a_category_the_tree_lacks_is_left_to_the_lazy_load(django_assert_num_queries):
    category = CategoryFactory(name="Old", slug="old")
    bump_category_tree_version()
    tree = category_tree()
    newer = CategoryFactory(name="Newer", slug="newer")  # after the tree was read, no bump
    listing = ListingFactory(category=newer)
    loaded = Listing.objects.only("title", "category").get(pk=listing.pk)
    attach_categories([loaded], tree)
    with django_assert_num_queries(1):
        assert loaded.category.name == "Newer"
    assert category.pk in {uuid.UUID(key) for key in tree.by_id}


def test_another_process_bump_is_seen_within_the_check_interval(settings, monkeypatch):
    from django.core.cache import cache

    from listings import categories
    from listings.categories import CATEGORY_TREE_VERSION_KEY
    from listings.selectors import home_cache_version, listing_page_cache_key

    clock = [1_000.0]
    monkeypatch.setattr(categories, "_clock", lambda: clock[0])
    settings.CATEGORY_TREE_CHECK_SECONDS = 1.0
    listing = ListingFactory()
    CategoryFactory(slug="before-the-change")
    bump_category_tree_version()
    tree = category_tree()
    home_key, listing_key = home_cache_version(), listing_page_cache_key(listing)
    assert f"c{tree.version}." in home_key and f":c{tree.version}:" in listing_key

    # Another process changes a category: it bumps the version in Redis, not this process's copy.
    CategoryFactory(slug="after-the-change")
    cache.incr(CATEGORY_TREE_VERSION_KEY)
    clock[0] += 0.9
    assert category_tree() is tree and "after-the-change" not in tree.by_slug
    # The keys name the tree this process shows, never the newer version with the older tree.
    assert home_cache_version() == home_key and listing_page_cache_key(listing) == listing_key

    clock[0] += 0.2  # past the interval: the version is read again, and the new tree with it
    fresh = category_tree()
    assert fresh.version != tree.version and "after-the-change" in fresh.by_slug
    assert f"c{fresh.version}." in home_cache_version()
    assert f":c{fresh.version}:" in listing_page_cache_key(listing)


def test_at_zero_every_call_reads_the_version(settings):
    from django.core.cache import cache

    from listings.categories import CATEGORY_TREE_VERSION_KEY

    settings.CATEGORY_TREE_CHECK_SECONDS = 0
    tree = category_tree()
    CategoryFactory(slug="seen-at-once")
    cache.incr(CATEGORY_TREE_VERSION_KEY)  # another process's bump
    assert "seen-at-once" in category_tree().by_slug and category_tree() is not tree


def test_this_process_bump_is_seen_at_once(settings):
    settings.CATEGORY_TREE_CHECK_SECONDS = 3600
    category_tree()
    CategoryFactory(slug="mine")
    bump_category_tree_version()
    assert "mine" in category_tree().by_slug


def test_fresh_reads_the_version_whatever_the_interval(settings):
    from django.core.cache import cache

    from listings.categories import CATEGORY_TREE_VERSION_KEY

    settings.CATEGORY_TREE_CHECK_SECONDS = 3600
    tree = category_tree()
    CategoryFactory(slug="for-the-editor")
    cache.incr(CATEGORY_TREE_VERSION_KEY)  # another process's bump
    assert category_tree() is tree
    assert "for-the-editor" in category_tree(fresh=True).by_slug
    assert "for-the-editor" in category_tree().by_slug  # and the process keeps the newer tree


class _Redis:
    """The cache, with some of its answers replaced (``answers``: name -> function)."""

    def __init__(self, **answers):
        from django.core.cache import cache

        self._cache, self._answers = cache, answers

    def __getattr__(self, name):
        return self._answers.get(name) or getattr(self._cache, name)


def test_a_read_that_started_before_a_bump_does_not_bring_its_tree_back(settings, monkeypatch):
    """Threads of one process: a slow read of the old version ends after this process bumped."""
    from django.core.cache import cache

    from listings import categories

    settings.CATEGORY_TREE_CHECK_SECONDS = 3600
    CategoryFactory(slug="old-only")
    bump_category_tree_version()
    old = category_tree()

    def slow_read(*args, **kwargs):
        version = cache.get_or_set(*args, **kwargs)  # the old version ...
        CategoryFactory(slug="after-the-bump")
        bump_category_tree_version()  # ... while another thread bumps
        return version

    categories.forget_category_tree()
    monkeypatch.setattr(categories, "cache", _Redis(get_or_set=slow_read))
    assert category_tree().version == old.version  # this read's own answer
    monkeypatch.setattr(categories, "cache", cache)
    newer = category_tree()  # not the old tree, kept for an hour: the new version
    assert newer.version != old.version and "after-the-bump" in newer.by_slug


def test_an_older_version_never_replaces_a_newer_one(settings, monkeypatch):
    from listings import categories

    settings.CATEGORY_TREE_CHECK_SECONDS = 0
    CategoryFactory(slug="newer")
    bump_category_tree_version()
    newer = category_tree()
    older = _Redis(get_or_set=lambda *args, **kwargs: newer.version - 1, get=lambda *args, **kwargs: None)
    monkeypatch.setattr(categories, "cache", older)
    assert category_tree().version == newer.version - 1  # what that read saw ...
    assert categories._last_tree[0] == newer.version  # ... is not what the process keeps


def test_a_listing_write_checks_the_schema_of_now_not_the_process_copy(settings):
    from django.core.cache import cache

    from listings.categories import CATEGORY_TREE_VERSION_KEY
    from listings.services import listing_attributes_validate

    settings.CATEGORY_TREE_CHECK_SECONDS = 3600
    desks = CategoryFactory(slug="desks", attribute_schema=[])
    bump_category_tree_version()
    assert category_tree().by_slug["desks"].attribute_schema == []
    # Another process adds a number attribute: its bump reaches Redis, not this process's copy.
    Category.objects.filter(pk=desks.pk).update(
        attribute_schema=[{"key": "width", "label": "Width", "type": "number", "unit": "cm"}]
    )
    cache.incr(CATEGORY_TREE_VERSION_KEY)
    assert listing_attributes_validate(category_id=desks.pk, attributes={"width": "60"}, coerce=True) == {
        "width": 60
    }
