"""The moderation queue and the one page for every staff action on a reported object.

The queue (``admin/moderation/report/queue/``) lists open reports grouped per object, oldest
first, with the count and the reasons, the object and its owner one click away, and buttons
for the actions the staff member may take. Each action page (``.../act/<type>/<id>/<action>/``)
asks for the reason on ``templates/admin/reason_confirmation.html`` and calls the service of
the app that owns the object; with "resolve" ticked (the default) it also resolves the open
reports on the object, linking the action's audit row, in the same transaction. "No action"
resolves them without acting. A staff member without the action's permission gets 403.
"""

from dataclasses import dataclass
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.aggregates import ArrayAgg
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Case, Count, Min, Value, When
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.models import User
from accounts.services import (
    MODERATE_USER_PERMISSION,
    VERIFY_USER_PERMISSION,
    user_badge_set,
    user_ban,
    user_reinstate,
    user_suspend,
)
from listings.models import Listing
from listings.moderation import (
    APPROVE_PERMISSION,
    listing_approve,
    listing_decline,
    listing_restore,
    listing_take_down,
)
from listings.moderation import (
    MODERATE_PERMISSION as LISTING_PERMISSION,
)
from marketplace.admin import StaffReasonForm
from marketplace.errors import ErrorCode, ServiceError
from messaging.models import Message
from messaging.safety import MODERATE_PERMISSION as CONVERSATION_PERMISSION
from messaging.safety import conversation_moderate
from moderation.models import Report, ReportReason, ReportStatus, ReportTarget
from moderation.services import RESOLVE_PERMISSION, latest_action_on, report_resolve
from reviews.models import Review
from reviews.services import MODERATE_PERMISSION as REVIEW_PERMISSION
from reviews.services import review_moderate

QUEUE_SIZE = 100


@dataclass(frozen=True)
class ObjectAction:
    verb: str
    permission: str
    explanation: str
    run: object  # (obj, actor, reason) -> None; None for "no action"


def _review(obj, actor, reason, *, action: str):
    review_moderate(review=obj, actor=actor, action=action, reason=reason)


ACTIONS: dict[str, dict[str, ObjectAction]] = {
    ReportTarget.LISTING: {
        "take_down": ObjectAction(
            "Take down",
            LISTING_PERMISSION,
            "The listing leaves the site at once; the seller is notified and sees the reason on their "
            "dashboard.",
            lambda obj, actor, reason: listing_take_down(listing=obj, actor=actor, reason=reason),
        ),
        "restore": ObjectAction(
            "Restore",
            LISTING_PERMISSION,
            "A taken-down listing comes back; the seller is notified.",
            lambda obj, actor, reason: listing_restore(listing=obj, actor=actor, reason=reason),
        ),
        "approve": ObjectAction(
            "Approve",
            APPROVE_PERMISSION,
            "The listing goes live; the seller is notified.",
            lambda obj, actor, reason: listing_approve(listing=obj, actor=actor, reason=reason),
        ),
        "decline": ObjectAction(
            "Decline",
            APPROVE_PERMISSION,
            "The listing goes back to the seller's drafts with the reason.",
            lambda obj, actor, reason: listing_decline(listing=obj, actor=actor, reason=reason),
        ),
    },
    ReportTarget.USER: {
        "suspend": ObjectAction(
            "Suspend",
            MODERATE_USER_PERMISSION,
            "The member can browse but not buy, sell or message.",
            lambda obj, actor, reason: user_suspend(user=obj, actor=actor, reason=reason),
        ),
        "ban": ObjectAction(
            "Ban",
            MODERATE_USER_PERMISSION,
            "The member cannot log in, their sessions end and their listings leave public pages.",
            lambda obj, actor, reason: user_ban(user=obj, actor=actor, reason=reason),
        ),
        "reinstate": ObjectAction(
            "Reinstate",
            MODERATE_USER_PERMISSION,
            "The member is active again.",
            lambda obj, actor, reason: user_reinstate(user=obj, actor=actor, reason=reason),
        ),
        "verify_seller": ObjectAction(
            "Mark seller-verified",
            VERIFY_USER_PERMISSION,
            "The seller-verified badge shows on the member's pages.",
            lambda obj, actor, reason: user_badge_set(
                user=obj, actor=actor, badge="seller_verified", verified=True, reason=reason
            ),
        ),
        "verify_kyc": ObjectAction(
            "Mark KYC-verified",
            VERIFY_USER_PERMISSION,
            "The KYC-verified badge shows on the member's pages.",
            lambda obj, actor, reason: user_badge_set(
                user=obj, actor=actor, badge="kyc_verified", verified=True, reason=reason
            ),
        ),
    },
    ReportTarget.REVIEW: {
        action: ObjectAction(verb, REVIEW_PERMISSION, explanation, partial(_review, action=action))
        for action, verb, explanation in (
            ("remove", "Remove", "The review is hidden and no longer counts in the rating."),
            ("restore", "Restore", "The review is visible again and its open flags are closed."),
            ("feature", "Feature", "The review is shown first on the member's pages."),
        )
    },
    ReportTarget.MESSAGE: {
        "spam": ObjectAction(
            "Mark the conversation spam",
            CONVERSATION_PERMISSION,
            "The message's conversation moves to both participants' spam folder.",
            lambda obj, actor, reason: conversation_moderate(
                conversation=obj.conversation, actor=actor, spam=True, reason=reason
            ),
        ),
        "restore": ObjectAction(
            "Restore the conversation",
            CONVERSATION_PERMISSION,
            "The message's conversation is active again.",
            lambda obj, actor, reason: conversation_moderate(
                conversation=obj.conversation, actor=actor, spam=False, reason=reason
            ),
        ),
    },
}
NO_ACTION = ObjectAction(
    "Resolve with no action",
    RESOLVE_PERMISSION,
    "The open reports on this are closed with no action; the reporters are told it was looked at.",
    None,
)
MODELS = {
    ReportTarget.LISTING: Listing,
    ReportTarget.USER: User,
    ReportTarget.REVIEW: Review,
    ReportTarget.MESSAGE: Message,
}
# What to read with a reported object, and the model whose audit rows an action writes.
SELECT_RELATED = {
    ReportTarget.LISTING: ("seller",),
    ReportTarget.REVIEW: ("reviewer",),
    ReportTarget.MESSAGE: ("conversation", "sender"),
}


