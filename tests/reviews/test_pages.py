"""The review pages: the order page's review section and its forms, the public profile's ratings,
chart and review pages with flags, the listing page's seller reviews (through its Redis cache),
and "Reviews to write". Blind publication is checked through every page: before both parties
reviewed (or the window closed) nobody but the author reads a review."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus
from payments.models import Transaction
from payments.services import transaction_confirm_receipt
from reviews.models import Review, ReviewFlag
from reviews.services import review_moderate, review_respond, review_submit
from tests.factories import ListingFactory, ReviewFactory, SellerFactory, TransactionFactory, UserFactory
from tests.payments.purchase_helpers import paid, released

pytestmark = pytest.mark.django_db

BUYER_TEXT = "Lovely lamp, well packed."
SELLER_TEXT = "Paid at once, friendly."


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.REVIEW_WINDOW_DAYS = 14
    settings.REVIEWS_PAGE_SIZE = 10


def completed(**listing_fields) -> Transaction:
    listing = ListingFactory(seller=SellerFactory(seller_display_name="Lamp Shop"), **listing_fields)
    return released(listing=listing, buyer=UserFactory(first_name="Bea", last_name="Buyer"))


def order_url(txn) -> str:
    return reverse("payments:order", args=[txn.pk])


def flashes(response, client) -> list[str]:
    """The messages a redirect carries, shown (and so used up) by following it."""
    found = [str(m) for m in get_messages(response.wsgi_request)]
    client.get(response["Location"])
    return found


def as_user(client, user):
    client.force_login(user)
    return client


def review_post(client, txn, **fields):
    data = {"rating": "5", "title": "", "comment": BUYER_TEXT, **fields}
    return client.post(reverse("reviews:submit", args=[txn.pk]), data)


def listing_html(client, listing) -> str:
    client.logout()
    return client.get(listing.get_absolute_url()).content.decode()


def profile_html(client, user) -> str:
    return client.get(reverse("accounts:profile", args=[user.pk])).content.decode()


# --- The journey on the order page, and the blind window through every page ---------------------
def test_both_review_blind_then_both_are_published_on_every_page(client):
    txn = completed(title="Brass lamp")
    buyer, seller, listing = txn.buyer, txn.seller, txn.listing
    member = UserFactory()
    # Warm the listing page cache before any review: publication must retire it.
    assert "No reviews yet" in listing_html(client, listing)

    # The buyer is offered the form, with the days left.
    html = as_user(client, buyer).get(order_url(txn)).content.decode()
    assert "Leave a review" in html and "14 days left" in html
    response = review_post(client, txn, rating="4", title="Good lamp", rating_delivery="5")
    assert response.status_code == 302 and response["Location"] == order_url(txn) + "#reviews-heading"
    html = client.get(order_url(txn)).content.decode()
    deadline = timezone.localtime(txn.completed_at + timedelta(days=14))
    notice = (
        f"Your review is hidden until Lamp Shop reviews or {deadline:%B} {deadline.day}, {deadline.year}."
    )
    assert notice in html and BUYER_TEXT in html and "Leave a review" not in html
    assert "Edit your review" in html

    # Nobody else reads it: the seller's order page, the profile (anyone), the listing page.
    html = as_user(client, seller).get(order_url(txn)).content.decode()
    assert BUYER_TEXT not in html and "Leave a review" in html
    for viewer in (None, member, seller):
        if viewer:
            client.force_login(viewer)
        else:
            client.logout()
        assert BUYER_TEXT not in profile_html(client, seller)
        assert BUYER_TEXT not in client.get(listing.get_absolute_url()).content.decode()
    client.force_login(UserFactory(is_staff=True))
    assert BUYER_TEXT not in client.get(order_url(txn)).content.decode()  # staff read it in the admin

    # The seller reviews: both are published at once.
    as_user(client, seller)
    response = client.post(reverse("reviews:submit", args=[txn.pk]), {"rating": "5", "comment": SELLER_TEXT})
    assert response.status_code == 302
    html = client.get(order_url(txn)).content.decode()
    assert SELLER_TEXT in html and BUYER_TEXT in html and "hidden until" not in html
    assert "Post response" in html  # the seller may respond to the buyer's review
    html = as_user(client, buyer).get(order_url(txn)).content.decode()
    assert SELLER_TEXT in html and BUYER_TEXT in html and "Edit your review" not in html
    assert "Post response" in html  # and the buyer to the seller's

    # The profile: as a seller 4.0 from 1 review; the listing page (its cache retired).
    client.logout()
    html = profile_html(client, seller)
    assert BUYER_TEXT in html and "4.0 / 5</strong> from 1 review" in html
    html = client.get(listing.get_absolute_url()).content.decode()
    assert BUYER_TEXT in html and "4.0 out of 5" in html
    assert SELLER_TEXT in profile_html(client, buyer)  # the buyer's profile: as a buyer


def test_the_window_closing_publishes_a_lone_review_on_the_pages(client):
    txn = completed()
    review = review_submit(transaction=txn, author=txn.buyer, rating=3, comment=BUYER_TEXT)
    assert BUYER_TEXT not in profile_html(client, txn.seller)
    Review.objects.filter(pk=review.pk).update(window_closes_at=timezone.now() - timedelta(seconds=1))
    from reviews.services import reviews_publish_due

    assert reviews_publish_due() == 1
    assert BUYER_TEXT in profile_html(client, txn.seller)
    assert BUYER_TEXT in as_user(client, txn.seller).get(order_url(txn)).content.decode()


def test_receipt_confirmed_is_enough_to_review(client):
    txn = paid()
    as_user(client, txn.buyer)
    html = client.get(order_url(txn)).content.decode()
    assert "Leave a review" not in html
    assert "once it is completed or you have confirmed receipt" in html
    transaction_confirm_receipt(transaction=txn, actor=txn.buyer)
    assert "Leave a review" in client.get(order_url(txn)).content.decode()
    assert review_post(client, txn).status_code == 302
    assert Review.objects.filter(transaction=txn, reviewer=txn.buyer).exists()


# --- Bad input: a clear message, the form again (400), nothing written ----------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rating": "0"}, "Choose a rating from 1 to 5 stars."),
        ({"rating": "6"}, "Choose a rating from 1 to 5 stars."),
        ({"rating": "x"}, "Choose a rating from 1 to 5 stars."),
        ({"rating": ""}, "Choose a rating from 1 to 5 stars."),
        ({"rating_delivery": "9"}, "Choose a rating from 1 to 5 stars."),
        ({"title": "t" * 101}, "Keep the title to 100 characters or fewer."),
        ({"comment": "c" * 2001}, "Keep the comment to 2000 characters or fewer."),
    ],
)
def test_bad_review_input_rerenders_the_order_page_and_writes_nothing(client, fields, message):
    txn = completed()
    response = review_post(as_user(client, txn.buyer), txn, **fields)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and "Leave a review" in html
    assert not Review.objects.exists()


def test_refusals_of_the_service_are_shown_on_the_order_page(client):
    txn = completed()
    # Before completion: paid, in escrow, receipt not confirmed.
    early = paid()
    response = review_post(as_user(client, early.buyer), early)
    assert response.status_code == 400
    assert "once it is completed or you have confirmed receipt" in response.content.decode()
    # A second review.
    as_user(client, txn.buyer)
    assert review_post(client, txn).status_code == 302
    response = review_post(client, txn, comment="Again")
    assert (
        response.status_code == 400
        and "You have already reviewed this purchase." in response.content.decode()
    )
    assert Review.objects.filter(transaction=txn).count() == 1
    # After the window.
    late = completed()
    Transaction.objects.filter(pk=late.pk).update(completed_at=timezone.now() - timedelta(days=15))
    late.refresh_from_db()
    response = review_post(as_user(client, late.buyer), late)
    assert (
        response.status_code == 400
        and "The review window for this purchase closed on" in response.content.decode()
    )
    # Refunded in full.
    refunded = completed()
    Transaction.objects.filter(pk=refunded.pk).update(status=Transaction.Status.REFUNDED)
    response = review_post(as_user(client, refunded.buyer), refunded)
    assert response.status_code == 400 and "refunded in full" in response.content.decode()
    # A suspended member.
    suspended = completed()
    type(suspended.buyer).objects.filter(pk=suspended.buyer_id).update(account_status=AccountStatus.SUSPENDED)
    response = review_post(as_user(client, suspended.buyer), suspended)
    assert response.status_code == 400 and "Your account is suspended" in response.content.decode()
    assert Review.objects.count() == 1


def test_non_party_gets_404_and_staff_are_refused(client):
    txn = completed()
    assert review_post(as_user(client, UserFactory()), txn).status_code == 404
    response = review_post(as_user(client, UserFactory(is_staff=True)), txn)
    assert response.status_code == 400  # staff see the order but are not a party
    assert not Review.objects.exists()


def test_the_author_edits_before_publication_only(client):
    txn = completed()
    review = review_submit(transaction=txn, author=txn.buyer, rating=2, comment="Meh")
    as_user(client, txn.buyer)
    edit = reverse("reviews:edit", args=[review.pk])
    response = client.post(edit, {"rating": "x", "comment": "Better"})
    assert response.status_code == 400 and "Choose a rating from 1 to 5 stars." in response.content.decode()
    assert Review.objects.get(pk=review.pk).comment == "Meh"
    response = client.post(edit, {"rating": "4", "comment": "Better than I thought"})
    assert response.status_code == 302
    assert Review.objects.get(pk=review.pk).rating == 4
    # Nobody else may edit it: 404 as for an unknown review.
    for other in (txn.seller, UserFactory(), UserFactory(is_staff=True)):
        assert as_user(client, other).post(edit, {"rating": "1"}).status_code == 404
    # Published (the seller reviewed): no edit form, and the edit is refused.
    review_submit(transaction=txn, author=txn.seller, rating=5)
    as_user(client, txn.buyer)
    assert "Edit your review" not in client.get(order_url(txn)).content.decode()
    response = client.post(edit, {"rating": "1", "comment": "Retaliation"})
    assert response.status_code == 400
    assert Review.objects.get(pk=review.pk).comment == "Better than I thought"


def test_the_reviewee_responds_once_and_it_shows_everywhere(client):
    txn = completed()
    listing = txn.listing
    review = review_submit(transaction=txn, author=txn.buyer, rating=5, comment=BUYER_TEXT)
    respond = reverse("reviews:respond", args=[review.pk])
    # Before publication the reviewee cannot see it, so cannot respond: 404.
    assert as_user(client, txn.seller).post(respond, {"response": "Hi"}).status_code == 404
    review_submit(transaction=txn, author=txn.seller, rating=5)
    listing_html(client, listing)  # cached with the review, without the response
    for other in (txn.buyer, UserFactory(), UserFactory(is_staff=True)):
        assert as_user(client, other).post(respond, {"response": "Not mine"}).status_code == 404
    as_user(client, txn.seller)
    response = client.post(respond, {"response": ""})
    assert response.status_code == 400 and "Write a response first." in response.content.decode()
    response = client.post(respond, {"response": "r" * 1001})
    assert response.status_code == 400 and "Keep the response to 1000 characters" in response.content.decode()
    assert client.post(respond, {"response": "Thank you, Bea!"}).status_code == 302
    html = client.get(order_url(txn)).content.decode()
    assert (
        "Response from Lamp Shop:</strong> Thank you, Bea!" in html
        and "Post response" not in html.split('id="other-review-heading"')[0]
    )
    response = client.post(respond, {"response": "Twice"})
    assert (
        response.status_code == 400
        and "You have already responded to this review." in response.content.decode()
    )
    assert Review.objects.get(pk=review.pk).response == "Thank you, Bea!"
    assert "Thank you, Bea!" in profile_html(client, txn.seller)
    assert "Thank you, Bea!" in listing_html(client, listing)  # the response retired the cache
    # The buyer sees the response beneath their own review.
    assert "Thank you, Bea!" in as_user(client, txn.buyer).get(order_url(txn)).content.decode()


# --- Flags -------------------------------------------------------------------------------------
def published_review(**fields) -> Review:
    txn = completed()
    review = review_submit(
        transaction=txn, author=txn.buyer, rating=fields.pop("rating", 4), comment=BUYER_TEXT
    )
    review_submit(transaction=txn, author=txn.seller, rating=5, comment=SELLER_TEXT)
    return Review.objects.select_related("reviewer", "reviewee").get(pk=review.pk)


def test_a_member_flags_a_review_once_from_the_profile(client):
    review = published_review()
    member = UserFactory()
    flag = reverse("reviews:flag", args=[review.pk])
    back = reverse("accounts:profile", args=[review.reviewee_id]) + "#reviews-heading"
    as_user(client, member)
    assert "Report this review" in profile_html(client, review.reviewee)
    response = client.post(flag, {"reason": "", "text": "x"})
    assert response["Location"] == back and flashes(response, client) == [
        "Choose why you are reporting this review."
    ]
    response = client.post(flag, {"reason": "nonsense"})
    assert flashes(response, client) == ["Choose why you are reporting this review from the list."]
    response = client.post(flag, {"reason": "spam", "text": "t" * 1001})
    assert flashes(response, client) == ["Keep the report to 1000 characters or fewer."]
    assert not ReviewFlag.objects.exists()
    response = client.post(flag, {"reason": "spam", "text": "An advert"})
    assert flashes(response, client) == ["Thanks: the review was reported to staff, who will look at it."]
    html = profile_html(client, review.reviewee)
    assert "You reported this review" in html and BUYER_TEXT in html  # still visible until staff act
    response = client.post(flag, {"reason": "spam"})
    assert flashes(response, client) == ["You have already flagged this review; staff will look at it."]
    assert ReviewFlag.objects.count() == 1
    # The author cannot flag their own review (and is offered no form).
    as_user(client, review.reviewer)
    assert "Report this review" not in profile_html(client, review.reviewee)
    response = client.post(flag, {"reason": "spam"})
    assert flashes(response, client) == ["You cannot flag your own review."]
    assert ReviewFlag.objects.count() == 1
    # Anonymous visitors get no form and are sent to log in.
    client.logout()
    assert "Report this review" not in profile_html(client, review.reviewee)
    assert client.post(flag, {"reason": "spam"})["Location"].startswith(reverse("accounts:login"))


def test_flagging_too_often_answers_429(client, settings):
    settings.REVIEW_FLAGS_PER_HOUR = 1
    first, second = published_review(), published_review()
    as_user(client, UserFactory())
    assert client.post(reverse("reviews:flag", args=[first.pk]), {"reason": "spam"}).status_code == 302
    response = client.post(reverse("reviews:flag", args=[second.pk]), {"reason": "spam"})
    assert response.status_code == 429
    assert "You can flag up to 1 reviews an hour." in response.content.decode()
    assert ReviewFlag.objects.count() == 1


def test_an_unpublished_review_cannot_be_flagged(client):
    txn = completed()
    review = review_submit(transaction=txn, author=txn.buyer, rating=1, comment=BUYER_TEXT)
    for member in (UserFactory(), txn.seller):
        assert (
            as_user(client, member)
            .post(reverse("reviews:flag", args=[review.pk]), {"reason": "spam"})
            .status_code
            == 404
        )
    assert not ReviewFlag.objects.exists()


# --- The profile: ratings, chart, detailed averages, order, pages -------------------------------
def review_of(seller, *, rating=5, **fields) -> Review:
    txn = TransactionFactory(listing=ListingFactory(seller=seller, status="sold", sold_at=timezone.now()))
    return ReviewFactory(transaction=txn, rating=rating, **fields)


def chart(html: str, role: str) -> dict[int, int]:
    section = html.split(f'data-rating="{role}"', 1)[1].split("</section>", 1)[0]
    return {
        int(stars): int(count)
        for stars, count in re.findall(r'data-stars="(\d)">.*?<span class="count">(\d+)</span>', section)
    }


def test_profile_shows_ratings_the_chart_and_detailed_averages(client):
    seller = SellerFactory()
    for rating in (5, 5, 4, 1):
        review_of(seller, rating=rating, rating_communication=rating, rating_delivery=5)
    review_of(seller, rating=2, published_at=None)  # hidden: not published
    review_of(seller, rating=2, status=Review.Status.REMOVED)
    review_of(seller, rating=3, reviewer=UserFactory(account_status=AccountStatus.BANNED))
    html = profile_html(client, seller)
    assert "3.8 / 5</strong> from 4 reviews" in html
    assert chart(html, "seller") == {5: 2, 4: 1, 3: 0, 2: 0, 1: 1}
    assert 'value="50"' in html and 'value="25"' in html  # the bars: <meter>, no style attribute
    assert "style=" not in html
    section = html.split('data-rating="seller"', 1)[1].split("</section>", 1)[0]
    assert "Communication</dt><dd>3.8 / 5" in section and "Delivery</dt><dd>5.0 / 5" in section
    assert "Item as described" not in section  # nobody rated it


def test_profile_reviews_featured_first_then_newest_in_keyset_pages(client, settings):
    settings.REVIEWS_PAGE_SIZE = 2
    seller = SellerFactory()
    now = timezone.now()
    reviews = [
        review_of(seller, title=f"Review {i}", published_at=now - timedelta(hours=i)) for i in range(5)
    ]
    Review.objects.filter(pk=reviews[3].pk).update(is_featured=True)
    response = client.get(reverse("accounts:profile", args=[seller.pk]))
    titles = [r.title for r in response.context["profile"].reviews]
    assert titles == ["Review 3", "Review 0"]
    seen = list(titles)
    cursor = response.context["profile"].review_page.next_cursor
    while cursor:
        response = client.get(reverse("accounts:profile", args=[seller.pk]), {"reviews": cursor})
        seen += [r.title for r in response.context["profile"].reviews]
        cursor = response.context["profile"].review_page.next_cursor
    assert seen == ["Review 3", "Review 0", "Review 1", "Review 2", "Review 4"]
    assert "Older reviews" not in response.content.decode()
    # A tampered cursor, or one of another member's reviews: the first page, said so.
    other = SellerFactory()
    review_of(other, published_at=now)
    review_of(other, published_at=now - timedelta(hours=1))
    review_of(other, published_at=now - timedelta(hours=2))
    other_cursor = (
        client.get(reverse("accounts:profile", args=[other.pk])).context["profile"].review_page.next_cursor
    )
    for bad in ("nonsense", other_cursor):
        response = client.get(reverse("accounts:profile", args=[seller.pk]), {"reviews": bad})
        assert response.status_code == 200
        assert "That page link is no longer valid" in response.content.decode()
        assert [r.title for r in response.context["profile"].reviews] == ["Review 3", "Review 0"]


@pytest.mark.parametrize("logged_in", [False, True])
def test_profile_query_count_does_not_grow_with_reviews(client, django_assert_max_num_queries, logged_in):
    seller = SellerFactory()
    review_of(seller)
    viewer = UserFactory()
    if logged_in:
        client.force_login(viewer)
        profile_html(client, seller)  # the header's cached counts
    # user (ratings and chart are its columns), listings, the page (+ session user, their flags,
    # whether they follow the seller)
    budget = 6 if logged_in else 3
    with django_assert_max_num_queries(budget):
        profile_html(client, seller)
    for _ in range(12):
        review = review_of(seller, response="Thanks", responded_at=timezone.now())
        ReviewFlag.objects.create(review=review, member=viewer, reason="spam")
    with django_assert_max_num_queries(budget):
        html = profile_html(client, seller)
    assert html.count("Thanks") >= 10


# --- The order page's query count -------------------------------------------------------------
def test_order_page_query_count_with_reviews(client, django_assert_num_queries):
    txn = completed()
    as_user(client, txn.buyer)
    client.get(order_url(txn))  # the header's cached counts
    # session user, the order, the ledger, the transaction's reviews
    with django_assert_num_queries(4):
        client.get(order_url(txn))
    review_submit(transaction=txn, author=txn.buyer, rating=5, title="t", comment="c", rating_quality=4)
    review_submit(transaction=txn, author=txn.seller, rating=4, comment="d")
    review_respond(review=Review.objects.get(reviewer=txn.seller), author=txn.buyer, response="Thanks")
    with django_assert_num_queries(4):
        html = client.get(order_url(txn)).content.decode()
    assert "Thanks" in html


# --- The listing page ---------------------------------------------------------------------------
def test_listing_page_shows_only_visible_reviews_and_moderation_retires_the_cache(client):
    review = published_review(rating=2)
    seller = review.reviewee
    listing = ListingFactory(seller=seller, title="Another lamp")
    hidden_txn = completed()
    Transaction.objects.filter(pk=hidden_txn.pk).update(seller=seller)
    html = listing_html(client, listing)
    assert BUYER_TEXT in html and "2.0 out of 5" in html
    staff = UserFactory(is_staff=True, is_superuser=True)
    review_moderate(review=review, actor=staff, action="remove", reason="Abusive")
    html = listing_html(client, listing)
    assert BUYER_TEXT not in html and "No reviews yet" in html
    review_moderate(review=review, actor=staff, action="restore", reason="Appeal upheld")
    assert BUYER_TEXT in listing_html(client, listing)
    # A banned reviewer's reviews disappear (and stop counting) while banned.
    reviewer = review.reviewer
    reviewer.account_status = AccountStatus.BANNED
    reviewer.save(update_fields=["account_status"])
    cache.delete_pattern("*")
    html = listing_html(client, listing)
    assert BUYER_TEXT not in html
    assert BUYER_TEXT not in profile_html(client, seller)


# --- Reviews to write --------------------------------------------------------------------------
def test_reviews_to_write_lists_pending_reviews_with_days_left(client):
    txn = completed(title="Oak stool")
    paid_only = paid(title="Pine shelf")
    as_user(client, txn.buyer)
    assert reverse("reviews:to_write") in client.get(reverse("payments:orders")).content.decode()
    html = client.get(reverse("reviews:to_write")).content.decode()
    assert "Oak stool" in html and "14 days left" in html and "Pine shelf" not in html
    assert order_url(txn) in html
    html = as_user(client, txn.seller).get(reverse("reviews:to_write")).content.decode()
    assert "Oak stool" in html and "who bought" in html
    review_submit(transaction=txn, author=txn.buyer, rating=5)
    html = as_user(client, txn.buyer).get(reverse("reviews:to_write")).content.decode()
    assert "Oak stool" not in html and "Nothing to review right now." in html
    assert paid_only  # listed once its receipt is confirmed (see reviews_to_write's tests)
    client.logout()
    assert client.get(reverse("reviews:to_write"))["Location"].startswith(reverse("accounts:login"))
