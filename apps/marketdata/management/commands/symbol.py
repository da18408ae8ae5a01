"""``manage.py symbol add ES --exchange CME --asset-type futures --tick-size 0.25
[--timezone America/Chicago --session 17:00-16:00]`` and ``symbol list``."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.marketdata.models import AssetType
from apps.marketdata.selectors import symbol_list
from apps.marketdata.services import symbol_upsert


class Command(BaseCommand):
    help = "Add/update and list symbols."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="create or update a symbol")
        add.add_argument("symbol")
        add.add_argument("--exchange", required=True)
        add.add_argument("--asset-type", required=True, choices=AssetType.values)
        add.add_argument("--tick-size", required=True)
        add.add_argument("--name", default="")
        add.add_argument("--timezone", default="UTC")
        add.add_argument("--session", default=None, help="local HH:MM-HH:MM, e.g. 17:00-16:00")
        add.add_argument("--price-scale", type=int, default=0)
        add.add_argument("--private", action="store_true", help="hide from non-staff users")
        sub.add_parser("list", help="list symbols")

    def handle(self, *args, action, **options):
        if action == "list":
            for s in symbol_list(active_only=False):
                self.stdout.write(
                    f"{s.symbol}\t{s.exchange}\t{s.asset_type}\t{s.tick_size.normalize()}"
                    f"\t{s.timezone}\t{s.session_start:%H:%M}-{s.session_end:%H:%M}"
                )
            return
        try:
            obj, created = symbol_upsert(
                symbol=options["symbol"],
                exchange=options["exchange"],
                asset_type=options["asset_type"],
                tick_size=options["tick_size"],
                name=options["name"],
                timezone=options["timezone"],
                session=options["session"],
                price_scale=options["price_scale"],
                is_public=not options["private"],
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from exc
        verb = "Created" if created else "Updated"
        self.stdout.write(
            f"{verb} {obj.symbol} on {obj.exchange} (tick {obj.tick_size.normalize()}, "
            f"{obj.timezone} {obj.session_start:%H:%M}-{obj.session_end:%H:%M})"
        )
