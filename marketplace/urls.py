from django.contrib import admin
from django.contrib.sitemaps import views as sitemap_views
from django.urls import include, path

from listings.sitemaps import SITEMAP_INDEX, SITEMAPS, robots_txt
from listings.views import browse
from marketplace import views

urlpatterns = [
    path("", browse.home, name="home"),
    path("", include("listings.urls")),
    path("", include("accounts.urls")),  # /accounts/... and /users/<id>/
    path("sell/", include("listings.sell_urls")),
    path("payments/", include("payments.urls")),
    path("reviews/", include("reviews.urls")),
    path("messages/", include("messaging.urls")),
    path("health/", views.health, name="health"),
    path("robots.txt", robots_txt, name="robots"),
    path("sitemap.xml", sitemap_views.index, SITEMAP_INDEX, name="sitemap"),
    path("sitemap-<section>.xml", sitemap_views.sitemap, {"sitemaps": SITEMAPS}, name="sitemap-section"),
    path("admin/", admin.site.urls),
]

# Uploaded media is not a Django route: marketplace.media serves MEDIA_ROOT in front of the
# ASGI application in every mode (SERVE_MEDIA), or the storage (S3, a CDN) serves it.
