import uuid

from django.conf import settings
from django.db import models

from marketplace.db import CreatedAtField, choices_check


class DataExportStatus(models.TextChoices):
    PENDING = "pending", "Being prepared"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class DataExport(models.Model):
    """One "Download my data" request: a zip of JSON files built by a job
    (``privacy.tasks.build_data_export``), kept in private storage until ``expires_at``.

    The row outlives its file (status expired) so the daily limit can count requests and staff
    can see what was handed out and when; the file is deleted at expiry.
    """

    Status = DataExportStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by privacy_export_user_created.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports", db_index=False
    )
    status = models.CharField(
        max_length=20, choices=DataExportStatus.choices, default=DataExportStatus.PENDING
    )
    # Name in the private storage (``marketplace.storage.private_storage``); empty until ready.
    file = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    created_at = CreatedAtField()
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            choices_check("status", DataExportStatus, "privacy_dataexport_status_valid"),
            models.CheckConstraint(
                condition=~models.Q(status="ready")
                | (models.Q(expires_at__isnull=False) & ~models.Q(file="")),
                name="privacy_dataexport_ready_has_file",
            ),
        ]
        indexes = [
            models.Index(models.F("user"), models.F("created_at").desc(), name="privacy_export_user_created"),
            # The cleanup's queue: ready exports by expiry.
            models.Index(
                fields=["expires_at"], condition=models.Q(status="ready"), name="privacy_export_expiry"
            ),
        ]

    def __str__(self) -> str:
        return f"data export {self.id} ({self.status})"
