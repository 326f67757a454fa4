from django.contrib import admin
from django.db.models import F, Subquery
from django.urls import reverse
from django.utils.html import format_html

from messaging.models import Conversation, Message

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
    readonly_fields = (
        "listing",
        "buyer",
        "seller",
        "all_messages",
        *Conversation.trigger_managed_fields,
    )
    inlines = (MessageInline,)

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
    show_facets = admin.ShowFacets.NEVER
    fields = ("conversation", "sender", "message", "attachments", "read_at", "created_at")
    readonly_fields = fields

    @admin.display(description="Message")
    def excerpt(self, obj: Message) -> str:
        return obj.message if len(obj.message) <= 80 else f"{obj.message[:79]}…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
