"""Refusals and missing pages look like the portal and say why, instead of Django's bare pages."""

from django.test import Client

from tenants.demo import demo_seed
from tenants.models import User


def test_a_refused_page_says_why_inside_the_portal(client, db):
    demo_seed(password=None)
    client.force_login(User.objects.get(username="sarah"))

    response = client.get("/audit/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "The audit is for ops managers, admins and staff." in page
    assert "ask an ops manager of your team" in page
    assert 'href="/"' in page and "Sarah" in page  # the portal's own header, signed in


def test_a_missing_page_is_the_portals_404(client, db, settings):
    settings.DEBUG = False

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "There is nothing here, or it is not yours to see." in page
    assert 'href="/login/">Sign in</a>' in page and "Sign out" not in page  # nobody is signed in


def test_a_form_without_its_csrf_token_is_refused_plainly(db):
    response = Client(enforce_csrf_checks=True).post("/login/", {"username": "sarah", "password": "x"})

    assert response.status_code == 403
    assert "This form could not be checked, so nothing was changed." in response.content.decode()
