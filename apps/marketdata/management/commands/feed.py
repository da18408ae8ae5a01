"""``manage.py feed binance SYMBOL... [--url ws://...] [--max-messages N] [--duration S]
[--create]``: run an exchange connector into the live ingest path.

Binance public trade stream (``feeds/binance.py``): trades are batched per symbol (every
``--flush-interval`` seconds or ``--max-batch`` trades) and each batch goes through
``ingest_ticks(..., publish=True)``, like the HTTP feed. The symbols must exist (looked up
as ``CODE:BINANCE`` first, then ``CODE``) or ``--create`` adds the missing ones as
crypto on BINANCE with tick size 0.01 (existing symbols are never modified).

Threads: the stream is asynchronous and the ingest path is synchronous Django code. The
command runs the stream with ``async_to_sync`` and calls ingest through
``sync_to_async(thread_sensitive=True)``, which executes it back on the command's own
(main) thread: one database connection, the one Django manages for the command (and, in
tests, the test's transaction), closed when the command ends. SIGINT/SIGTERM stop the
stream cleanly: buffered trades are ingested and the broadcast flushed before exit.

A batch with invalid trades (say, a clock far ahead) is not allowed to stop a live feed:
the bad rows are dropped with a warning and the rest is stored. Store errors do stop it
(a supervisor restarts the command; replays are harmless because trade ids dedupe).
The URL is configurable so tests run against a local fake server; ``ws://127.0.0.1``
and ``localhost`` URLs bypass any configured proxy.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync, sync_to_async
from django.core.management.base import BaseCommand, CommandError
from websockets.exceptions import InvalidURI

from apps.marketdata import broadcast
from apps.marketdata.feeds import importing
from apps.marketdata.feeds.binance import DEFAULT_URL, BinanceTradeStream
from apps.marketdata.ingest.errors import InvalidRows
from apps.marketdata.ingest.ticks import ingest_ticks
from apps.marketdata.selectors import symbol_get
from apps.marketdata.services import symbol_upsert
from apps.marketdata.ticks import TickBatch

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Command(BaseCommand):
    help = "Run an exchange trade feed (binance) into the live ingest path."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="exchange", required=True)
        binance = sub.add_parser("binance", help="Binance public trade stream")
        binance.add_argument("symbols", nargs="+", help="e.g. BTCUSDT ETHUSDT")
        binance.add_argument("--url", default=DEFAULT_URL, help="stream base URL")
        binance.add_argument("--max-messages", type=int, default=None, help="stop after N trades")
        binance.add_argument("--duration", type=float, default=None, help="stop after S seconds")
        binance.add_argument(
            "--create", action="store_true", help="create missing symbols (crypto, BINANCE)"
        )
        binance.add_argument("--flush-interval", type=float, default=0.1, help="seconds")
        binance.add_argument("--max-batch", type=int, default=1000, help="trades per batch")
        binance.add_argument(
            "--max-reconnects", type=int, default=None, help="give up after N reconnects"
        )
        binance.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, exchange, **options):
        if exchange != "binance":  # pragma: no cover - argparse only offers binance
            raise CommandError(f"unknown exchange {exchange!r}")
        for name in ("max_messages", "duration", "flush_interval", "max_batch"):
            if options[name] is not None:
                importing.positive(options[name], "--" + name.replace("_", "-"))
        url = options["url"]
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise CommandError(f"--url {url!r} must be a ws:// or wss:// URL")
        codes = list(dict.fromkeys(code.strip().upper() for code in options["symbols"]))
        self.symbols = {code: self._symbol(code, options["create"]) for code in codes}
        self.totals = {"stored": 0, "duplicates": 0, "dropped": 0, "skipped": 0}
        self.stream: BinanceTradeStream | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_requested = False
        self.bar = importing.progress(
            self,
            disable=options["no_progress"],
            total=options["max_messages"],
            unit="trade",
            desc="binance",
        )
        try:
            with self.bar, importing.stop_on_signals(self._request_stop):
                stats = async_to_sync(self._run)(url, options)
        except (ConnectionError, InvalidURI, ValueError) as exc:
            raise CommandError(f"binance feed stopped: {exc}") from None
        finally:
            broadcast.flush()
            importing.close_connections()
        totals = self.totals
        self.stdout.write(
            f"binance: {stats.trades} trades received over {stats.connections} connection(s) "
            f"({stats.duplicates} repeated ids skipped, {stats.bad_messages} bad messages, "
            f"{stats.reconnects} reconnects); {totals['stored']} stored, "
            f"{totals['duplicates']} already present, {totals['dropped']} invalid dropped"
            + (f", {totals['skipped']} for unsubscribed symbols" if totals["skipped"] else "")
        )

    def _symbol(self, code: str, create: bool):
        symbol = symbol_get(f"{code}:BINANCE") or symbol_get(code)
        if symbol is not None:
            return symbol
        if not create:
            raise CommandError(
                f"unknown symbol {code!r}; create it with 'manage.py symbol add' or pass --create"
            )
        symbol, _ = symbol_upsert(
            symbol=code, exchange="BINANCE", asset_type="crypto", tick_size="0.01"
        )
        self.stdout.write(f"created {symbol.symbol} on BINANCE (crypto, tick 0.01)")
        return symbol

    def _request_stop(self) -> None:
        self.stop_requested = True
        if self.loop is not None and self.stream is not None:
            self.loop.call_soon_threadsafe(self.stream.stop)

    async def _run(self, url: str, options):
        ingest = sync_to_async(self._ingest, thread_sensitive=True)

        async def on_batch(code: str, batch: TickBatch) -> None:
            await ingest(code, batch)

        host = urlsplit(url).hostname or ""
        stream = BinanceTradeStream(
            url,
            list(self.symbols),
            on_batch,
            flush_interval=options["flush_interval"],
            max_batch=options["max_batch"],
            max_messages=options["max_messages"],
            stop_after=options["duration"],
            max_reconnects=options["max_reconnects"],
            connect_kwargs={"proxy": None} if host in LOOPBACK else None,
        )
        self.loop, self.stream = asyncio.get_running_loop(), stream
        if self.stop_requested:
            stream.stop()
        return await stream.run()

    def _ingest(self, code: str, batch: TickBatch) -> None:
        """Runs on the command's main thread (thread-sensitive)."""
        symbol = self.symbols.get(code)
        if symbol is None:  # a server sending streams nobody asked for
            self.totals["skipped"] += len(batch)
            return
        try:
            result = ingest_ticks(symbol, batch, publish=True)
        except InvalidRows as exc:
            self.stderr.write(
                self.style.WARNING(
                    f"warning: dropped invalid {code} trades: "
                    + importing.explain_invalid(exc, lambda i: f"trade {batch.trade_id[i]}")
                )
            )
            bad = {e.index for e in exc.errors}
            self.totals["dropped"] += len(bad)
            batch = importing.drop_rows(batch, bad)
            if not len(batch):
                return
            result = ingest_ticks(symbol, batch, publish=True)
        self.totals["stored"] += result.stored
        self.totals["duplicates"] += result.duplicates
        self.bar.update(result.received)
