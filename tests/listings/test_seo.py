"""Search engines: titles, descriptions, canonical URLs, Open Graph, noindex, sitemap, robots."""

import re
from html import unescape

import pytest
from django.urls import reverse

from accounts.models import AccountStatus
from listings.categories import bump_category_tree_version
from listings.models import Listing
from tests.factories import CategoryFactory, ListingFactory, SellerFactory

pytestmark = pytest.mark.django_db


def head(response) -> str:
    html = response.content.decode()
    return html[: html.index("</head>")]


def meta(html: str, attribute: str, name: str) -> str | None:
    match = re.search(rf'<meta {attribute}="{re.escape(name)}" content="([^"]*)">', html)
    return unescape(match.group(1)) if match else None


def title(html: str) -> str:
    return unescape(re.search(r"<title>(.*?)</title>", html, re.S).group(1))


def test_title_and_description_from_the_seo_fields(client):
    listing = ListingFactory(
        meta_title="Walnut desk, 60 in", meta_description="Solid walnut desk, barely used."
    )
    html = head(client.get(listing.get_absolute_url()))
    assert title(html) == "Walnut desk, 60 in – Marketplace"
    assert meta(html, "name", "description") == "Solid walnut desk, barely used."
    assert meta(html, "property", "og:title") == "Walnut desk, 60 in"
    assert meta(html, "property", "og:description") == "Solid walnut desk, barely used."


def test_fallbacks_title_and_the_first_160_characters_of_the_description(client):
    description = "Mid-century <b>desk</b> & chair.\n\n" + "Lovely walnut grain. " * 20
    listing = ListingFactory(title='Desk & "chair"', description=description)
    html = head(client.get(listing.get_absolute_url()))
    assert title(html) == 'Desk & "chair" – Marketplace'
    assert "<title>Desk &amp; &quot;chair&quot; – Marketplace</title>" in html  # escaped
    text = meta(html, "name", "description")
    assert len(text) <= 160
    assert text.startswith("Mid-century <b>desk</b> & chair. Lovely walnut grain.")  # whitespace collapsed
    assert "<b>" not in html  # escaped in the attribute
    assert meta(html, "property", "og:description") == text


def test_canonical_and_open_graph_on_a_public_listing(client):
    listing = ListingFactory(
        primary_image_url="https://cdn.example.com/desk.jpg", price_cents=45_999, currency="EUR"
    )
    response = client.get(listing.get_absolute_url(), {"utm_source": "newsletter"})
    html = head(response)
    url = f"http://testserver{listing.get_absolute_url()}"
    assert f'<link rel="canonical" href="{url}">' in html
    assert meta(html, "property", "og:url") == url
    assert meta(html, "property", "og:type") == "product"
    assert meta(html, "property", "og:image") == "https://cdn.example.com/desk.jpg"
    assert meta(html, "property", "product:price:amount") == "459.99"
    assert meta(html, "property", "product:price:currency") == "EUR"
    assert "noindex" not in html and "X-Robots-Tag" not in response


def test_a_relative_image_becomes_an_absolute_og_image(client):
    listing = ListingFactory(images=[{"url": "/media/listings/desk.jpg"}])
    html = head(client.get(listing.get_absolute_url()))
    assert meta(html, "property", "og:image") == "http://testserver/media/listings/desk.jpg"


def test_unlisted_pages_are_noindex_without_a_canonical(client):
    listing = ListingFactory(visibility=Listing.Visibility.UNLISTED)
    url = reverse("listings:detail_unlisted", args=[listing.slug, listing.share_token])
    response = client.get(url)
    html = head(response)
    assert response.status_code == 200
    assert meta(html, "name", "robots") == "noindex, nofollow"
    assert response["X-Robots-Tag"] == "noindex"
    assert 'rel="canonical"' not in html
    assert meta(html, "property", "og:url") == f"http://testserver{url}"


def test_pages_only_the_owner_sees_are_noindex(client):
    listing = ListingFactory(status=Listing.Status.DRAFT, published_at=None)
    client.force_login(listing.seller)
    response = client.get(listing.get_absolute_url())
    assert meta(head(response), "name", "robots") == "noindex, nofollow"
    assert response["X-Robots-Tag"] == "noindex"


# --- sitemap.xml and robots.txt -------------------------------------------------------
def sitemap_locations(client, url) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    return re.findall(r"<loc>(.*?)</loc>", response.content.decode())


def test_sitemap_lists_public_active_listings_and_categories(client):
    furniture = CategoryFactory(slug="furniture")
    CategoryFactory(slug="desks", parent=furniture)
    bump_category_tree_version()
    shown = ListingFactory(slug="shown", category=furniture)
    hidden = [
        ListingFactory(slug="draft", status=Listing.Status.DRAFT, published_at=None),
        ListingFactory(slug="private", visibility=Listing.Visibility.PRIVATE),
        ListingFactory(slug="unlisted", visibility=Listing.Visibility.UNLISTED),
        ListingFactory(slug="banned", seller=SellerFactory(account_status=AccountStatus.BANNED)),
        ListingFactory(slug="archived", status=Listing.Status.ARCHIVED),
    ]

    sections = sitemap_locations(client, "/sitemap.xml")
    assert sections == [
        "http://testserver/sitemap-listings.xml",
        "http://testserver/sitemap-categories.xml",
    ]
    listings = sitemap_locations(client, "/sitemap-listings.xml")
    assert f"http://testserver{shown.get_absolute_url()}" in listings
    for listing in hidden:
        assert f"http://testserver{listing.get_absolute_url()}" not in listings
    assert all(listing.share_token not in "".join(listings) for listing in hidden)
    assert "<lastmod>" in client.get("/sitemap-listings.xml").content.decode()

    categories = sitemap_locations(client, "/sitemap-categories.xml")
    assert "http://testserver/c/furniture/" in categories and "http://testserver/c/desks/" in categories


def test_sitemap_bad_input(client):
    assert client.get("/sitemap-nothing.xml").status_code == 404
    assert client.get("/sitemap-listings.xml", {"p": "99"}).status_code == 404
    assert client.get("/sitemap-listings.xml", {"p": "x"}).status_code == 404


def test_robots_txt(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert "User-agent: *" in lines
    for path in ("/admin/", "/accounts/", "/favorites/"):
        assert f"Disallow: {path}" in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines
    assert not any(line.startswith("Disallow: /listings") for line in lines)
