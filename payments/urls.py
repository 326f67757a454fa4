from django.urls import path

from payments import connect_views, views

app_name = "payments"

urlpatterns = [
    path("webhooks/stripe/", views.stripe_webhook, name="stripe-webhook"),
    # --- connect ---
    path("connect/start/", connect_views.connect_start, name="connect_start"),
    path("connect/return/", connect_views.connect_return, name="connect_return"),
    path("connect/refresh/", connect_views.connect_refresh, name="connect_refresh"),
    path("connect/simulated/<str:account_id>/", connect_views.connect_simulated, name="connect_simulated"),
]
