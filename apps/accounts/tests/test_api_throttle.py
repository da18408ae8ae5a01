import pytest

from apps.accounts.api.throttling import UserRateThrottle
from apps.accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_throttles_api_users_with_retry_after(client, redis_client, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "3/min"})
    client.force_login(UserFactory())
    codes = [client.get("/api/v1/symbols/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/symbols/")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == "throttled"
    client.force_login(UserFactory())  # the window is per user
    assert client.get("/api/v1/symbols/").status_code == 200


def test_it_counts_each_window_in_a_key_that_expires(client, redis_client):
    user = UserFactory()
    client.force_login(user)
    for _ in range(2):
        assert client.get("/api/v1/symbols/").status_code == 200
    (key,) = redis_client.keys(f"tf:throttle:user:{user.pk}:*")
    assert int(redis_client.get(key)) == 2
    assert 0 < redis_client.ttl(key) <= 61
