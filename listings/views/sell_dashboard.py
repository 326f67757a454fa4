"""The seller's side: "Start selling" (becoming a seller, then editing those details) and the
seller dashboard. Thin views over accounts.services and listings.selectors."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from accounts.forms import SellerOnboardingForm
from accounts.services import ensure_can_start_selling, seller_onboard
from listings.selectors import seller_dashboard
from marketplace.errors import ErrorCode, ServiceError
from offers.selectors import live_offers_received
from payments.connect import PayoutStatus, seller_payout_status
from payments.selectors import seller_recent_sales, seller_sales_summary

# Where a ServiceError from seller_onboard belongs on the form; others go above it.
FIELD_OF_ERROR = {ErrorCode.DISPLAY_NAME_INVALID: "display_name", ErrorCode.PHONE_INVALID: "phone_number"}


def _payouts(user, *, summary=None) -> dict:
    """The payouts panel: status from the Redis-cached readiness (no SQL), and on the
    dashboard (``summary`` from ``seller_sales_summary``) the sales waiting for it."""
    if not user.is_seller:
        return {
            "payout_status": PayoutStatus.NOT_CONNECTED,
            "payouts_simulated": settings.STRIPE_CONNECT_SIMULATED,
        }
    status = seller_payout_status(user=user)
    waiting = 0
    if summary and status != PayoutStatus.ENABLED:
        waiting = sum(line.waiting_count for line in summary)
    return {
        "payout_status": status,
        "payouts_simulated": settings.STRIPE_CONNECT_SIMULATED,
        "payouts_waiting": waiting,
    }


def _refusal(user) -> ServiceError | None:
    try:
        ensure_can_start_selling(user)
    except ServiceError as error:
        return error
    return None


@login_required
def start(request):
    """Any logged-in member may open the page; the form is offered only to those who may
    sell (active account, verified email). The others are told why, and an unverified
    email gets the resend button."""
    user = request.user
    template = "sell/start.html"
    refusal = _refusal(user)
    context = {"refusal": refusal, "form": None, **_payouts(user)}
    if refusal is not None:
        return render(request, template, context, status=403 if request.method == "POST" else 200)

    initial = {
        # A first suggestion from the profile, never from the email address.
        "display_name": user.seller_display_name or f"{user.first_name} {user.last_name}".strip(),
        "phone_number": user.phone_number,
    }
    if request.method != "POST":
        return render(request, template, {**context, "form": SellerOnboardingForm(initial=initial)})

    form = SellerOnboardingForm(request.POST, initial=initial)
    if form.is_valid():
        was_seller = user.is_seller
        try:
            seller_onboard(
                user=user,
                display_name=form.cleaned_data["display_name"],
                phone_number=form.cleaned_data["phone_number"],
            )
        except ServiceError as error:
            form.add_error(FIELD_OF_ERROR.get(error.code), error.message)
        else:
            if was_seller:
                messages.success(request, "Your seller details were saved.")
                return redirect("sell:start")
            messages.success(
                request, f"You are now a seller, {user.seller_display_name}. Create your first listing."
            )
            return redirect("sell:dashboard")
    return render(request, template, {**context, "form": form})


@login_required
def dashboard(request):
    """The seller's own listings by status (``?status=``, active by default), with counts."""
    if not request.user.is_seller:
        messages.info(request, "Set up your seller details to start selling.")
        return redirect("sell:start")
    page = seller_dashboard(
        seller=request.user, status=request.GET.get("status"), cursor=request.GET.get("cursor")
    )
    # Every sale keeps its listing (the key is PROTECT, and only drafts never published can
    # be deleted), so a seller without listings has no sales: no query for them.
    summary = seller_sales_summary(seller=request.user) if page.total else []
    recent_sales = seller_recent_sales(seller=request.user) if summary else []
    context = {
        "page": page,
        "sales_summary": summary,
        "recent_sales": recent_sales,
        # Offers come only on listings: none to look for without any.
        "open_offers": live_offers_received(seller=request.user) if page.total else [],
        **_payouts(request.user, summary=summary),
    }
    return render(request, "sell/dashboard.html", context)
