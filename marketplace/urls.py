from django.contrib import admin
from django.contrib.sitemaps import views as sitemap_views
from django.urls import include, path

from listings.sitemaps import SITEMAP_INDEX, SITEMAPS, robots_txt
from listings.views import browse
from marketplace import views
from marketplace.db_router import replica_safe
from moderation.dashboard_views import staff_dashboard

urlpatterns = [
    path("", browse.home, name="home"),
    path("", include("listings.urls")),
    path("", include("accounts.urls")),  # /accounts/... and /users/<id>/
    path("accounts/data/", include("privacy.urls")),  # your data: export, delete account
    path("sell/", include("listings.sell_urls")),
    path("payments/", include("payments.urls")),
    path("reviews/", include("reviews.urls")),
    path("messages/", include("messaging.urls")),
    path("offers/", include("offers.urls")),
    path("", include("alerts.urls")),  # /saved-searches/ and /following/
    path("notifications/", include("notifications.urls")),
    path("report/", include("moderation.urls")),  # members report a listing, user, review, message
    path("health/", views.health, name="health"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("robots.txt", robots_txt, name="robots"),
    path("sitemap.xml", replica_safe(sitemap_views.index), SITEMAP_INDEX, name="sitemap"),
    path(
        "sitemap-<section>.xml",
        replica_safe(sitemap_views.sitemap),
        {"sitemaps": SITEMAPS},
        name="sitemap-section",
    ),
    path("admin/dashboard/", admin.site.admin_view(staff_dashboard), name="staff_dashboard"),
    path("admin/", admin.site.urls),
]

# Uploaded media is not a Django route: marketplace.media serves MEDIA_ROOT in front of the
# ASGI application in every mode (SERVE_MEDIA), or the storage (S3, a CDN) serves it.
