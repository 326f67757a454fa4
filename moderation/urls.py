from django.urls import path

from moderation import views

app_name = "moderation"

urlpatterns = [
    path("<str:target_type>/<str:object_id>/", views.report, name="report"),
]
