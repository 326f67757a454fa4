"""Staff pages for accounts. Moderation (suspend, ban, reinstate) goes through the services,
with a required reason that is recorded in the account's status history."""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from accounts.forms import AccountStatusReasonForm, UserAdminChangeForm, UserAdminCreationForm
from accounts.models import AccountStatusChange, User
from accounts.services import (
    MODERATE_USER_PERMISSION,
    VERIFY_USER_PERMISSION,
    user_badge_set,
    user_ban,
    user_reinstate,
    user_suspend,
)
from marketplace.admin import EstimatedCountPaginator, ReasonAction, reason_action
from marketplace.audit import audit_record
from marketplace.errors import ServiceError

STATUS_CHANGE_TEMPLATE = "admin/accounts/user/status_change.html"
STATUS_HISTORY_SHOWN = 50  # the newest; the full record is the Account status changes list


@dataclass(frozen=True)
class StatusAction:
    name: str  # the admin action's name and the change page's URL part
    verb: str  # "Suspend"
    done: str  # "suspended"
    target: str  # the AccountStatus it moves to
    service: Callable[..., User]
    explanation: str


STATUS_ACTIONS = {
    action.name: action
    for action in (
        StatusAction(
            "suspend",
            "Suspend",
            "suspended",
            User.AccountStatus.SUSPENDED,
            user_suspend,
            "Suspended accounts can log in and browse, but cannot buy, sell or send messages. "
            "Their listings stay public.",
        ),
        StatusAction(
            "ban",
            "Ban",
            "banned",
            User.AccountStatus.BANNED,
            user_ban,
            "Banned accounts cannot log in: their sessions end on their next request, and their "
            "listings and profile leave public pages at once.",
        ),
        StatusAction(
            "reinstate",
            "Reinstate",
            "reinstated",
            User.AccountStatus.ACTIVE,
            user_reinstate,
            "Reinstated accounts are active again: they can log in, buy, sell and message, and "
            "their public listings come back.",
        ),
    )
}


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    form = UserAdminChangeForm
    add_form = UserAdminCreationForm
    actions = (
        "suspend_users",
        "ban_users",
        "reinstate_users",
        "grant_seller_verified",
        "withdraw_seller_verified",
        "grant_kyc_verified",
        "withdraw_kyc_verified",
    )
    change_form_template = "admin/accounts/user/change_form.html"

    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "avatar", "bio", "phone_number")}),
        ("Verification", {"fields": ("email_verified_at", "phone_verified_at", "kyc_verified_at")}),
        ("Seller", {"fields": ("is_seller", "seller_verified_at", "stripe_connect_id", "total_sales_count")}),
        (
            "Ratings (kept by the database)",
            {
                "fields": (
                    ("seller_rating", "seller_rating_sum", "seller_rating_count"),
                    ("buyer_rating", "buyer_rating_sum", "buyer_rating_count"),
                )
            },
        ),
        (
            "Permissions",
            {
                "fields": (
                    "account_status",
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Important dates", {"fields": ("last_login", "created_at", "updated_at")}),
        ("Status history", {"fields": ("status_history",)}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )
    # Trigger-kept columns must never come back from a form. account_status changes through
    # the moderation services (a ban revokes sessions), stripe_connect_id through Connect
    # onboarding, last_login through login itself.
    readonly_fields = (
        *User.trigger_managed_fields,
        "account_status",
        "stripe_connect_id",
        "last_login",
        "status_history",
    )

    list_display = (
        "email",
        "full_name",
        "is_seller",
        "account_status",
        "seller_rating",
        "buyer_rating",
        "total_sales_count",
        "is_staff",
        "created_at",
    )
    list_filter = (
        "account_status",
        "is_seller",
        "is_staff",
        "is_superuser",
        "is_active",
        ("email_verified_at", admin.EmptyFieldListFilter),
        ("kyc_verified_at", admin.EmptyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
        "groups",
    )
    search_fields = ("email", "first_name", "last_name", "=stripe_connect_id")
    search_help_text = "Part of the email address or name, or an exact Stripe Connect id."

    def get_search_results(self, request, queryset, search_term):
        """Each word in the email or a name, through the trigram indexes on UPPER(email),
        UPPER(first_name), UPPER(last_name) (a BitmapOr, no scan); a Stripe Connect id
        (``acct_...``) exactly."""
        term = search_term.strip()
        if term.startswith("acct_"):
            return queryset.filter(stripe_connect_id=term), False
        for word in term.split():
            queryset = queryset.filter(
                Q(email__icontains=word) | Q(first_name__icontains=word) | Q(last_name__icontains=word)
            )
        return queryset, False

    ordering = ("-created_at",)
    # A big table: no second COUNT of the whole table on every page, and no "Show counts",
    # which scans the table once per filter.
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # the unfiltered list: the planner's estimate, no COUNT(*)
    show_facets = admin.ShowFacets.NEVER

    # --- Permission changes go to the audit log -----------------------------------------------
    def save_model(self, request, obj, form, change):
        request._permissions_before = permission_state(obj.pk) if change else EMPTY_PERMISSIONS
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        audit_permission_change(
            request, form.instance, getattr(request, "_permissions_before", EMPTY_PERMISSIONS)
        )

    @admin.display(description="Name", ordering="last_name")
    def full_name(self, obj: User) -> str:
        return f"{obj.first_name} {obj.last_name}".strip()

    @admin.display(description="Status history")
    def status_history(self, obj: User) -> str:
        """The account's moderation decisions, newest first (one query). Append-only: change
        the status with the Suspend / Ban / Reinstate buttons, which record a new row."""
        changes = (
            AccountStatusChange.objects.filter(user_id=obj.pk)
            .select_related("actor")
            .order_by("-created_at", "-id")[:STATUS_HISTORY_SHOWN]
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    date_format(timezone.localtime(change.created_at), "DATETIME_FORMAT"),
                    change.get_from_status_display(),
                    change.get_to_status_display(),
                    change.actor.email,
                    change.reason,
                )
                for change in changes
            ),
        )
        if not rows:
            return "No status changes."
        return format_html(
            '<table id="status-history"><thead><tr><th>When</th><th>Change</th><th>By</th><th>Reason</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    # --- Moderation: Suspend / Ban / Reinstate ---------------------------------------------
    # Each asks for a reason on an intermediate page (as Django's "delete selected" asks for
    # confirmation), then calls the service once per account: a refusal (a staff account
    # changed by a non-superuser, an account already in that status) is reported for that
    # account and the others still go through.

    @admin.action(description="Suspend selected users…", permissions=["moderate"])
    def suspend_users(self, request, queryset):
        return self._status_action(request, queryset, STATUS_ACTIONS["suspend"])

    @admin.action(description="Ban selected users…", permissions=["moderate"])
    def ban_users(self, request, queryset):
        return self._status_action(request, queryset, STATUS_ACTIONS["ban"])

    @admin.action(description="Reinstate selected users…", permissions=["moderate"])
    def reinstate_users(self, request, queryset):
        return self._status_action(request, queryset, STATUS_ACTIONS["reinstate"])

    def has_moderate_permission(self, request) -> bool:
        return request.user.has_perm(MODERATE_USER_PERMISSION)

    def has_verify_permission(self, request) -> bool:
        return request.user.has_perm(VERIFY_USER_PERMISSION)

    # --- Badges: seller verified, KYC verified (accounts.verify_user) ---------------------------
    @admin.action(description="Mark selected users seller-verified…", permissions=["verify"])
    def grant_seller_verified(self, request, queryset):
        return reason_action(self, request, queryset, BADGE_ACTIONS["grant_seller_verified"])

    @admin.action(description="Withdraw the seller-verified badge…", permissions=["verify"])
    def withdraw_seller_verified(self, request, queryset):
        return reason_action(self, request, queryset, BADGE_ACTIONS["withdraw_seller_verified"])

    @admin.action(description="Mark selected users KYC-verified…", permissions=["verify"])
    def grant_kyc_verified(self, request, queryset):
        return reason_action(self, request, queryset, BADGE_ACTIONS["grant_kyc_verified"])

    @admin.action(description="Withdraw the KYC-verified badge…", permissions=["verify"])
    def withdraw_kyc_verified(self, request, queryset):
        return reason_action(self, request, queryset, BADGE_ACTIONS["withdraw_kyc_verified"])

    def _status_action(self, request, queryset, action: StatusAction):
        users = list(queryset.order_by("email"))
        form = AccountStatusReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._apply_status(request, users, action, form.cleaned_data["reason"])
            return None  # back to the changelist, with the messages
        return self._status_page(
            request,
            action,
            form,
            users,
            hidden={"action": f"{action.name}_users", ACTION_CHECKBOX_NAME: [user.pk for user in users]},
        )

    def _apply_status(self, request, users: list[User], action: StatusAction, reason: str) -> None:
        changed = []
        for user in users:
            try:
                action.service(user=user, actor=request.user, reason=reason)
            except ServiceError as error:
                self.message_user(request, f"{user.email}: {error.message}", messages.ERROR)
            else:
                changed.append(user.email)
        if changed:
            accounts = f"{len(changed)} account{'s' if len(changed) != 1 else ''}"
            self.message_user(request, f"{accounts} {action.done}: {', '.join(changed)}.", messages.SUCCESS)

    def _status_page(self, request, action: StatusAction, form, users: list[User], *, hidden: dict):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{action.verb} {'this account' if len(users) == 1 else f'{len(users)} accounts'}",
            "verb": action.verb,
            "explanation": action.explanation,
            "users": users,
            "form": form,
            "hidden": [
                (name, value)
                for name, values in hidden.items()
                for value in (values if isinstance(values, list) else [values])
            ],
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, STATUS_CHANGE_TEMPLATE, context)

    # The same, for one account, from buttons on its change page.

    def get_urls(self):
        return [
            path(
                "<path:object_id>/status/<str:action>/",
                self.admin_site.admin_view(self.status_change_view),
                name="accounts_user_status",
            ),
            *super().get_urls(),
        ]

    def status_change_view(self, request, object_id, action):
        status_action = STATUS_ACTIONS.get(action)
        user = self.get_object(request, object_id)
        if status_action is None or user is None:
            raise Http404("No such account or action.")
        if not self.has_moderate_permission(request):
            raise Http404("No such account or action.")
        form = AccountStatusReasonForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            self._apply_status(request, [user], status_action, form.cleaned_data["reason"])
            return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[user.pk]))
        return self._status_page(request, status_action, form, [user], hidden={})

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None and self.has_moderate_permission(request):
            context["status_actions"] = [
                (action, reverse("admin:accounts_user_status", args=[obj.pk, action.name]))
                for action in STATUS_ACTIONS.values()
                if action.target != obj.account_status
            ]
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)


