from django.urls import path

from listings.views import browse

app_name = "listings"

urlpatterns = [
    path("search/", browse.search, name="search"),
    path("c/<slug:slug>/", browse.category, name="category"),
]
