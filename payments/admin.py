from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from listings.admin import CurrencyListFilter
from marketplace.admin import EstimatedCountPaginator, ReadOnlyModelAdmin
from marketplace.errors import ServiceError
from marketplace.money import format_amount
from payments.forms import StaffDecisionForm, StaffRefundForm
from payments.ledger import transaction_figures
from payments.models import LedgerEntry, StaffDecision, StripeEvent, Transaction
from payments.selectors import REFUND_PERMISSION, RELEASE_HELD_PERMISSION
from payments.services import refund_issue, transaction_release_held_payout

STAFF_DECISION_TEMPLATE = "admin/payments/transaction/staff_decision.html"


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    """Transactions are a ledger: read here, created and moved only by the payments services.

    Every status transition lives in one place (it also moves the listing and money at
    Stripe), so no amount, party, status or provider reference is editable. Refunds go
    through ``payments.services.refund_issue``: in full from the list's action, any amount from
    the order page (linked on each transaction; staff may open every order page). Both need
    the ``payments.refund_transaction`` permission and a reason; releasing a payout held for a
    seller not in good standing needs ``payments.release_held_payout`` and a reason.
    """

    actions = ("refund_in_full", "release_held_payouts")

    list_display = (
        "reference",
        "listing",
        "buyer",
        "seller",
        "status",
        "total",
        "platform_fee",
        "payment_provider",
        "created_at",
        "completed_at",
    )
    list_display_links = ("reference",)
    list_select_related = ("listing", "buyer", "seller")
    list_filter = (
        "status",
        "payment_provider",
        CurrencyListFilter,
        ("escrow_released_at", admin.EmptyFieldListFilter),
        ("cancelled_at", admin.EmptyFieldListFilter),
    )
    search_fields = (
        "=payment_intent_id",
        "=charge_id",
        "=transfer_id",
        "=buyer__email",
        "=seller__email",
        "listing__title",
    )
    search_help_text = "An exact Stripe id or party email, or part of the listing title."
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fieldsets = (
        (None, {"fields": ("listing", "buyer", "seller", "status", "order_page")}),
        (
            "Amounts (minor units)",
            {
                "fields": (
                    "currency",
                    ("subtotal_cents", "platform_fee_cents", "processing_fee_cents"),
                    ("total_cents", "seller_payout_cents"),
                )
            },
        ),
        (
            "Provider",
            {"fields": ("payment_provider", "payment_intent_id", "charge_id", "transfer_id", "metadata")},
        ),
        ("Escrow", {"fields": ("escrow_release_date", "escrow_released_at")}),
        ("Notes", {"fields": ("buyer_note", "seller_note")}),
        ("Dates", {"fields": ("created_at", "updated_at", "completed_at", "cancelled_at")}),
    )
    readonly_fields = (
        "order_page",
        "listing",
        "buyer",
        "seller",
        "status",
        "currency",
        "subtotal_cents",
        "platform_fee_cents",
        "processing_fee_cents",
        "total_cents",
        "seller_payout_cents",
        "payment_provider",
        "payment_intent_id",
        "charge_id",
        "transfer_id",
        "metadata",
        "escrow_release_date",
        "escrow_released_at",
        "created_at",
        "updated_at",
        "completed_at",
        "cancelled_at",
    )

    @admin.display(description="Reference", ordering="id")
    def reference(self, obj: Transaction) -> str:
        return str(obj.id)[:8]

    @admin.display(description="Total", ordering="total_cents")
    def total(self, obj: Transaction) -> str:
        return format_amount(obj.total_cents, obj.currency)

    @admin.display(description="Platform fee", ordering="platform_fee_cents")
    def platform_fee(self, obj: Transaction) -> str:
        return format_amount(obj.platform_fee_cents, obj.currency)

    @admin.display(description="Order page")
    def order_page(self, obj: Transaction) -> str:
        return format_html(
            '<a href="{}">Open the order page (timeline, ledger amounts, refund)</a>',
            reverse("payments:order", args=[obj.pk]),
        )

    # Staff money decisions: each asks for a reason on an intermediate page (as Django's "delete
    # selected" asks for confirmation), then calls the service once per purchase; a refusal is
    # reported for that purchase and the others still go through.

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    def has_release_held_permission(self, request) -> bool:
        return request.user.has_perm(RELEASE_HELD_PERMISSION)

    @admin.action(description="Refund selected purchases in full (Stripe)…", permissions=["refund"])
    def refund_in_full(self, request, queryset):
        """Each purchase through ``refund_issue`` (which asks ``selectors.may_refund``): what
        remains of its charge (``ledger``'s ``refund_remaining``), one request key per
        transaction and amount, so running the action twice refunds once. After release the
        seller's payout is taken back first; with "refund even if..." a refused reversal books
        the seller's debt instead of refusing."""
        transactions = list(queryset.select_related("listing").order_by("created_at"))
        form = StaffRefundForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._decision_page(request, "refund_in_full", form, transactions)
        refunded = 0
        for txn in transactions:
            remaining = transaction_figures(txn).refund_remaining
            try:
                refund_issue(
                    transaction=txn,
                    amount_cents=remaining,
                    actor=request.user,
                    request_key=f"admin-full-{remaining}",
                    reason=form.cleaned_data["reason"],
                    book_seller_debt=form.cleaned_data["book_seller_debt"],
                )
            except ServiceError as error:
                self.message_user(request, f"{str(txn.pk)[:8]}: {error.message}", messages.ERROR)
            else:
                refunded += 1
        if refunded:
            self.message_user(request, f"Refunded {refunded} purchase(s) in full.", messages.SUCCESS)
        return None

    @admin.action(description="Release selected held payouts to the seller…", permissions=["release_held"])
    def release_held_payouts(self, request, queryset):
        """Each purchase through ``transaction_release_held_payout``: pays a payout held because
        the seller is not in good standing (the ``reconcile`` command lists them)."""
        transactions = list(queryset.select_related("listing").order_by("created_at"))
        form = StaffDecisionForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._decision_page(request, "release_held_payouts", form, transactions)
        released = 0
        for txn in transactions:
            try:
                transaction_release_held_payout(
                    transaction=txn, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except ServiceError as error:
                # "Purchase" first: the admin capitalises a message's first letter (an id's too).
                self.message_user(request, f"Purchase {str(txn.pk)[:8]}: {error.message}", messages.ERROR)
            else:
                released += 1
        if released:
            self.message_user(request, f"Released {released} held payout(s).", messages.SUCCESS)
        return None

    _DECISIONS = {
        "refund_in_full": (
            "Refund in full",
            "Each purchase is refunded in full at Stripe. After the payout to the seller, the "
            "seller's part is taken back from them first; if Stripe refuses, the refund is refused "
            "unless you tick the box below, which records the amount as owed by the seller.",
        ),
        "release_held_payouts": (
            "Release held payouts",
            "Each payout held because the seller is suspended or banned is transferred to the "
            "seller now, and the purchase completes.",
        ),
    }

    def _decision_page(self, request, action: str, form, transactions: list[Transaction]):
        verb, explanation = self._DECISIONS[action]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{verb}: {len(transactions)} purchase{'s' if len(transactions) != 1 else ''}",
            "verb": verb,
            "explanation": explanation,
            "transactions": transactions,
            "form": form,
            "hidden": [("action", action), *((ACTION_CHECKBOX_NAME, txn.pk) for txn in transactions)],
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, STAFF_DECISION_TEMPLATE, context)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyModelAdmin):
    """The money ledger, read-only: the database refuses UPDATE and DELETE of its rows, and
    only the payments services append them."""

    list_display = ("id", "transaction_reference", "kind", "amount", "external_id", "created_at")
    list_select_related = ("transaction",)
    list_filter = ("kind", CurrencyListFilter)
    search_fields = ("=external_id", "=transaction__id", "=transaction__payment_intent_id")
    search_help_text = "An exact Stripe id, transaction id or payment intent id."
    date_hierarchy = "created_at"
    ordering = ("-id",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # no exact COUNT(*) over the whole ledger
    show_facets = admin.ShowFacets.NEVER
    fields = ("transaction", "kind", "amount_cents", "currency", "external_id", "created_at")
    readonly_fields = fields

    @admin.display(description="Transaction", ordering="transaction_id")
    def transaction_reference(self, obj: LedgerEntry) -> str:
        return str(obj.transaction_id)[:8]

    @admin.display(description="Amount", ordering="amount_cents")
    def amount(self, obj: LedgerEntry) -> str:
        return format_amount(obj.amount_cents, obj.currency)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyModelAdmin):
    """Webhook events as Stripe sent them: a log, never edited (a changed row would hide or
    replay an event)."""

    list_display = ("event_id", "type", "object_id", "created", "received_at", "processed_at")
    list_filter = ("type",)
    search_fields = ("event_id", "object_id")
    date_hierarchy = "created"
    ordering = ("-created", "-id")
    readonly_fields = ("event_id", "type", "object_id", "created", "received_at", "processed_at", "payload")


@admin.register(StaffDecision)
class StaffDecisionAdmin(ReadOnlyModelAdmin):
    """Every staff money decision (refunds of others' sales, seller debts booked, held payouts
    released) with its reason, newest first. Append-only: read, never edited here."""

    list_display = ("created_at", "transaction_reference", "kind", "amount_cents", "actor", "reason")
    list_select_related = ("transaction", "actor")
    list_filter = ("kind",)
    search_fields = ("=transaction__id", "actor__email", "reason")
    search_help_text = "An exact transaction id, part of the staff member's email, or of the reason."
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    fields = ("created_at", "transaction", "actor", "kind", "amount_cents", "reason")
    readonly_fields = fields

    @admin.display(description="Transaction", ordering="transaction_id")
    def transaction_reference(self, obj: StaffDecision) -> str:
        return str(obj.transaction_id)[:8]
