import time

import pytest

from apps.accounts.models import User
from apps.accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_it_registers_and_logs_in(client):
    response = client.post(
        "/accounts/register/",
        {
            "email": "Ann@Example.com",
            "username": "ann",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="ann")
    assert user.email == "ann@example.com"
    assert user.subscription_tier == "free" and user.preferences == {}
    assert user.password.startswith("argon2")
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email", "username": "x1"}, "email"),
        ({"email": "b@example.com", "username": ""}, "username"),
        (
            {"email": "b@example.com", "username": "b", "password2": "different-pass-99"},
            "password2",
        ),
        (
            {"email": "b@example.com", "username": "b", "password1": "short", "password2": "short"},
            "password1",
        ),
    ],
)
def test_it_rejects_bad_registrations(client, data, field):
    form = {"password1": PASSWORD, "password2": PASSWORD} | data
    response = client.post("/accounts/register/", form)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not User.objects.exists()


def test_it_rejects_a_duplicate_email(client):
    UserFactory(email="dup@example.com")
    response = client.post(
        "/accounts/register/",
        {
            "email": "DUP@example.com",
            "username": "other",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert User.objects.count() == 1


def test_it_logs_in_by_email_and_out(client):
    UserFactory(email="carl@example.com", username="carl")
    response = client.post(
        "/accounts/login/", {"username": "CARL@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_it_locks_out_after_repeated_failures(client, settings):
    UserFactory(email="dan@example.com")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "dan@example.com", "password": "wrong"})
    response = client.post(
        "/accounts/login/", {"username": "dan@example.com", "password": PASSWORD}
    )
    assert response.status_code == 429


def test_it_sends_anonymous_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_shows_users_in_the_admin_to_staff_only(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    plain = UserFactory()
    client.force_login(plain)
    assert client.get("/admin/accounts/user/").status_code == 302
    client.force_login(staff)
    page = client.get("/admin/accounts/user/")
    assert page.status_code == 200 and plain.username in page.content.decode()


def test_it_issues_and_rotates_jwt(client):
    UserFactory(email="eve@example.com")
    tokens = client.post(
        "/api/v1/auth/token/",
        {"email": "eve@example.com", "password": PASSWORD},
        content_type="application/json",
    ).json()
    assert {"access", "refresh"} <= set(tokens)
    rotated = client.post(
        "/api/v1/auth/token/refresh/",
        {"refresh": tokens["refresh"]},
        content_type="application/json",
    )
    assert rotated.status_code == 200 and rotated.json()["refresh"] != tokens["refresh"]
    reused = client.post(
        "/api/v1/auth/token/refresh/",
        {"refresh": tokens["refresh"]},
        content_type="application/json",
    )
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "token_not_valid"


def test_it_stops_accepting_a_remembered_jwt_when_it_expires(client, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from rest_framework_simplejwt import tokens
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(UserFactory())
    token.set_exp(lifetime=timedelta(seconds=30))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get("/api/v1/symbols/", **headers).status_code == 200
    assert client.get("/api/v1/symbols/", **headers).status_code == 200  # remembered
    later = time.time() + 31  # both clocks: the memo's and simplejwt's
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(tokens, "aware_utcnow", lambda: datetime.fromtimestamp(later, UTC))
    response = client.get("/api/v1/symbols/", **headers)
    assert response.status_code == 403  # SessionAuthentication comes first: no 401 challenge
    error = response.json()["error"]
    assert error["code"] == "token_not_valid" and "expired" in error["message"]