def _badge_action(badge: str, verified: bool) -> ReasonAction:
    name = f"{'grant' if verified else 'withdraw'}_{badge}"
    label = "seller-verified" if badge == "seller_verified" else "KYC-verified"
    return ReasonAction(
        name,
        f"{'Grant' if verified else 'Withdraw'} the {label} badge",
        f"{label} badge {'granted' if verified else 'withdrawn'}",
        f"The {label} badge shows on the member's public pages and listings.",
        lambda user, actor, reason: user_badge_set(
            user=user, actor=actor, badge=badge, verified=verified, reason=reason
        ),
    )


BADGE_ACTIONS = {
    action.name: action
    for action in (
        _badge_action(badge, verified)
        for badge in ("seller_verified", "kyc_verified")
        for verified in (True, False)
    )
}


EMPTY_PERMISSIONS = {"is_staff": False, "is_superuser": False, "groups": [], "user_permissions": []}


def permission_state(user_id) -> dict:
    """What an account may do in the admin: its flags, groups and own permissions (3 queries)."""
    user = User.objects.filter(pk=user_id).only("is_staff", "is_superuser").first()
    if user is None:
        return EMPTY_PERMISSIONS
    return {
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "user_permissions": sorted(
            f"{app}.{codename}"
            for app, codename in user.user_permissions.values_list("content_type__app_label", "codename")
        ),
    }


