from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        # One import per area: each module subscribes its notifications to that area's hooks.
        from notifications import (
            alert_subscribers,  # noqa: F401  (saved searches, follows, price drops)
            moderation_subscribers,  # noqa: F401  (take-downs, approvals, reports)
            offer_subscribers,  # noqa: F401  (offers, counters, answers)
            signals,  # noqa: F401  (primes the header badge at log-in)
            subscribers,  # noqa: F401  (purchases, reviews, messages)
        )
