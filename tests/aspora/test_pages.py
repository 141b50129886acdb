from django.urls import reverse

from tests.factories import user_make


def test_pages_need_a_signed_in_person(client, db):
    for name in ("dashboard", "console", "factory"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={reverse(name)}"


def test_sign_in_lands_on_the_dashboard_with_the_persons_teams(client, analyst):
    response = client.post(reverse("login"), {"username": "ana", "password": "pw-for-tests-1"}, follow=True)

    page = response.content.decode()
    assert response.redirect_chain == [("/", 302)]
    assert "Good to see you, ana" in page
    assert "Ecm Field" in page


def test_wrong_password_says_so_on_the_sign_in_page(client, analyst):
    response = client.post(reverse("login"), {"username": "ana", "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_navigation_shows_admin_only_to_staff(client, analyst, tenant):
    client.force_login(analyst)
    page = client.get(reverse("dashboard")).content.decode()
    assert ">Console</a>" in page
    assert ">Factory</a>" in page
    assert ">Dashboard</a>" in page
    assert ">Admin</a>" not in page

    client.force_login(user_make("olive", tenant=tenant, is_staff=True))
    assert ">Admin</a>" in client.get(reverse("dashboard")).content.decode()


def test_sign_out_ends_the_session(client, analyst):
    client.force_login(analyst)

    client.post(reverse("logout"))

    assert client.get(reverse("dashboard")).status_code == 302


def test_the_console_lists_the_skills_the_person_may_run(client, demo):
    from tenants.models import User

    client.force_login(User.objects.get(username="sarah"))
    sarah = client.get(reverse("console")).content.decode()
    client.force_login(User.objects.get(username="theo"))
    theo = client.get(reverse("console")).content.decode()

    assert "<code>/my-tickets</code>" in sarah
    assert "“show my tickets”" in sarah
    assert "Asks you to confirm before it changes anything." in sarah
    assert "Your teams have not been granted any skill yet." in theo
