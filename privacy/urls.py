"""Your data, under /accounts/data/ (mounted in marketplace/urls.py)."""

from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("", views.your_data, name="your_data"),
    path("export/", views.export_request, name="export_request"),
    path("export/<uuid:export_id>/", views.export_download, name="export_download"),
    path("delete/", views.delete_account, name="delete_account"),
]
