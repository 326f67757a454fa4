from django.urls import path

from offers import views

app_name = "offers"

urlpatterns = [
    path("", views.offer_list, name="list"),
    path("make/<slug:slug>/", views.offer_make, name="make"),
    path("<uuid:offer_id>/<str:action>/", views.offer_action, name="action"),
    path("floor/<uuid:listing_id>/", views.offer_floor, name="floor"),
]
