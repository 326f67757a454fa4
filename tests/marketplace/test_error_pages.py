"""Error pages in production mode are the site's own: a styled 404 with a way back, and a
500 page that needs no database, session or context (it is rendered when those fail)."""

import pytest
from django.test import RequestFactory, override_settings
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=False)
def test_an_unknown_address_answers_the_sites_404_page(client):
    response = client.get("/no-such-page/", HTTP_X_FORWARDED_PROTO="https", secure=True)
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert 'href="/search/"' in html and "skip-link" in html  # the site's layout, not Django's


@override_settings(DEBUG=False)
def test_the_500_page_renders_without_any_context():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "css/site.css" in html


def test_every_page_names_the_favicon(client):
    html = client.get("/").content.decode()
    assert 'rel="icon"' in html and "img/favicon.svg" in html
