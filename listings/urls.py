from django.urls import path

from listings.views import browse, detail, favorites

app_name = "listings"

urlpatterns = [
    path("search/", browse.search, name="search"),
    path("c/<slug:slug>/", browse.category, name="category"),
    path("favorites/", favorites.favorite_list, name="favorites"),
    path("listings/<slug:slug>/", detail.listing_detail, name="detail"),
    path("listings/<slug:slug>/favorite/", favorites.favorite, name="favorite"),
    path("listings/<slug:slug>/unfavorite/", favorites.unfavorite, name="unfavorite"),
    path("listings/<slug:slug>/<str:share_token>/", detail.listing_detail, name="detail_unlisted"),
]
