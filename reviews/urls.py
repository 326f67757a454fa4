"""Review pages and forms under /reviews/ (the order page shows the review forms; they post here)."""

from django.urls import path

from reviews import views

app_name = "reviews"

urlpatterns = [
    path("to-write/", views.reviews_to_write_page, name="to_write"),
    path("orders/<uuid:transaction_id>/", views.review_submit_view, name="submit"),
    path("<uuid:review_id>/edit/", views.review_edit_view, name="edit"),
    path("<uuid:review_id>/respond/", views.review_respond_view, name="respond"),
    path("<uuid:review_id>/flag/", views.review_flag_view, name="flag"),
]