def admin_link(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


class ActForm(StaffReasonForm):
    resolve = forms.BooleanField(
        required=False, initial=True, label="Resolve the open reports on it, linking this action"
    )


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """Every report, open first; the grouped queue is a link away (``queue/``)."""

    list_display = (
        "created_at",
        "target_type",
        "object_link",
        "owner",
        "reason",
        "text",
        "reporter",
        "status",
    )
    list_select_related = ("owner", "reporter")
    list_filter = ("status", "target_type", "reason")
    search_fields = ("=object_key", "=owner__email", "=reporter__email", "text")
    search_help_text = "An exact object key (listing:<id>) or email, or part of the report's text."
    ordering = (
        Case(When(status=ReportStatus.OPEN, then=Value(0)), default=Value(1)).asc(),
        "object_key",
        "created_at",
    )
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = [field.name for field in Report._meta.fields]
    change_list_template = "admin/moderation/report/change_list.html"

    def has_add_permission(self, request):
        return False  # members report from the site

    def has_change_permission(self, request, obj=None):
        return False  # resolved through the queue's actions

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Object")
    def object_link(self, obj: Report) -> str:
        target_type, _, target_id = obj.object_key.partition(":")
        model = MODELS[target_type]
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[target_id])
        return format_html('<a href="{}">{}</a>', url, obj.object_key)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("queue/", view(self.queue_view), name="moderation_report_queue"),
            path(
                "act/<str:target_type>/<str:object_id>/<str:action>/",
                view(self.act_view),
                name="moderation_report_act",
            ),
            *super().get_urls(),
        ]

    # --- The queue --------------------------------------------------------------------------
    def queue_rows(self) -> list[dict]:
        """Open reports grouped per object, oldest first: one aggregate query."""
        rows = list(
            Report.objects.filter(status=ReportStatus.OPEN)
            .values(
                "object_key",
                "target_type",
                "owner_id",
                "owner__email",
                "listing__title",
                "user__email",
                "review__title",
                "message__message",
            )
            .annotate(count=Count("id"), reasons=ArrayAgg("reason", distinct=True), first=Min("created_at"))
            .order_by("first", "object_key")[:QUEUE_SIZE]
        )
        labels = dict(ReportReason.choices)
        for row in rows:
            target_type, _, object_id = row["object_key"].partition(":")
            model = MODELS[target_type]
            row["object_id"] = object_id
            row["object_url"] = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[object_id]
            )
            row["object_name"] = (
                row["listing__title"]
                or row["user__email"]
                or row["review__title"]
                or row["message__message"]
                or ""
            )[:80] or row["object_key"]
            row["owner_url"] = reverse("admin:accounts_user_change", args=[row["owner_id"]])
            row["reason_labels"] = [labels.get(reason, reason) for reason in row["reasons"]]
            row["actions"] = [
                (
                    name,
                    action.verb,
                    reverse("admin:moderation_report_act", args=[target_type, object_id, name]),
                )
                for name, action in {**ACTIONS[target_type], "no_action": NO_ACTION}.items()
            ]
        return rows

    def queue_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Moderation queue",
            "rows": self.queue_rows(),
            "queue_size": QUEUE_SIZE,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/moderation/report/queue.html", context)

    # --- One action on one object -----------------------------------------------------------
    def act_view(self, request, target_type, object_id, action):
        actions = ACTIONS.get(target_type, {})
        chosen = NO_ACTION if action == "no_action" else actions.get(action)
        model = MODELS.get(target_type)
        if chosen is None or model is None:
            raise Http404("No such action.")
        if not request.user.has_perm(chosen.permission):
            raise PermissionDenied
        try:
            obj = (
                model.objects.select_related(*SELECT_RELATED.get(target_type, ()))
                .filter(pk=object_id)
                .first()
            )
        except (ValueError, ServiceError):
            obj = None
        if obj is None:
            raise Http404("No such object.")
        object_key = f"{target_type}:{obj.pk}"
        open_reports = Report.objects.filter(object_key=object_key, status=ReportStatus.OPEN).count()
        form = ActForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            try:
                with transaction.atomic():
                    if chosen.run is not None:
                        chosen.run(obj, request.user, reason)
                    resolve = chosen.run is None or form.cleaned_data["resolve"]
                    if resolve and open_reports and request.user.has_perm(RESOLVE_PERMISSION):
                        audited = obj.conversation if target_type == ReportTarget.MESSAGE else obj
                        entry = latest_action_on(target=audited) if chosen.run is not None else None
                        report_resolve(object_key=object_key, actor=request.user, note=reason, action=entry)
            except ServiceError as error:
                if error.code == ErrorCode.FORBIDDEN:
                    raise PermissionDenied(error.message) from error
                self.message_user(request, f"{obj}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{chosen.verb}: done for {obj}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:moderation_report_queue"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{chosen.verb}: {obj}",
            "verb": chosen.verb,
            "explanation": chosen.explanation,
            "form": form,
            "hidden": [],
            "object": obj,
            "object_url": admin_link(obj),
            "open_reports": open_reports,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/moderation/report/act.html", context)
