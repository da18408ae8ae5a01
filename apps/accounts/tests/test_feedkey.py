from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import FeedKey

pytestmark = pytest.mark.django_db


def _create(*args) -> str:
    out = StringIO()
    call_command("feedkey", "create", *args, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_it_prints_the_key_last_and_stores_only_a_hash():
    key = _create("sierra", "--symbols", "es, nq", "--timezone", "America/Chicago")
    stored = FeedKey.objects.get(name="sierra")
    assert key.startswith(stored.prefix + ".")
    assert key not in stored.hashed_key and stored.hashed_key.startswith("sha512$$")
    assert stored.symbols == ["ES", "NQ"] and stored.timezone == "America/Chicago"
    assert FeedKey.objects.get_from_key(key) == stored
    assert stored.allows("es") and not stored.allows("CL")


def test_it_revokes_keys():
    key = _create("tmp")
    prefix = key.split(".")[0]
    call_command("feedkey", "revoke", prefix, stdout=StringIO())
    with pytest.raises(FeedKey.DoesNotExist):
        FeedKey.objects.get_from_key(key)
    with pytest.raises(CommandError, match="no active key"):
        call_command("feedkey", "revoke", prefix, stdout=StringIO())


def test_it_rejects_an_unknown_time_zone():
    with pytest.raises(CommandError, match="unknown time zone"):
        _create("bad", "--timezone", "Mars/Olympus")
    assert not FeedKey.objects.exists()


def test_it_lists_keys_in_the_admin(admin_client):
    _create("listed")
    page = admin_client.get("/admin/accounts/feedkey/")
    assert page.status_code == 200 and "listed" in page.content.decode()
