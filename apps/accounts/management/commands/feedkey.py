"""``manage.py feedkey create NAME [--symbols A,B] [--timezone TZ]`` and friends.

``create`` prints the new key as its last line of output so scripts can capture it
(``KEY=$(manage.py feedkey create sierra | tail -1)``); the key is never shown again.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import FeedKey
from apps.accounts.services import feedkey_create, feedkey_revoke


class Command(BaseCommand):
    help = "Create, list and revoke ingestion feed keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a key and print it (last line)")
        create.add_argument("name")
        create.add_argument("--feed", help="feed name (defaults to NAME)")
        create.add_argument("--symbols", default="", help="comma-separated allow-list")
        create.add_argument(
            "--timezone", default="UTC", help="time zone of Sierra Chart timestamps (default UTC)"
        )
        create.add_argument("--auto-create-symbols", action="store_true")
        sub.add_parser("list", help="list keys (prefixes only)")
        revoke = sub.add_parser("revoke", help="revoke a key by its prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, action, **options):
        if action == "create":
            symbols = [s for s in options["symbols"].split(",") if s.strip()]
            try:
                key, plaintext = feedkey_create(
                    name=options["name"],
                    feed=options["feed"],
                    symbols=symbols,
                    timezone=options["timezone"],
                    auto_create_symbols=options["auto_create_symbols"],
                )
            except ValidationError as exc:
                raise CommandError(
                    "; ".join(m for ms in exc.message_dict.values() for m in ms)
                ) from exc
            scope = ",".join(key.symbols) or "all symbols"
            self.stdout.write(
                f"Created feed key {key.prefix} for feed {key.feed!r} "
                f"({scope}, timezone {key.timezone}). It is shown only once:"
            )
            self.stdout.write(plaintext)
        elif action == "list":
            for key in FeedKey.objects.order_by("created"):
                state = "revoked" if key.revoked else "active"
                self.stdout.write(
                    f"{key.prefix}\t{key.feed}\t{state}\t{','.join(key.symbols) or '*'}"
                )
        elif action == "revoke":
            if not feedkey_revoke(prefix=options["prefix"]):
                raise CommandError(f"no active key with prefix {options['prefix']!r}")
            self.stdout.write(f"Revoked {options['prefix']}")
