from django.urls import path

from messaging import safety_views, views

app_name = "messaging"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("new/", views.new, name="new"),
    path("<uuid:conversation_id>/", views.conversation, name="conversation"),
    path(
        "<uuid:conversation_id>/pictures/<str:attachment_id>/<str:size>/",
        safety_views.attachment,
        name="attachment",
    ),
    path("<uuid:conversation_id>/archive/", safety_views.archive, name="archive"),
    path("<uuid:conversation_id>/unarchive/", safety_views.unarchive, name="unarchive"),
    path("<uuid:conversation_id>/report/", safety_views.report, name="report"),
    path("<uuid:conversation_id>/block/", safety_views.block, name="block"),
    path("blocked/", safety_views.blocked, name="blocked"),
    path("blocked/<uuid:user_id>/unblock/", safety_views.unblock, name="unblock"),
]
