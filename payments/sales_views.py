"""The seller's sales page at /sell/sales/: every sale with its money from the ledger."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from payments.connect import seller_payout_status
from payments.selectors import seller_sales_page, seller_sales_summary


@login_required
def sales(request):
    """The seller's sales by status tab (``?status=``, all by default), newest first."""
    if not request.user.is_seller:
        messages.info(request, "Set up your seller details to start selling.")
        return redirect("sell:start")
    payout_status = seller_payout_status(user=request.user)
    page = seller_sales_page(
        seller=request.user,
        status=request.GET.get("status"),
        cursor=request.GET.get("cursor"),
        payout_status=payout_status,
    )
    context = {
        "page": page,
        "summary": seller_sales_summary(seller=request.user),
        "payout_status": payout_status,
        "payouts_simulated": settings.STRIPE_CONNECT_SIMULATED,
    }
    return render(request, "payments/sales.html", context)
