from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from listings.views import browse
from marketplace import views

urlpatterns = [
    path("", browse.home, name="home"),
    path("", include("listings.urls")),
    path("health/", views.health, name="health"),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
