"""``manage.py demofeed``: the simulated live feed for the SIM demo symbols.

Trades go through ``ingest_ticks``, the same path as HTTP ingestion, so the demo exercises
validation, storage, rollups and live publishing. On first start it backfills history
(``--backfill-hours``) so charts open with something to look at.
"""

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.marketdata import broadcast
from apps.marketdata.feeds.simulator import walk_for
from apps.marketdata.ingest.ticks import ingest_ticks
from apps.marketdata.models import Symbol
from apps.marketdata.store import reads

NS = 1_000_000_000


class Command(BaseCommand):
    help = "Run the simulated demo feed for the SIM symbols (Ctrl-C to stop)."

    def add_arguments(self, parser):
        parser.add_argument("--symbols", default=",".join(settings.DEMO_FEED_SYMBOLS))
        parser.add_argument(
            "--rate",
            type=float,
            default=settings.DEMO_TICKS_PER_SECOND,
            help="trades per second per symbol",
        )
        parser.add_argument("--backfill-hours", type=float, default=settings.DEMO_BACKFILL_HOURS)
        parser.add_argument(
            "--duration",
            type=float,
            default=0.0,
            help="stop after this many seconds (0 = run until stopped)",
        )
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **options):
        codes = [c.strip().upper() for c in options["symbols"].split(",") if c.strip()]
        symbols = list(Symbol.objects.filter(symbol__in=codes, is_simulated=True))
        if not symbols:
            raise CommandError(f"no simulated symbols among {codes}: run manage.py seed_demo")
        running = True

        def stop(*_):
            nonlocal running
            running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        now = time.time_ns()
        walks, seqs = {}, {}
        for sym in symbols:
            last = reads.last_trade(sym.id)
            walks[sym.symbol] = walk_for(
                sym.symbol, sym.tick, last[1] if last else None, options["seed"]
            )
            seqs[sym.symbol] = now // 1000
            if last is None and options["backfill_hours"] > 0:
                self._backfill(sym, walks[sym.symbol], now, options["backfill_hours"])
        self.stdout.write(
            f"demo feed: {', '.join(s.symbol for s in symbols)} at {options['rate']}/s each (SIM)"
        )
        started = time.monotonic()
        previous = time.time_ns()
        while running:
            time.sleep(0.2)
            current = time.time_ns()
            for sym in symbols:
                batch = walks[sym.symbol].trades(
                    previous, current, options["rate"], seqs[sym.symbol], f"sim{sym.id}"
                )
                seqs[sym.symbol] += len(batch)
                if len(batch):
                    ingest_ticks(sym, batch)
            previous = current
            if options["duration"] and time.monotonic() - started >= options["duration"]:
                break
        broadcast.flush()

    def _backfill(self, sym, walk, now_ns: int, hours: float) -> None:
        start = now_ns - int(hours * 3600 * NS)
        step = 3600 * NS
        total = 0
        for chunk_start in range(start, now_ns, step):
            chunk_end = min(chunk_start + step, now_ns)
            batch = walk.trades(chunk_start, chunk_end, 2.0, chunk_start // 1000, f"sim{sym.id}-bf")
            total += ingest_ticks(sym, batch, publish=False).stored
        self.stdout.write(f"backfilled {total} trades of {sym.symbol} over {hours:g}h")
