"""The seller's sales page at /sell/sales/: every sale with its money from the ledger
(``payments.ledger`` figures, read by ``selectors.seller_sales_overview``)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from payments.selectors import seller_sales_overview


@login_required
def sales(request):
    """The seller's sales by status tab (``?status=``, all by default), newest first."""
    if not request.user.is_seller:
        messages.info(request, "Set up your seller details to start selling.")
        return redirect("sell:start")
    overview = seller_sales_overview(
        seller=request.user, status=request.GET.get("status"), cursor=request.GET.get("cursor")
    )
    context = {
        "page": overview.page,
        "summary": overview.summary,
        "payout_status": overview.payout_status,
        "payouts_simulated": settings.STRIPE_CONNECT_SIMULATED,
    }
    return render(request, "payments/sales.html", context)
