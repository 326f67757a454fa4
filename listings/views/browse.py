from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from listings.categories import category_tree
from listings.search import SORTS, SearchForm, run_search
from listings.selectors import featured_listings, newest_listings


def home(request):
    return render(
        request,
        "listings/home.html",
        {
            "categories": category_tree().roots,
            "featured": featured_listings(),
            "newest": newest_listings(),
        },
    )


def search(request):
    form = SearchForm(request.GET)  # no parameters: everything, newest first
    result = run_search(form) if form.is_valid() else None
    return render(
        request,
        "listings/search.html",
        {"form": form, "result": result, "sorts": SORTS, "category_node": form.category_node},
    )


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
