from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from payments import (  # noqa: F401  (connects the subscribers to the hooks)
            subscribers,  # log lines; the emails go through notifications
            tracking_subscribers,  # the order_paid analytics event
        )
