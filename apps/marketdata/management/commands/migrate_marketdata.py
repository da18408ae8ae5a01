from django.core.management.base import BaseCommand

from apps.marketdata.store import migrate


class Command(BaseCommand):
    help = "Apply the versioned SQL schema of the market-data database (idempotent)."

    def handle(self, *args, **options):
        applied = migrate.apply_all(log=self.stdout.write)
        if not applied:
            self.stdout.write("market-data schema is up to date")
