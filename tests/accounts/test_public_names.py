"""No page or email shows any part of a member's email address to anyone but its owner and
staff. A member without a name is "Marketplace member" (``accounts.models.PUBLIC_NAME_FALLBACK``)."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import PUBLIC_NAME_FALLBACK
from accounts.selectors import public_name
from listings.categories import bump_category_tree_version
from payments import emails
from tests.factories import CategoryFactory, ListingFactory, ReviewFactory, SellerFactory, UserFactory
from tests.jobs import run_jobs

pytestmark = pytest.mark.django_db

# Distinctive parts, so that a hit can only be the address.
BUYER_EMAIL = "zq7buyerhandle@xv9mailhost.example"
SELLER_EMAIL = "kp4sellerhandle@xv9mailhost.example"
EMAIL_PARTS = ("zq7buyerhandle", "kp4sellerhandle", "xv9mailhost")


def assert_no_email_part(text: str, where: str) -> None:
    for part in EMAIL_PARTS:
        assert part not in text, f"{part!r} shown on {where}"


@pytest.fixture
def nameless():
    """A buyer and a seller who gave no name, a sale between them and a review by the buyer."""
    category = CategoryFactory(name="Desks", slug="desks", attribute_schema=[])
    bump_category_tree_version()
    buyer = UserFactory(email=BUYER_EMAIL, first_name="", last_name="")
    seller = SellerFactory(email=SELLER_EMAIL, first_name="", last_name="", seller_display_name="")
    sold = ListingFactory(
        seller=seller, category=category, title="Walnut writing desk", status="sold", sold_at=timezone.now()
    )
    review = ReviewFactory(
        transaction__listing=sold, transaction__buyer=buyer, comment="Exactly as described."
    )
    active = ListingFactory(seller=seller, category=category, title="Walnut side table")
    # A named seller whose listing the nameless buyer reviewed: the input.
    named_seller = SellerFactory(first_name="Ada", last_name="Lovelace")
    reviewed = ListingFactory(
        seller=named_seller, category=category, title="Oak bench", status="sold", sold_at=timezone.now()
    )
    ReviewFactory(transaction__listing=reviewed, transaction__buyer=buyer, comment="Lovely bench.")
    named_listing = ListingFactory(seller=named_seller, category=category, title="Oak stool")
    return {
        "buyer": buyer,
        "seller": seller,
        "transaction": review.transaction,
        "active": active,
        "named_listing": named_listing,
    }


def test_the_fallback_name_is_neutral(nameless):
    for user in (nameless["buyer"], nameless["seller"]):
        assert user.display_name == PUBLIC_NAME_FALLBACK
        assert public_name(user) == PUBLIC_NAME_FALLBACK
        assert user.get_full_name() == PUBLIC_NAME_FALLBACK
        assert user.get_short_name() == PUBLIC_NAME_FALLBACK


@pytest.mark.parametrize("viewer", ["anonymous", "member"])
def test_public_pages_show_no_part_of_an_email_address(client, nameless, viewer):
    if viewer == "member":
        client.force_login(UserFactory())
    pages = {
        "listing page of a named seller, reviewed by a nameless buyer": reverse(
            "listings:detail", args=[nameless["named_listing"].slug]
        ),
        "listing page of a nameless seller (seller card)": reverse(
            "listings:detail", args=[nameless["active"].slug]
        ),
        "profile of the nameless seller": reverse("accounts:profile", args=[nameless["seller"].pk]),
        "profile of the nameless buyer": reverse("accounts:profile", args=[nameless["buyer"].pk]),
        "search results": reverse("listings:search") + "?q=walnut",
        "category page": reverse("listings:category", args=["desks"]),
        "home page": reverse("home"),
    }
    for where, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, where
        assert_no_email_part(response.content.decode(), where)

    listing_page = client.get(pages["listing page of a named seller, reviewed by a nameless buyer"])
    assert "Lovely bench." in listing_page.content.decode()
    assert PUBLIC_NAME_FALLBACK in listing_page.content.decode()
    seller_card = client.get(pages["listing page of a nameless seller (seller card)"]).content.decode()
    assert PUBLIC_NAME_FALLBACK in seller_card
    assert PUBLIC_NAME_FALLBACK in client.get(pages["profile of the nameless seller"]).content.decode()


def test_order_pages_of_the_other_party_show_no_part_of_its_email(client, nameless):
    txn = nameless["transaction"]
    client.force_login(nameless["seller"])  # the seller sees the buyer
    for where, url in {
        "order page (seller)": reverse("payments:order", args=[txn.pk]),
        "sales page": reverse("sell:sales"),
    }.items():
        response = client.get(url)
        assert response.status_code == 200, where
        html = response.content.decode()
        assert "zq7buyerhandle" not in html, where
        assert "xv9mailhost" not in html.replace(SELLER_EMAIL, ""), where  # the seller's own may show

    client.force_login(nameless["buyer"])  # the buyer sees the seller
    for where, url in {
        "order page (buyer)": reverse("payments:order", args=[txn.pk]),
        "orders page": reverse("payments:orders"),
    }.items():
        response = client.get(url)
        assert response.status_code == 200, where
        html = response.content.decode()
        assert "kp4sellerhandle" not in html, where
        assert "xv9mailhost" not in html.replace(BUYER_EMAIL, ""), where


def test_emails_to_the_other_party_show_no_part_of_its_email(nameless):
    txn = nameless["transaction"]
    for send, recipient, other in (
        (emails.send_order_receipt, BUYER_EMAIL, "kp4sellerhandle"),
        (emails.send_sale_notice, SELLER_EMAIL, "zq7buyerhandle"),
        (emails.send_payout_notice, SELLER_EMAIL, "zq7buyerhandle"),
    ):
        run_jobs()
        mail.outbox.clear()
        send(txn)
        run_jobs()
        (message,) = mail.outbox
        assert message.to == [recipient]
        html = message.alternatives[0][0] if message.alternatives else ""
        for text in (message.subject, message.body, html):
            assert other not in text, send.__name__
    mail.outbox.clear()
    emails.send_order_receipt(txn)
    run_jobs()
    assert PUBLIC_NAME_FALLBACK in mail.outbox[0].body


# --- The kind: no template prints a person's address or the model's __str__ (the address) ---

TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"
PERSON = r"(?:user|buyer|seller|reviewer|reviewee|sender|recipient|owner|actor|participant|member|person)"
# The logged-in user's own address on their own pages, and the admin (staff) may show it.
OWN_ADDRESS = re.compile(r"\{\{\s*user\.email\s*[|}]")
ANY_ADDRESS = re.compile(r"\{\{[^}]*\.email\b(?!_)")
BARE_PERSON = re.compile(r"\{\{\s*[\w.]*\b" + PERSON + r"\s*(?:\||\}\})")


def test_no_template_prints_another_persons_address_or_bare_user():
    offenders = []
    for path in TEMPLATES_DIR.rglob("*"):
        if not path.is_file() or path.relative_to(TEMPLATES_DIR).parts[0] == "admin":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ANY_ADDRESS.search(OWN_ADDRESS.sub("", line)) or BARE_PERSON.search(line):
                offenders.append(f"{path.relative_to(TEMPLATES_DIR)}:{number}: {line.strip()}")
    assert offenders == []
