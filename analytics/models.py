from django.conf import settings
from django.db import models

from marketplace.db import CreatedAtField


class Event(models.Model):
    """An analytics event, in a table partitioned by month on ``created_at``.

    In PostgreSQL the primary key is ``(id, created_at)`` (a partitioned table's key must
    include the partition key); Django's state keeps ``id`` alone as the key, which is
    still unique because ids come from one identity sequence. See migration 0001.
    """

    id = models.BigAutoField(primary_key=True)
    # Given by ``analytics.tracking.track`` when the event happens, so a retried flush
    # inserts it once: unique with the partition key (a partitioned table's unique keys must
    # include it). Rows written another way may leave it empty.
    uid = models.UUIDField(null=True, blank=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        db_index=False,
        db_constraint=True,
    )
    session_id = models.UUIDField(null=True, blank=True)
    event_name = models.CharField(max_length=100)
    event_category = models.CharField(max_length=50, blank=True)
    page_url = models.TextField(blank=True)
    referrer_url = models.TextField(blank=True)
    user_agent = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    created_at = CreatedAtField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["uid", "created_at"], name="analytics_event_uid_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} @ {self.created_at:%Y-%m-%d %H:%M}"
