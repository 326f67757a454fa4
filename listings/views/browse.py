from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from analytics.tracking import EventName, track
from listings.categories import category_tree
from listings.search import SORTS, SearchForm, run_search
from listings.selectors import featured_listings, home_cache_version, newest_listings
from marketplace.db_router import on_primary, replica_safe
from marketplace.page_cache import cache_visitor_page, cached_visitor_page, visitor_page_key


@replica_safe
def home(request):
    """The category tree, featured and newest listings: the same for every visitor, so that part
    is a cached fragment (``{% cache %}`` under ``home_cache_version``, ``HOME_CACHE_TTL``).
    The lists are lazy: read (two queries) only when the fragment is rendered."""
    return render(
        request,
        "listings/home.html",
        {
            "home_version": home_cache_version(),
            "home_cache_ttl": settings.HOME_CACHE_TTL,
            "categories": SimpleLazyObject(lambda: category_tree().roots),
            # Read on the primary: the fragment is filed under the version a writer just bumped.
            "featured": SimpleLazyObject(lambda: on_primary(featured_listings)),
            "newest": SimpleLazyObject(lambda: on_primary(newest_listings)),
        },
    )


@replica_safe
def search(request):
    """Search results. A visitor's page (not signed in) is cached whole for
    ``SEARCH_PAGE_CACHE_TTL`` seconds under its URL and ``home_cache_version`` (retired at once
    by any listing published, edited, sold or taken down, a ban, a category change; an edit
    that calls no service, or a lagging replica's rows, within the TTL). A hit still records
    the search event."""
    page_key = None
    if settings.SEARCH_PAGE_CACHE_TTL:
        page_key = visitor_page_key(request, f"search-page:{home_cache_version()}")
    cached = cached_visitor_page(request, page_key) if page_key else None
    if cached is not None:
        response, extra = cached
        if extra["event"] is not None:
            track(request, EventName.SEARCH, **extra["event"])
        return response
    form = SearchForm(request.GET)  # no parameters: everything, newest first
    result = run_search(form) if form.is_valid() else None
    event = None
    if result is not None and not form.cleaned_data.get("cursor"):  # a first page: one search
        event = _search_event(form, result)
        track(request, EventName.SEARCH, **event)
    response = render(
        request,
        "listings/search.html",
        {"form": form, "result": result, "sorts": SORTS, "category_node": form.category_node},
    )
    if page_key:
        cache_visitor_page(
            request, page_key, response, settings.SEARCH_PAGE_CACHE_TTL, extra={"event": event}
        )
    return response


# Search filters kept in the event (not the exact coordinates of "near me").
TRACKED_FILTERS = (
    "category",
    "min_price",
    "max_price",
    "currency",
    "pricing_type",
    "near",
    "radius_km",
    "sort",
)


def _search_event(form, result) -> dict:
    """The properties of a search's analytics event."""
    data = form.cleaned_data
    filters = {name: data[name] for name in TRACKED_FILTERS if data.get(name) not in (None, "")}
    # Results of the corrected keywords ("did you mean") mean the typed ones found nothing.
    count = 0 if result.corrected_from else result.total
    return {"query": data.get("q") or "", "filters": filters, "result_count": count}


@replica_safe
def category(request, slug):
    tree = category_tree()
    node = tree.by_slug.get(slug)
    if node is None:
        raise Http404("No such category.")
    if request.GET:
        # Filters on a category page are a search within it: one URL for shareable results.
        query = request.GET.copy()
        query["category"] = slug
        return redirect(f"{reverse('listings:search')}?{query.urlencode()}")
    form = SearchForm({"category": slug})
    form.is_valid()
    return render(
        request,
        "listings/category.html",
        {
            "form": form,
            "result": run_search(form),
            "sorts": SORTS,
            "category_node": node,
            "ancestors": tree.ancestors(node),
        },
    )
