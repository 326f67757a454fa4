from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("saved-searches/", views.saved_search_list, name="saved_searches"),
    path("saved-searches/save/", views.saved_search_save, name="saved_search_save"),
    path(
        "saved-searches/<uuid:saved_search_id>/update/", views.saved_search_update, name="saved_search_update"
    ),
    path(
        "saved-searches/<uuid:saved_search_id>/delete/", views.saved_search_delete, name="saved_search_delete"
    ),
    path("saved-searches/stop/<str:token>/", views.saved_search_unsubscribe, name="saved_search_unsubscribe"),
    path("following/", views.following, name="following"),
    path("following/<uuid:user_id>/follow/", views.follow, name="follow"),
    path("following/<uuid:user_id>/unfollow/", views.unfollow, name="unfollow"),
]
