"""Saved searches with alerts, follows of sellers, and what the matching job has seen.

A saved search keeps the canonical form of a search's filters (``query``: the GET
parameters the search form reads, in a fixed order) and, for the matching job, the same
filters as indexable columns: the category and its descendants, the keyword tsquery (built by
the search's own ``keyword_query``), the price range in one currency, the pricing type, the
circle, the typed attribute filters.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from marketplace.db import CreatedAtField, choices_check


class TsQueryField(models.Field):
    """A PostgreSQL ``tsquery`` column, written from a ``SearchQuery`` expression."""

    description = "Full-text query"

    def db_type(self, connection) -> str:
        return "tsquery"


class AlertFrequency(models.TextChoices):
    INSTANT = "instant", "As they are listed"
    DAILY = "daily", "Daily digest"
    OFF = "off", "Off"


class SavedSearch(models.Model):
    Frequency = AlertFrequency

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by alerts_savedsearch_user_query (unique) and alerts_saved_user_created.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_searches", db_index=False
    )
    name = models.CharField(max_length=100)
    # The canonical GET parameters ({"q": "desk", "category": "furniture", ...}, sorted keys).
    query = models.JSONField()
    query_string = models.TextField()
    alert = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.INSTANT)
    # The search's filters as the matching job reads them (see the module docstring).
    category_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    keywords = TsQueryField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    min_price_cents = models.BigIntegerField(null=True, blank=True)
    max_price_cents = models.BigIntegerField(null=True, blank=True)
    pricing_type = models.CharField(max_length=20, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    radius_m = models.FloatField(null=True, blank=True)
    # The typed attribute filters: [{"key", "type": "number", "min", "max"} | {"key", "type":
    # "boolean"} | {"key", "type": "enum", "any": [...]}], as ``SearchForm.attribute_filters``.
    attribute_filters = models.JSONField(default=list, blank=True)
    created_at = CreatedAtField()

    class Meta:
        constraints = [
            choices_check("alert", AlertFrequency, "alerts_savedsearch_alert_valid"),
            # Saving the same search twice keeps one.
            models.UniqueConstraint(fields=["user", "query_string"], name="alerts_savedsearch_user_query"),
            models.CheckConstraint(
                condition=Q(radius_m__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False, radius_m__gt=0),
                name="alerts_savedsearch_circle_complete",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="alerts_savedsearch_name_not_blank"),
        ]
        verbose_name_plural = "saved searches"
        indexes = [
            models.Index(F("user"), F("created_at").desc(), name="alerts_saved_user_created"),
        ]

    def __str__(self) -> str:
        return self.name


class SavedSearchMatch(models.Model):
    """A listing that matched a saved search: told once (``notified_at``), never twice."""

    id = models.BigAutoField(primary_key=True)
    # Indexed by the (saved_search, listing) unique constraint.
    saved_search = models.ForeignKey(
        SavedSearch, on_delete=models.CASCADE, related_name="matches", db_index=False
    )
    listing = models.ForeignKey("listings.Listing", on_delete=models.CASCADE, related_name="+")
    created_at = CreatedAtField()
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["saved_search", "listing"], name="alerts_match_once"),
        ]
        verbose_name_plural = "saved search matches"
        indexes = [
            # What is still to tell, oldest first.
            models.Index(
                fields=["created_at"], condition=Q(notified_at__isnull=True), name="alerts_match_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.listing_id} matches {self.saved_search_id}"


class Follow(models.Model):
    """``follower`` follows ``seller``: their new listings in the Following feed, and told of
    each as it is listed when ``alert`` is on."""

    id = models.BigAutoField(primary_key=True)
    # Indexed by the (follower, seller) unique constraint.
    follower = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following", db_index=False
    )
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="followers")
    alert = models.BooleanField(default=False)
    created_at = CreatedAtField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "seller"], name="alerts_follow_once"),
            models.CheckConstraint(condition=~Q(follower=F("seller")), name="alerts_follow_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} follows {self.seller_id}"


class Watermark(models.Model):
    """How far a periodic job has read (``name``: the job), so each run reads only what is new."""

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at}"