def audit_permission_change(request, user: User, before: dict) -> None:
    """One audit row when a save in the admin changed what ``user`` may do (issue 15)."""
    after = permission_state(user.pk)
    changes = {key: (before[key], after[key]) for key in after if before[key] != after[key]}
    if changes:
        audit_record(
            actor=request.user,
            action="auth.permissions_change",
            target=user,
            reason="Changed in the admin.",
            changes=changes,
        )


class AuditedGroupAdmin(auth_admin.GroupAdmin):
    """Django's group admin; a change of a group's permissions goes to the audit log."""

    def save_model(self, request, obj, form, change):
        request._group_permissions_before = (
            sorted(
                f"{app}.{codename}"
                for app, codename in obj.permissions.values_list("content_type__app_label", "codename")
            )
            if change
            else []
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        group = form.instance
        after = sorted(
            f"{app}.{codename}"
            for app, codename in group.permissions.values_list("content_type__app_label", "codename")
        )
        before = getattr(request, "_group_permissions_before", [])
        if before != after:
            audit_record(
                actor=request.user,
                action="auth.group_permissions_change",
                target=group,
                reason="Changed in the admin.",
                changes={"permissions": (before, after)},
            )


admin.site.unregister(Group)
admin.site.register(Group, AuditedGroupAdmin)


@admin.register(AccountStatusChange)
class AccountStatusChangeAdmin(admin.ModelAdmin):
    """Every moderation decision, newest first. Append-only: read, never edited here."""

    list_display = ("created_at", "user", "from_status", "to_status", "actor", "reason")
    list_select_related = ("user", "actor")
    list_filter = ("to_status",)
    search_fields = ("user__email", "actor__email", "reason")
    search_help_text = "Part of the account's or the staff member's email address, or of the reason."
    ordering = ("-created_at",)
    fields = ("created_at", "user", "actor", "from_status", "to_status", "reason")
    readonly_fields = fields
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
