from django.contrib import admin, messages
from django.db.models import Case, F, Subquery, Value, When
from django.urls import reverse
from django.utils.html import format_html

from marketplace.admin import EstimatedCountPaginator, ReasonAction, reason_action
from marketplace.errors import ServiceError
from messaging.models import (
    Conversation,
    ConversationArchive,
    ConversationReport,
    Message,
    ReportStatus,
    UserBlock,
)
from messaging.safety import MODERATE_PERMISSION, conversation_moderate, report_resolve

INLINE_MESSAGES = 20


class MessageInline(admin.TabularInline):
    """The newest messages of a conversation, read-only; the full thread is a link away."""

    model = Message
    fields = ("created_at", "sender", "message", "read_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    extra = 0
    show_change_link = True
    verbose_name_plural = f"latest {INLINE_MESSAGES} messages"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Conversations are opened by their participants; staff read them and set the status."""

    list_display = ("__str__", "listing", "buyer", "seller", "status", "last_message_at", "created_at")
    list_select_related = ("listing", "buyer", "seller")
    list_filter = (
        "status",
        ("listing", admin.EmptyFieldListFilter),
        ("last_message_at", admin.DateFieldListFilter),
    )
    search_fields = ("subject", "=buyer__email", "=seller__email", "listing__title")
    search_help_text = "Part of the subject or listing title, or an exact participant email."
    ordering = (F("last_message_at").desc(nulls_last=True),)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "subject",
        "status",
        "listing",
        "buyer",
        "seller",
        "all_messages",
        "last_message_at",
        "created_at",
        "updated_at",
    )
    # The status changes through conversation_moderate (the actions), with a reason and an audit row.
    readonly_fields = (
        "status",
        "listing",
        "buyer",
        "seller",
        "all_messages",
        *Conversation.trigger_managed_fields,
    )
    inlines = (MessageInline,)
    actions = ("mark_spam", "restore_conversations")

    def has_moderate_permission(self, request) -> bool:
        return request.user.has_perm(MODERATE_PERMISSION)

    @admin.action(description="Mark selected conversations spam…", permissions=["moderate"])
    def mark_spam(self, request, queryset):
        return reason_action(self, request, queryset, CONVERSATION_ACTIONS["spam"])

    @admin.action(description="Restore selected conversations…", permissions=["moderate"])
    def restore_conversations(self, request, queryset):
        return reason_action(self, request, queryset, CONVERSATION_ACTIONS["restore"])

    @admin.display(description="Messages")
    def all_messages(self, obj: Conversation) -> str:
        url = reverse("admin:messaging_message_changelist")
        return format_html('<a href="{}?conversation={}">All messages of this conversation</a>', url, obj.pk)

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, MessageInline):
            # A formset filters its queryset, which a slice forbids: slice in a subquery.
            newest = Message.objects.filter(conversation=obj).order_by("-created_at", "-id").values("pk")
            kwargs["queryset"] = (
                Message.objects.filter(pk__in=Subquery(newest[:INLINE_MESSAGES]))
                .select_related("sender")
                .order_by("-created_at", "-id")
            )
        return kwargs

    def has_add_permission(self, request):
        return False


CONVERSATION_ACTIONS = {
    "spam": ReasonAction(
        "mark_spam",
        "Mark spam",
        "marked spam",
        "The conversation moves to both participants' spam folder.",
        lambda conversation, actor, reason: conversation_moderate(
            conversation=conversation, actor=actor, spam=True, reason=reason
        ),
    ),
    "restore": ReasonAction(
        "restore_conversations",
        "Restore",
        "restored",
        "The conversation is active again for both participants.",
        lambda conversation, actor, reason: conversation_moderate(
            conversation=conversation, actor=actor, spam=False, reason=reason
        ),
    ),
}


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Read-only: staff never write or rewrite users' messages, but may delete abusive ones."""

    list_display = ("excerpt", "conversation", "sender", "read_at", "created_at")
    list_select_related = ("conversation", "sender")
    list_filter = (("read_at", admin.EmptyFieldListFilter), ("created_at", admin.DateFieldListFilter))
    search_fields = ("message", "=sender__email")
    search_help_text = "Part of the message, or an exact sender email."
    ordering = ("-created_at",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # no exact COUNT(*) over every message
    show_facets = admin.ShowFacets.NEVER
    fields = ("conversation", "sender", "message", "attachments", "client_id", "read_at", "created_at")
    readonly_fields = fields

    @admin.display(description="Message")
    def excerpt(self, obj: Message) -> str:
        return obj.message if len(obj.message) <= 80 else f"{obj.message[:79]}…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Safety: the spam-report moderation queue, blocks, archives ----------------------------------
@admin.register(ConversationReport)
class ConversationReportAdmin(admin.ModelAdmin):
    """The moderation queue: open reports first (oldest first), then decided ones. Staff read the
    conversation through its link and decide with the actions: confirmed spam moves the
    conversation to both participants' spam folder; dismissed leaves it as it is."""

    list_display = (
        "__str__",
        "status",
        "reporter",
        "reported",
        "conversation_link",
        "created_at",
        "resolved_at",
    )
    list_select_related = ("reporter", "reported", "conversation")
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("note", "=reporter__email", "=reported__email")
    search_help_text = "Part of the note, or the exact email of the reporter or the reported member."
    ordering = (Case(When(status=ReportStatus.OPEN, then=Value(0)), default=Value(1)).asc(), "created_at")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "conversation_link",
        "reporter",
        "reported",
        "note",
        "status",
        "created_at",
        "resolved_at",
        "resolved_by",
    )
    readonly_fields = fields
    actions = ("confirm_spam", "dismiss")

    @admin.display(description="Conversation")
    def conversation_link(self, obj: ConversationReport) -> str:
        url = reverse("admin:messaging_conversation_change", args=[obj.conversation_id])
        return format_html('<a href="{}">{}</a>', url, obj.conversation)

    def _decide(self, request, queryset, *, spam: bool) -> None:
        decided = 0
        for report in queryset.filter(status=ReportStatus.OPEN):
            try:
                report_resolve(report=report, actor=request.user, spam=spam)
            except ServiceError as error:
                self.message_user(request, error.message, level=messages.WARNING)
            else:
                decided += 1
        self.message_user(request, f"{decided} report(s) decided.")

    def has_moderate_permission(self, request) -> bool:
        return request.user.has_perm(MODERATE_PERMISSION)

    @admin.action(
        description="Confirm spam (the conversation moves to both spam folders)", permissions=["moderate"]
    )
    def confirm_spam(self, request, queryset):
        self._decide(request, queryset, spam=True)

    @admin.action(description="Dismiss", permissions=["moderate"])
    def dismiss(self, request, queryset):
        self._decide(request, queryset, spam=False)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UserBlock)
class UserBlockAdmin(admin.ModelAdmin):
    """Who blocked whom: read-only (a block is the member's own decision); staff may delete one."""

    list_display = ("blocker", "blocked", "created_at")
    list_select_related = ("blocker", "blocked")
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("=blocker__email", "=blocked__email")
    search_help_text = "The exact email of either member."
    ordering = ("-created_at",)
    show_full_result_count = False
    fields = ("blocker", "blocked", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ConversationArchive)
class ConversationArchiveAdmin(admin.ModelAdmin):
    """Which member put which conversation away (read-only)."""

    list_display = ("conversation", "user", "archived_at")
    list_select_related = ("conversation", "user")
    list_filter = (("archived_at", admin.DateFieldListFilter),)
    search_fields = ("=user__email",)
    search_help_text = "The exact email of the member."
    ordering = ("-archived_at",)
    show_full_result_count = False
    fields = ("conversation", "user", "archived_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
