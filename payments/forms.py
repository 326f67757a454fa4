"""Staff forms of the payments admin: the reason every staff money decision records."""

from django import forms

from payments.services.escrow import STAFF_REASON_MAX_LENGTH


class StaffDecisionForm(forms.Form):
    """The reason staff give for releasing a held payout (recorded)."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        max_length=STAFF_REASON_MAX_LENGTH,
        help_text="Required. Recorded with the decision (Staff decisions) and shown to other staff.",
        error_messages={"required": "Give a reason: nothing was changed."},
    )


class StaffRefundForm(StaffDecisionForm):
    """A staff refund in full: the reason, and whether to refund even when Stripe will not take
    the seller's payout back (the seller then owes it)."""

    book_seller_debt = forms.BooleanField(
        required=False,
        label="Refund even if the seller's payout cannot be taken back",
        help_text="After the payout: if Stripe refuses to take the money back from the seller, the "
        "buyer is refunded anyway and the amount is recorded as owed by the seller.",
    )
