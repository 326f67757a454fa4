"""robots.txt and sitemap.xml: public listings of sellers in good standing, and the category pages."""

from django.contrib.sitemaps import Sitemap
from django.urls import reverse
from django.views.generic import TemplateView

from listings.categories import category_tree
from listings.selectors import public_listings


class ListingSitemap(Sitemap):
    changefreq = "daily"
    priority = 0.8
    limit = 10_000  # URLs per sitemap page; the index lists the pages

    def items(self):
        # Same order as the listings_listing_active_newest partial index.
        return public_listings().only("slug", "updated_at").order_by("-published_at", "-id")

    def lastmod(self, listing):
        return listing.updated_at


class CategorySitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.5

    def items(self):
        tree = category_tree()
        return sorted(tree.by_id.values(), key=lambda node: node.slug)

    def location(self, node):
        return reverse("listings:category", args=[node.slug])


SITEMAPS = {"listings": ListingSitemap, "categories": CategorySitemap}
SITEMAP_INDEX = {"sitemaps": SITEMAPS, "sitemap_url_name": "sitemap-section"}

robots_txt = TemplateView.as_view(template_name="robots.txt", content_type="text/plain")
