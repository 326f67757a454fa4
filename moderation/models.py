"""Members' reports on a listing, a user, a review or a message, and staff resolving them.

A report names its object by one foreign key (the others null; a CHECK says which) and by
``object_key`` ("listing:<id>"), which makes "once per reporter and object" one unique index
and groups the queue per object. ``owner`` is the member answerable for the object (the
seller, the user, the review's author, the message's sender), denormalised for the queue.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketplace.db import CreatedAtField, choices_check


class ReportTarget(models.TextChoices):
    LISTING = "listing", "Listing"
    USER = "user", "User"
    REVIEW = "review", "Review"
    MESSAGE = "message", "Message"


class ReportReason(models.TextChoices):
    SCAM = "scam", "Scam or fraud"
    PROHIBITED = "prohibited", "Prohibited item"
    OFFENSIVE = "offensive", "Offensive or abusive"
    SPAM = "spam", "Spam"
    OTHER = "other", "Something else"


class ReportStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACTION_TAKEN = "action_taken", "Resolved: action taken"
    NO_ACTION = "no_action", "Resolved: no action"


class Report(models.Model):
    Target = ReportTarget
    Reason = ReportReason
    Status = ReportStatus

    id = models.BigAutoField(primary_key=True)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )  # moderation_report_once starts with it
    target_type = models.CharField(max_length=10, choices=Target.choices)
    object_key = models.CharField(
        max_length=60, help_text='"<type>:<id>": one report per reporter and object.'
    )
    listing = models.ForeignKey(
        "listings.Listing", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    review = models.ForeignKey(
        "reviews.Review", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )  # moderation_report_owner starts with it
    reason = models.CharField(max_length=20, choices=Reason.choices)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    # The audit row of the action that resolved it (take-down, ban, ...); null for "no action".
    action = models.ForeignKey(
        "marketplace.AuditEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = CreatedAtField()

    class Meta:
        permissions = [("resolve_report", "Can resolve members' reports")]
        constraints = [
            choices_check("target_type", ReportTarget, "moderation_report_target_valid"),
            choices_check("reason", ReportReason, "moderation_report_reason_valid"),
            choices_check("status", ReportStatus, "moderation_report_status_valid"),
            models.UniqueConstraint(fields=["reporter", "object_key"], name="moderation_report_once"),
            models.CheckConstraint(
                condition=(
                    Q(
                        target_type="listing",
                        listing__isnull=False,
                        user__isnull=True,
                        review__isnull=True,
                        message__isnull=True,
                    )
                    | Q(
                        target_type="user",
                        listing__isnull=True,
                        user__isnull=False,
                        review__isnull=True,
                        message__isnull=True,
                    )
                    | Q(
                        target_type="review",
                        listing__isnull=True,
                        user__isnull=True,
                        review__isnull=False,
                        message__isnull=True,
                    )
                    | Q(
                        target_type="message",
                        listing__isnull=True,
                        user__isnull=True,
                        review__isnull=True,
                        message__isnull=False,
                    )
                ),
                name="moderation_report_one_object",
            ),
            models.CheckConstraint(
                condition=Q(status="open", resolved_at__isnull=True)
                | (~Q(status="open") & Q(resolved_at__isnull=False, resolved_by__isnull=False)),
                name="moderation_report_resolution_complete",
            ),
            models.CheckConstraint(
                condition=~Q(reason="other") | Q(text__regex=r"[^[:space:]]"),
                name="moderation_report_other_needs_text",
            ),
        ]
        indexes = [
            # The queue: open reports grouped per object, oldest first.
            models.Index(
                fields=["object_key", "created_at"], condition=Q(status="open"), name="moderation_report_open"
            ),
            models.Index(fields=["owner", "created_at"], name="moderation_report_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} report on {self.object_key}"
