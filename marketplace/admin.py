"""Admin pieces every app shares: read-only records, staff actions with a reason, the
estimated-count paginator for the big tables, and the audit log's changelist."""

import json
from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.paginator import Paginator
from django.db import connection
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.timesince import timesince
from procrastinate.contrib.django.admin import ProcrastinateJobAdmin
from procrastinate.contrib.django.models import ProcrastinateJob

from marketplace.errors import ServiceError
from marketplace.models import AuditEntry, QueuedJob


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """A record staff read and never write in the admin: logs, ledgers, decisions. Adding,
    changing and deleting are refused here (and, for the append-only tables, by the database)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StaffReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        max_length=2000,
        help_text="Required. Recorded in the audit log; where the action tells a member (a take-down, a "
        "declined listing), they see it too.",
    )


@dataclass(frozen=True)
class ReasonAction:
    """A staff action on selected rows that needs a reason: the admin action asks for it on
    ``templates/admin/reason_confirmation.html``, then calls ``service(obj, actor, reason)`` once
    per row, reporting each refusal (a ``ServiceError``) and going on with the others."""

    name: str  # the admin action's function name (posted back as "action")
    verb: str  # "Take down"
    done: str  # "taken down"
    explanation: str
    service: Callable[..., object]


def reason_action(modeladmin, request, queryset, action: ReasonAction):
    """Run ``action`` from a changelist: the reason page first, then the service per row."""
    objects = list(queryset)
    form = StaffReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        done = []
        for obj in objects:
            try:
                action.service(obj, request.user, form.cleaned_data["reason"])
            except ServiceError as error:
                modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
            else:
                done.append(str(obj))
        if done:
            modeladmin.message_user(
                request, f"{len(done)} {action.done}: {', '.join(done)}.", messages.SUCCESS
            )
        return None
    opts = modeladmin.model._meta
    what = opts.verbose_name if len(objects) == 1 else opts.verbose_name_plural
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": opts,
        "title": f"{action.verb}: {len(objects)} {what}",
        "verb": action.verb,
        "explanation": action.explanation,
        "objects": objects,
        "form": form,
        "hidden": [("action", action.name)] + [(ACTION_CHECKBOX_NAME, obj.pk) for obj in objects],
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/reason_objects.html", context)


class EstimatedCountPaginator(Paginator):
    """A paginator for the big tables (events, ledger, messages, audit): the changelist's
    page count comes from the planner's estimate (``pg_class.reltuples``) instead of an exact
    ``COUNT(*)`` over millions of rows. Filtered or searched lists are counted exactly (they
    are what staff narrow down to); the whole table is estimated."""

    # One query either way: the estimate (a partitioned table's is the sum of its partitions'),
    # or the exact count when the estimate is small (the count is as cheap then) or unknown.
    ESTIMATE_SQL = """
        SELECT CASE WHEN estimate >= %s THEN estimate::bigint ELSE (SELECT count(*) FROM {table}) END
        FROM (
            SELECT greatest(c.reltuples, 0) + coalesce((
                SELECT sum(greatest(k.reltuples, 0)) FROM pg_inherits i
                JOIN pg_class k ON k.oid = i.inhrelid WHERE i.inhparent = c.oid
            ), 0) AS estimate
            FROM pg_class c WHERE c.oid = %s::regclass
        ) AS s
    """
    EXACT_BELOW = 10_000

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is None or query.where:
            return super().count
        table = self.object_list.model._meta.db_table
        sql = self.ESTIMATE_SQL.format(table=connection.ops.quote_name(table))
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.EXACT_BELOW, table])
            row = cursor.fetchone()
        return int(row[0]) if row else super().count


class AuditAreaFilter(admin.SimpleListFilter):
    """The app an action belongs to ("listings.take_down" -> listings), from a fixed list: a
    plain field filter would run SELECT DISTINCT over the whole log on every page."""

    title = "area"
    parameter_name = "area"
    AREAS = (
        ("accounts", "Accounts"),
        ("listings", "Listings"),
        ("reviews", "Reviews"),
        ("messaging", "Messaging"),
        ("payments", "Payments"),
        ("moderation", "Reports"),
        ("auth", "Permissions"),
    )

    def lookups(self, request, model_admin):
        return self.AREAS

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action__startswith=f"{self.value()}.")
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyModelAdmin):
    """Every staff action, newest first: read and filter, never edit (the database refuses it)."""

    list_display = ("created_at", "actor", "action", "target_type", "target_repr", "reason")
    list_select_related = ("actor",)
    list_filter = (AuditAreaFilter, ("created_at", admin.DateFieldListFilter))
    search_fields = ("=target_id", "=actor__email", "reason")
    search_help_text = "An exact object id or staff email, or part of the reason."
    ordering = ("-created_at", "-id")
    fields = ("created_at", "actor", "action", "target_type", "target_id", "target_repr", "reason", "changes")
    readonly_fields = fields
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator


# --- The job queue (Procrastinate) --------------------------------------------------------
# Procrastinate's own admin, narrowed: failed jobs (retries exhausted) are what staff come
# for; an email job's body is not shown (it may hold a sign-in or password-reset link).
admin.site.unregister(ProcrastinateJob)  # shown as QueuedJob below, named without its arguments

REDACTED_TASK_ARGS = {"marketplace.send_email": ("text", "html")}


@admin.register(QueuedJob)
class JobAdmin(ProcrastinateJobAdmin):
    """Jobs waiting, running and failed (succeeded ones are deleted by the worker). Filter by
    status "failed" for the jobs whose retries ran out; the "Retry" action queues them again
    at once (the worker runs them within seconds); "Cancel" drops a waiting one."""

    list_display = [
        "pk",
        "task_name",
        "redacted_args",
        "pretty_status",
        "attempts",
        "scheduled_at",
        "last_event",
    ]
    list_filter = ["status", "task_name", "queue_name"]
    search_fields = ["=id", "task_name", "args__to"]
    search_help_text = "A job id, a task name, or an email job's recipient."
    ordering = ["-id"]
    fields = [
        "pk",
        "task_name",
        "redacted_args",
        "pretty_status",
        "queue_name",
        "queueing_lock",
        "scheduled_at",
        "attempts",
    ]
    show_facets = admin.ShowFacets.NEVER

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    @admin.display(description="Arguments")
    def redacted_args(self, instance: ProcrastinateJob) -> str:
        hidden = REDACTED_TASK_ARGS.get(instance.task_name, ())
        args = {
            key: (f"({len(value)} characters, not shown)" if key in hidden and value else value)
            for key, value in instance.args.items()
        }
        return format_html("<pre>{}</pre>", json.dumps(args, indent=1)[:2000])

    @admin.display(description="Last event")
    def last_event(self, instance: ProcrastinateJob) -> str:
        # Procrastinate's own summary column has inline styles, which the CSP refuses.
        event = next(iter(instance.procrastinateevent_set.all()), None)  # prefetched, newest first
        return f"{event.type} {timesince(event.at)} ago" if event else ""

    @admin.action(description="Retry the selected failed jobs now")
    def retry(self, request, queryset):
        failed = list(queryset.filter(status="failed"))
        super().retry(request, queryset.filter(pk__in=[job.pk for job in failed]))
        self.message_user(request, f"{len(failed)} failed job(s) queued again.", messages.SUCCESS)

    actions = [retry, ProcrastinateJobAdmin.cancel]
