"""After a completed purchase, buyer and seller review each other in Chromium: the buyer's
review is hidden (with a notice) until the seller reviews, then both show on the order page and
the seller's profile, and the seller's rating on the listing page changes (its cached fragment
retired); the seller responds and the response shows beneath the review."""

import pytest
from playwright.sync_api import expect

from reviews.models import Review
from tests.factories import ListingFactory, SellerFactory, UserFactory
from tests.payments.purchase_helpers import released

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
BUYER_SAYS = "Bright, solid and well packed."
SELLER_SAYS = "Quick payment, pleasant buyer."
RESPONSE = "Thank you, enjoy the lamp!"


def log_in(page, email):
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_buyer_and_seller_review_each_other_blind_then_the_seller_responds(page, live_server, ledger_db):
    seller = SellerFactory(seller_display_name="Lamp Shop", email="seller@example.com")
    listing = ListingFactory(seller=seller, title="Brass desk lamp", price_cents=3_900)
    buyer = UserFactory(email="buyer@example.com", first_name="Bea", last_name="Buyer")
    txn = released(listing=listing, buyer=buyer)  # paid, receipt confirmed, escrow released
    order_url = f"/payments/orders/{txn.pk}/"

    # The listing page before any review (its shared part now cached).
    page.goto(listing.get_absolute_url())
    expect(page.locator(".seller-rating")).to_have_text("No reviews yet")

    # 1. The buyer finds the purchase under "Reviews to write" and reviews the seller.
    log_in(page, buyer.email)
    page.goto("/payments/orders/")
    page.get_by_role("link", name="Reviews to write").click()
    expect(page.get_by_role("heading", name="Reviews to write")).to_be_visible()
    expect(page.get_by_text("14 days left")).to_be_visible()
    page.get_by_role("link", name="Review Lamp Shop").click()
    reviews = page.get_by_role("region", name="Reviews")
    expect(reviews.get_by_role("heading", name="Leave a review")).to_be_visible()
    reviews.get_by_label("4 stars", exact=True).check()
    reviews.get_by_label("Delivery").select_option("5")
    reviews.get_by_label("Title (optional)").fill("Great lamp")
    reviews.get_by_label("Comment (optional)").fill(BUYER_SAYS)
    reviews.get_by_role("button", name="Submit review").click()

    expect(page.get_by_role("status")).to_contain_text("Thanks! Your review is saved.")
    reviews = page.get_by_role("region", name="Reviews")
    expect(reviews.get_by_text("Your review is hidden until Lamp Shop reviews or")).to_be_visible()
    expect(reviews.locator(".review-comment").get_by_text(BUYER_SAYS)).to_be_visible()
    expect(reviews.get_by_text("Edit your review")).to_be_visible()  # editable until published
    expect(reviews.get_by_role("heading", name="Leave a review")).to_have_count(0)
    assert Review.objects.get(transaction=txn).published_at is None

    # 2. The seller does not see it: they are asked for their own review.
    log_in(page, seller.email)
    page.goto(order_url)
    reviews = page.get_by_role("region", name="Reviews")
    expect(reviews.get_by_role("heading", name="Leave a review")).to_be_visible()
    expect(page.get_by_text(BUYER_SAYS)).to_have_count(0)
    reviews.get_by_label("5 stars", exact=True).check()
    reviews.get_by_label("Comment (optional)").fill(SELLER_SAYS)
    reviews.get_by_role("button", name="Submit review").click()

    # Both published: both reviews on the order page.
    reviews = page.get_by_role("region", name="Reviews")
    expect(reviews.get_by_text(SELLER_SAYS)).to_be_visible()
    expect(reviews.get_by_text(BUYER_SAYS)).to_be_visible()
    expect(page.get_by_text("is hidden until")).to_have_count(0)

    # 3. The seller responds beneath the buyer's review.
    reviews.get_by_label("Your public response").fill(RESPONSE)
    reviews.get_by_role("button", name="Post response").click()
    expect(page.get_by_role("status")).to_contain_text("Your response was published under the review.")
    expect(page.get_by_role("region", name="Reviews").get_by_text(RESPONSE)).to_be_visible()

    # 4. The seller's public profile: rating, chart, the review and its response.
    page.context.clear_cookies()
    page.goto(f"/users/{seller.pk}/")
    seller_rating = page.get_by_role("region", name="As a seller")
    expect(seller_rating).to_contain_text("4.0 / 5 from 1 review")
    expect(seller_rating.locator('li[data-stars="4"] .count')).to_have_text("1")
    profile_reviews = page.get_by_role("region", name="Reviews", exact=True)
    expect(profile_reviews.get_by_text(BUYER_SAYS)).to_be_visible()
    expect(profile_reviews.get_by_text(RESPONSE)).to_be_visible()
    # And the buyer's profile has the seller's review of them.
    page.goto(f"/users/{buyer.pk}/")
    expect(page.get_by_role("region", name="As a buyer")).to_contain_text("5.0 / 5 from 1 review")
    expect(page.get_by_text(SELLER_SAYS)).to_be_visible()

    # 5. The listing page's rating changed, with the review and the response.
    page.goto(listing.get_absolute_url())
    expect(page.locator(".seller-rating")).to_contain_text("4.0 out of 5")
    expect(page.locator(".seller-rating")).to_contain_text("(1 review)")
    expect(page.get_by_text(BUYER_SAYS)).to_be_visible()
    expect(page.get_by_text(RESPONSE)).to_be_visible()
