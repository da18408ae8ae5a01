"""Create the demo symbols and the demo login (idempotent); print the credentials.

The SIM symbols are fed by the simulated demo feed (``manage.py demofeed``) and are marked
``is_simulated`` so the UI labels them SIM. ES, NQ and BTCUSDT are real instruments for
imported or replayed data.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accounts.models import User
from apps.marketdata.services import symbol_upsert

DEMO_EMAIL = "demo@tradeflow.local"
DEMO_PASSWORD = "demo-tradeflow-1"  # noqa: S105 - published demo credentials, local only

SYMBOLS = [
    dict(
        symbol="SIM-ES",
        exchange="SIM",
        asset_type="futures",
        tick_size="0.25",
        name="Simulated E-mini S&P 500",
        timezone="America/Chicago",
        session="17:00-16:00",
        is_simulated=True,
    ),
    dict(
        symbol="SIM-BTC",
        exchange="SIM",
        asset_type="crypto",
        tick_size="0.01",
        name="Simulated Bitcoin / Tether",
        timezone="UTC",
        session="00:00-00:00",
        is_simulated=True,
    ),
    dict(
        symbol="SIM-EUR",
        exchange="SIM",
        asset_type="forex",
        tick_size="0.00001",
        name="Simulated Euro / US Dollar",
        timezone="America/New_York",
        session="17:00-17:00",
        is_simulated=True,
    ),
    dict(
        symbol="ES",
        exchange="CME",
        asset_type="futures",
        tick_size="0.25",
        name="E-mini S&P 500",
        timezone="America/Chicago",
        session="17:00-16:00",
    ),
    dict(
        symbol="NQ",
        exchange="CME",
        asset_type="futures",
        tick_size="0.25",
        name="E-mini Nasdaq-100",
        timezone="America/Chicago",
        session="17:00-16:00",
    ),
    dict(
        symbol="BTCUSDT",
        exchange="BINANCE",
        asset_type="crypto",
        tick_size="0.01",
        name="Bitcoin / Tether",
        timezone="UTC",
        session="00:00-00:00",
    ),
]


class Command(BaseCommand):
    help = "Create demo symbols and the demo user (idempotent)."

    def handle(self, *args, **options):
        for spec in SYMBOLS:
            symbol_upsert(**spec)
        self.stdout.write(f"demo symbols: {', '.join(s['symbol'] for s in SYMBOLS)}")
        if not settings.DEBUG:
            # A published password must never reach a production deployment.
            self.stdout.write("TRADEFLOW_DEBUG=false: no demo login created")
            return
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User(
                email=DEMO_EMAIL,
                username="demo",
                subscription_tier="pro",
                is_staff=True,
                is_superuser=True,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
        self.stdout.write(f"demo login: {DEMO_EMAIL} / {DEMO_PASSWORD} (also admin)")
