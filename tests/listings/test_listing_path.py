import pytest
from django.urls import NoReverseMatch, get_script_prefix, reverse, set_script_prefix

from listings.models import Listing, listing_path


@pytest.mark.parametrize("slug", ["oak-desk", "desk_2", "A1", "x", "walnut-writing-desk-3f9a"])
def test_the_same_url_as_reverse(slug):
    assert listing_path(slug) == reverse("listings:detail", args=[slug])
    assert Listing(slug=slug).get_absolute_url() == listing_path(slug)


def test_a_slug_the_pattern_refuses_is_refused_as_by_reverse():
    for slug in ("café-table", "a/b", ""):
        with pytest.raises(NoReverseMatch):
            listing_path(slug)


def test_the_script_prefix_of_the_request_counts():
    before = get_script_prefix()
    try:
        set_script_prefix("/shop/")
        expected = reverse("listings:detail", args=["oak-desk"])
        assert listing_path("oak-desk") == "/shop/listings/oak-desk/" == expected
    finally:
        set_script_prefix(before)
    assert listing_path("oak-desk") == "/listings/oak-desk/"
