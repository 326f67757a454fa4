from django.contrib import admin

from marketplace.admin import ReadOnlyModelAdmin
from offers.models import Offer, OfferFloor


@admin.register(Offer)
class OfferAdmin(ReadOnlyModelAdmin):
    """Offers are changed only by their parties (``offers.services``): staff read them."""

    list_display = (
        "listing",
        "buyer",
        "seller",
        "amount_cents",
        "counter_cents",
        "agreed_cents",
        "currency",
        "status",
        "created_at",
    )
    list_filter = ("status",)
    list_select_related = ("listing", "buyer", "seller")
    search_fields = ("=id", "listing__title")
    show_full_result_count = False


@admin.register(OfferFloor)
class OfferFloorAdmin(ReadOnlyModelAdmin):
    list_display = ("listing", "floor_cents")
    list_select_related = ("listing",)
    list_filter = ("listing__pricing_type",)
    search_fields = ("listing__title",)
