from decimal import Decimal
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from apps.accounts.tests.factories import UserFactory
from apps.marketdata.models import Symbol

pytestmark = pytest.mark.django_db


def test_it_adds_a_symbol_from_the_command_line():
    out = StringIO()
    call_command(
        "symbol",
        "add",
        "es",
        "--exchange",
        "cme",
        "--asset-type",
        "futures",
        "--tick-size",
        "0.25",
        "--timezone",
        "America/Chicago",
        "--session",
        "17:00-16:00",
        stdout=out,
    )
    es = Symbol.objects.get(symbol="ES", exchange="CME")
    assert es.tick_size == Decimal("0.25") and es.timezone == "America/Chicago"
    assert (es.session_start.hour, es.session_end.hour) == (17, 16)
    assert es.precision == 2
    assert "Created ES" in out.getvalue()
    call_command(
        "symbol",
        "add",
        "ES",
        "--exchange",
        "CME",
        "--asset-type",
        "futures",
        "--tick-size",
        "0.5",
        stdout=out,
    )
    assert Symbol.objects.count() == 1 and Symbol.objects.get().tick_size == Decimal("0.5")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tick-size", "zero"], "tick_size"),
        (["--tick-size", "-1"], "positive"),
        (["--tick-size", "0.25", "--timezone", "Nowhere/City"], "time zone"),
        (["--tick-size", "0.25", "--session", "17-16"], "session"),
    ],
)
def test_it_rejects_bad_symbols(args, message):
    with pytest.raises(CommandError, match=message):
        call_command(
            "symbol",
            "add",
            "CL",
            "--exchange",
            "NYMEX",
            "--asset-type",
            "futures",
            *args,
            stdout=StringIO(),
        )
    assert not Symbol.objects.exists()


def _upload(client, text: str):
    return client.post(
        "/admin/marketdata/symbol/import-csv/",
        {"csv_file": SimpleUploadedFile("s.csv", text.encode())},
    )


def test_it_imports_symbols_from_csv_in_the_admin(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = _upload(
        client,
        "symbol,exchange,asset_type,tick_size,name,timezone,session\n"
        "ES,CME,futures,0.25,E-mini,America/Chicago,17:00-16:00\n"
        "BTCUSDT,BINANCE,crypto,0.01,Bitcoin,UTC,00:00-24:00\n",
    )
    assert response.status_code == 302
    assert set(Symbol.objects.values_list("symbol", flat=True)) == {"ES", "BTCUSDT"}


def test_it_imports_nothing_when_a_csv_row_is_bad(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = _upload(
        client, "symbol,exchange,asset_type,tick_size\nES,CME,futures,0.25\nXX,CME,spaceships,1\n"
    )
    assert response.status_code == 200
    assert "line 3" in response.content.decode()
    assert not Symbol.objects.exists()


def test_it_hides_the_csv_import_from_non_staff(client):
    client.force_login(UserFactory())
    response = _upload(client, "symbol,exchange,asset_type,tick_size\nES,CME,futures,0.25\n")
    assert response.status_code == 302 and not Symbol.objects.exists()
