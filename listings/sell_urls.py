"""The seller's side, under /sell/: onboarding, dashboard, listing editor, photos."""

from django.urls import path  # noqa: F401 - used by the sections below as they fill in

from listings.views import editor as editor_views
from listings.views import photos as photo_views
from listings.views import sell_dashboard
from payments import sales_views

app_name = "sell"

urlpatterns = [
    # --- onboarding and dashboard ---
    path("", sell_dashboard.dashboard, name="dashboard"),
    path("start/", sell_dashboard.start, name="start"),
    path("sales/", sales_views.sales, name="sales"),
    # --- listing editor ---
    path("listings/new/", editor_views.create, name="listing_create"),
    path("listings/<uuid:listing_id>/edit/", editor_views.edit, name="listing_edit"),
    path("listings/<uuid:listing_id>/preview/", editor_views.preview, name="listing_preview"),
    path("listings/<uuid:listing_id>/publish/", editor_views.publish, name="listing_publish"),
    path("listings/<uuid:listing_id>/unpublish/", editor_views.unpublish, name="listing_unpublish"),
    path("listings/<uuid:listing_id>/mark-sold/", editor_views.mark_sold, name="listing_mark_sold"),
    path("listings/<uuid:listing_id>/archive/", editor_views.archive, name="listing_archive"),
    path("listings/<uuid:listing_id>/delete/", editor_views.delete, name="listing_delete"),
    # --- photos ---
    path("listings/<uuid:listing_id>/photos/", photo_views.page, name="listing_photos"),
    path("listings/<uuid:listing_id>/photos/upload/", photo_views.upload, name="photo_upload"),
    path(
        "listings/<uuid:listing_id>/photos/<slug:photo_id>/delete/", photo_views.delete, name="photo_delete"
    ),
    path("listings/<uuid:listing_id>/photos/<slug:photo_id>/move/", photo_views.move, name="photo_move"),
    path(
        "listings/<uuid:listing_id>/photos/<slug:photo_id>/primary/",
        photo_views.primary,
        name="photo_primary",
    ),
]
