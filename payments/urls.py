from django.urls import path

from payments import checkout_views, connect_views, order_views, views

app_name = "payments"

urlpatterns = [
    path("webhooks/stripe/", views.stripe_webhook, name="stripe-webhook"),
    # --- checkout ---
    path("checkout/<slug:slug>/", checkout_views.checkout_start, name="checkout_start"),
    path("orders/<uuid:transaction_id>/checkout/", checkout_views.checkout, name="checkout"),
    path("orders/<uuid:transaction_id>/pay/", checkout_views.checkout_pay, name="checkout_pay"),
    path("orders/<uuid:transaction_id>/confirm/", checkout_views.checkout_confirm, name="checkout_confirm"),
    path("orders/<uuid:transaction_id>/cancel/", checkout_views.checkout_cancel, name="checkout_cancel"),
    path("orders/", order_views.orders, name="orders"),
    path("orders/<uuid:transaction_id>/", order_views.order, name="order"),
    path(
        "orders/<uuid:transaction_id>/confirm-receipt/",
        order_views.order_confirm_receipt,
        name="order_confirm_receipt",
    ),
    path("orders/<uuid:transaction_id>/refund/", order_views.order_refund, name="order_refund"),
    path(
        "orders/<uuid:transaction_id>/release-payout/",
        order_views.order_release_held_payout,
        name="order_release_held_payout",
    ),
    # --- connect ---
    path("connect/start/", connect_views.connect_start, name="connect_start"),
    path("connect/return/", connect_views.connect_return, name="connect_return"),
    path("connect/refresh/", connect_views.connect_refresh, name="connect_refresh"),
    path("connect/simulated/<str:account_id>/", connect_views.connect_simulated, name="connect_simulated"),
]
