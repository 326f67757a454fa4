"""Fixed prices are at least the payment provider's minimum charge for their currency
(``MINIMUM_CHARGE``): every write path refuses a smaller one with a clear message and changes
nothing, and checkout refuses a listing stored below it (no Buy button, a notice instead)."""

import pytest
from django.core.checks import run_checks
from django.urls import reverse

from listings.capabilities import listing_purchase_refusal
from listings.models import Listing
from listings.services import listing_create, listing_publish, listing_update
from marketplace.errors import ErrorCode, ServiceError
from marketplace.money import below_minimum_charge, minimum_charge_cents, minimum_charge_message
from payments.models import Transaction
from payments.services import transaction_start
from tests.factories import CategoryFactory, ListingFactory, SellerFactory, UserFactory
from tests.test_admin import admin_url, form_data

pytestmark = pytest.mark.django_db

# The inputs: $0.25, EUR 0.01 and JPY 5 were published and charged.
TOO_SMALL = [(25, "USD"), (1, "EUR"), (5, "JPY"), (29, "GBP")]
AT_MINIMUM = [(50, "USD"), (50, "EUR"), (50, "JPY"), (30, "GBP")]


def test_the_default_table_is_stripes_for_every_accepted_currency(settings):
    for currency in settings.CURRENCIES:
        assert currency in settings.STRIPE_MINIMUM_CHARGE, currency
        assert minimum_charge_cents(currency) > 0, currency
    assert [minimum_charge_cents(c) for c in ("USD", "EUR", "GBP", "JPY")] == [50, 50, 30, 50]
    assert minimum_charge_message("USD").startswith("The price must be at least $0.50")


def test_a_currency_without_a_minimum_fails_the_system_check(settings):
    settings.CURRENCIES = {**settings.CURRENCIES, "XTS": 2}
    errors = [error for error in run_checks() if error.id == "money.E001"]
    assert [error.msg for error in errors] == ["MINIMUM_CHARGE has no positive amount for XTS."]
    settings.MINIMUM_CHARGE = {**settings.MINIMUM_CHARGE, "XTS": "1.00"}
    assert not [error for error in run_checks() if error.id == "money.E001"]
    assert minimum_charge_cents("XTS") == 100


def test_the_minimum_is_a_setting(settings):
    settings.MINIMUM_CHARGE = {**settings.MINIMUM_CHARGE, "USD": "1.00"}
    assert below_minimum_charge(99, "USD") and not below_minimum_charge(100, "USD")
    assert not below_minimum_charge(None, "USD")


def desk_values(**overrides) -> dict:
    values = {
        "title": "Walnut writing desk",
        "description": "Solid walnut.",
        "category_id": CategoryFactory(attribute_schema=[]).pk,
        "price_cents": 4_500,
        "currency": "USD",
    }
    return {**values, **overrides}


# --- Services ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("cents", "currency"), TOO_SMALL)
def test_the_services_refuse_a_fixed_price_below_the_minimum(cents, currency):
    seller = SellerFactory()
    with pytest.raises(ServiceError) as excinfo:
        listing_create(seller=seller, data=desk_values(price_cents=cents, currency=currency))
    assert minimum_charge_message(currency) in excinfo.value.message
    assert not Listing.objects.exists()

    listing = listing_create(seller=seller, data=desk_values())
    with pytest.raises(ServiceError) as excinfo:
        listing_update(listing=listing, actor=seller, data={"price_cents": cents, "currency": currency})
    assert minimum_charge_message(currency) in excinfo.value.message
    stored = Listing.objects.get(pk=listing.pk)
    assert (stored.price_cents, stored.currency) == (4_500, "USD")


@pytest.mark.parametrize(("cents", "currency"), AT_MINIMUM)
def test_the_minimum_itself_is_accepted(cents, currency):
    listing = listing_create(seller=SellerFactory(), data=desk_values(price_cents=cents, currency=currency))
    assert listing.price_cents == cents


def test_a_negotiable_price_is_not_charged_so_it_may_be_small():
    listing = listing_create(
        seller=SellerFactory(), data=desk_values(price_cents=1, currency="EUR", pricing_type="negotiable")
    )
    assert listing.price_cents == 1


def test_a_draft_stored_below_the_minimum_cannot_be_published():
    listing = ListingFactory(status=Listing.Status.DRAFT, published_at=None, price_cents=25)
    with pytest.raises(ServiceError) as excinfo:
        listing_publish(listing=listing, actor=listing.seller)
    assert excinfo.value.code == ErrorCode.BELOW_MINIMUM_CHARGE
    assert "at least $0.50" in excinfo.value.message
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.DRAFT


# --- The editor and the admin -----------------------------------------------------------------
@pytest.mark.parametrize(("price", "currency"), [("0.25", "USD"), ("0.01", "EUR"), ("5", "JPY")])
def test_the_editor_refuses_it_on_the_price_field(client, price, currency):
    seller = SellerFactory()
    category = CategoryFactory(attribute_schema=[])
    client.force_login(seller)
    data = {
        "title": "Walnut writing desk",
        "category": str(category.pk),
        "rendered_for": str(category.pk),
        "description": "Solid walnut.",
        "price": price,
        "currency": currency,
        "pricing_type": "fixed",
        "visibility": "public",
    }
    response = client.post(reverse("sell:listing_create"), data)
    assert response.status_code == 200
    assert [str(m) for m in response.context["form"].errors["price"]] == [minimum_charge_message(currency)]
    assert not Listing.objects.exists()


def test_the_admin_refuses_it(admin_client):
    listing = ListingFactory(price_cents=4_500)
    url = admin_url(Listing, "change", listing.pk)
    data = form_data(admin_client.get(url).context["adminform"].form)
    data.update(price_cents="25", currency="USD", pricing_type="fixed")
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert minimum_charge_message("USD") in response.content.decode()
    assert Listing.objects.get(pk=listing.pk).price_cents == 4_500
    data.update(price_cents="50")
    assert admin_client.post(url, data).status_code == 302
    assert Listing.objects.get(pk=listing.pk).price_cents == 50


# --- Checkout ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("cents", "currency"), TOO_SMALL)
def test_a_listing_stored_below_the_minimum_cannot_be_bought(client, cents, currency):
    listing = ListingFactory(price_cents=cents, currency=currency)  # written before the rule
    refusal = listing_purchase_refusal(listing, UserFactory())
    assert refusal.code == ErrorCode.BELOW_MINIMUM_CHARGE
    assert f"smallest amount we can charge in {currency}" in refusal.message
    with pytest.raises(ServiceError) as excinfo:
        transaction_start(listing=listing, buyer=UserFactory(), idempotency_key="k")
    assert excinfo.value.code == ErrorCode.BELOW_MINIMUM_CHARGE

    client.force_login(UserFactory())
    page = client.get(listing.get_absolute_url()).content.decode()
    assert "Buy now" not in page
    assert refusal.message in page.replace("&#x27;", "'")
    response = client.post(reverse("payments:checkout_start", args=[listing.slug]), follow=True)
    assert refusal.message in response.content.decode().replace("&#x27;", "'")
    assert not Transaction.objects.exists()
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.ACTIVE
