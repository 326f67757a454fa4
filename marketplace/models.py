"""Models every app shares: the staff audit log; the job queue's jobs as the admin shows them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from procrastinate.contrib.django.models import ProcrastinateJob

from marketplace.db import CreatedAtField


class AuditEntry(models.Model):
    """One staff action: who did what to which object, why, and the fields it changed.

    Append-only, enforced by the database (a trigger refuses UPDATE and DELETE), as the money
    ledger is. Written only through ``marketplace.audit.audit_record``, inside the transaction
    of the action it records, so a rolled-back action leaves no row and a committed one
    always has its row. The object is named by its model label and primary key (text), not by
    a foreign key: the log outlives what it names and never blocks a deletion.
    """

    id = models.BigAutoField(primary_key=True)
    # Null for actions the system takes on its own (none yet; kept for jobs acting for staff).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # marketplace_audit_actor starts with it
    )
    action = models.CharField(max_length=60, help_text='"<app>.<verb>", e.g. "listings.take_down".')
    target_type = models.CharField(max_length=60, help_text='The model label, e.g. "listings.listing".')
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    # {"field": [before, after], ...}: JSON-safe values (str() for anything else).
    changes = models.JSONField(default=dict, blank=True)
    created_at = CreatedAtField()

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        permissions = [("view_staff_dashboard", "Can view the staff dashboard")]
        constraints = [
            models.CheckConstraint(condition=~Q(action=""), name="marketplace_audit_action_required"),
        ]
        indexes = [
            models.Index(
                models.F("created_at").desc(), models.F("id").desc(), name="marketplace_audit_newest"
            ),
            models.Index(fields=["target_type", "target_id"], name="marketplace_audit_target"),
            models.Index(fields=["actor", "created_at"], name="marketplace_audit_actor"),
            models.Index(fields=["action", "created_at"], name="marketplace_audit_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"


class QueuedJob(ProcrastinateJob):
    """A job of the queue (Procrastinate's table) as staff see it in the admin: named by its
    task and id, never by its arguments (an email job's body may hold a sign-in link)."""

    class Meta:
        proxy = True
        verbose_name = "queued job"

    def __str__(self) -> str:
        return f"{self.task_name} #{self.pk}"
