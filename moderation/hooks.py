"""Moderation's domain events (``notifications/moderation_subscribers.py`` listens)."""

from marketplace.events import Hook

reports_resolved = Hook(
    "moderation.reports_resolved",
    "reports_resolved(report_ids): staff resolved these reports (action taken or no action).",
)
