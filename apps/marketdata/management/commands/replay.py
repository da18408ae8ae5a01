"""``manage.py replay``: stream recorded trades into the LIVE ingest path at a chosen speed
(the demo feed of SPEC section 3)::

    replay --file trades.csv [--format auto|databento|binance] [--filter-symbol ESU4]
           --symbol TARGET --speed 10 [--keep-time | --as-live] [--loop] [--max-seconds S]
    replay --file data.scid --symbol TARGET ...
    replay --from-symbol ESU4 --start 2024-07-01T23:58Z --end 2024-07-02T00:02Z
           --symbol ES-DEMO --speed 1 --as-live --loop

Every batch goes through ``ingest_ticks(..., publish=True)``: validation, storage, rollups
and the after-commit broadcast, exactly like the HTTP feed.

Time:

* Pacing: a trade is sent when ``(its data time - the first trade's) / speed`` seconds of
  wall time have passed since the start; ``--speed 0`` sends as fast as the store takes
  it. Trades are sent in batches, one per ``--batch-ms`` (100 ms) of WALL time (at speed
  100 that is 10 s of data per batch), which is the broadcast's own coalescing interval:
  smaller batches would only cost more transactions. ``--max-gap S`` shortens quiet
  periods (nights, weekends) to at most S seconds of data time.
* ``--keep-time`` (the default): trades keep their original timestamps and ids, so a
  replay stores what an import would, and replaying twice changes nothing (the store
  skips trades it has). Charts see the data as history arriving late.
* ``--as-live``: timestamps are moved to the wall clock, ``now at start + (data time -
  first data time) / speed``, i.e. the first trade lands at "now" and the spacing is
  kept (scaled by the speed so a trade is never stamped later than it is delivered: live
  candles form in real time). Ids get a per-run prefix (``rp<run>.<pass>:<id>``) so each
  pass is new data. Needs ``--speed > 0``; ``--loop`` (only with ``--as-live``) starts
  over at the end, continuing the clock.

Sources: a trades CSV (``import_csv``'s readers and ids, so a keep-time replay of a file
already imported stores nothing new), a ``.scid`` file (its trade records, ``import_scid``'s
ids) or trades already stored for ``--from-symbol`` between ``--start`` and ``--end``
(ids ``r<source id>:<microsecond>:<n>``, stable for the same stored data).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from apps.marketdata import broadcast
from apps.marketdata.feeds import importing
from apps.marketdata.feeds.csvfiles import TRADES_PRESETS
from apps.marketdata.feeds.errors import FeedFormatError
from apps.marketdata.feeds.scid import read_scid
from apps.marketdata.ingest.errors import InvalidRows
from apps.marketdata.ingest.ticks import ingest_ticks
from apps.marketdata.store import db, sql
from apps.marketdata.ticks import TickBatch

NS = 1_000_000_000
CHUNK_ROWS = 50_000  # rows read at a time; also the largest batch sent
STORED_WINDOW = timedelta(minutes=1)  # first window when reading stored trades
STORED_WINDOW_MAX = timedelta(days=7)


class Command(BaseCommand):
    help = "Replay trades from a file or from stored data into the live ingest path."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", help="trades CSV (.csv/.csv.gz) or Sierra Chart .scid")
        source.add_argument("--from-symbol", help="replay trades stored for this symbol")
        parser.add_argument("--format", default="auto", choices=("auto", *TRADES_PRESETS))
        parser.add_argument("--filter-symbol", help="only this instrument's rows of the file")
        parser.add_argument("--tz", default="UTC", help="zone of file timestamps without offset")
        parser.add_argument("--start", help="ISO time: replay trades from here")
        parser.add_argument("--end", help="ISO time: replay trades before this")
        parser.add_argument("--symbol", required=True, help="target symbol")
        parser.add_argument(
            "--speed", type=float, default=1.0, help="times real time (0 = as fast as possible)"
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--keep-time",
            dest="as_live",
            action="store_false",
            help="keep original timestamps and ids: idempotent (default)",
        )
        mode.add_argument(
            "--as-live",
            dest="as_live",
            action="store_true",
            help="shift timestamps to now with per-run ids",
        )
        parser.set_defaults(as_live=False)
        parser.add_argument("--loop", action="store_true", help="start over at the end")
        parser.add_argument("--max-seconds", type=float, default=None, help="stop after S s")
        parser.add_argument("--max-gap", type=float, default=None, help="cap quiet gaps (s)")
        parser.add_argument("--batch-ms", type=float, default=100.0, help="wall ms per batch")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        target = importing.get_symbol(options["symbol"])
        speed = options["speed"]
        if speed < 0:
            raise CommandError("--speed must be >= 0")
        if options["as_live"] and speed == 0:
            raise CommandError("--as-live needs --speed > 0 (times are taken from the clock)")
        if options["loop"] and not options["as_live"]:
            raise CommandError(
                "--loop needs --as-live: a keep-time replay stores nothing the second time"
            )
        importing.positive(options["batch_ms"], "--batch-ms")
        for name in ("max_seconds", "max_gap"):
            if options[name] is not None:
                importing.positive(options[name], "--" + name.replace("_", "-"))
        start, end = _instant(options["start"], "--start"), _instant(options["end"], "--end")
        if start and end and end <= start:
            raise CommandError("--end must be after --start")
        if options["file"]:
            path = importing.existing_file(options["file"])
            source = self._file_source(path, options, start, end)
        else:
            origin = importing.get_symbol(options["from_symbol"], option="--from-symbol")
            if start is None or end is None:
                raise CommandError("--from-symbol needs --start and --end")
            if origin.id == target.id and not options["as_live"]:
                raise CommandError(
                    "replaying a symbol into itself with --keep-time stores nothing; "
                    "use --as-live or another --symbol"
                )
            source = _stored_source(origin, start, end)
        self.stopped = False
        try:
            with importing.stop_on_signals(self._stop):
                totals = self._replay(target, source, options)
        except FeedFormatError as exc:
            raise importing.feed_error(exc) from None
        finally:
            broadcast.flush()
        mode = "as live" if options["as_live"] else "keeping time"
        self.stdout.write(
            f"replayed {totals['sent']} trades into {target.symbol} ({mode}, speed "
            f"{speed:g}, {totals['passes']} pass(es)): {totals['stored']} stored, "
            f"{totals['sent'] - totals['stored']} already present"
        )

    def _stop(self) -> None:
        self.stopped = True

    # -- sources (each call starts the data over)

    def _file_source(self, path, options, start, end):
        if path.suffix.lower() == ".scid":

            def scid():
                for chunk in read_scid(path, 0, CHUNK_ROWS):
                    yield chunk.ticks()

            return lambda: _window(scid(), start, end)

        def trades():
            for chunk in importing.iter_trades_file(
                path,
                options["format"],
                chunk_rows=CHUNK_ROWS,
                filter_symbol=options["filter_symbol"],
                tz=options["tz"],
            ):
                yield chunk.ticks

        return lambda: _window(trades(), start, end)

    # -- the loop

    def _replay(self, target, source, options) -> dict:
        speed = options["speed"]
        clock = ReplayClock(speed, options["max_gap"])
        window_ns = int(options["batch_ms"] * 1e6 * speed) if speed else 0
        deadline = (
            None if options["max_seconds"] is None else time.monotonic() + options["max_seconds"]
        )
        run = np.base_repr(time.time_ns() // 1_000_000, 36).lower()
        totals = {"sent": 0, "stored": 0, "passes": 0}
        bar = importing.progress(self, disable=options["no_progress"], unit="trade", desc="replay")
        with bar:
            while not self.stopped:
                prefix = f"rp{run}.{totals['passes']}:" if options["as_live"] else None
                totals["passes"] += 1
                sent_before = totals["sent"]
                for batch in source():
                    eff = clock.effective(batch.ts_ns)
                    for piece in _slices(eff, window_ns):
                        if not clock.wait(eff[piece.stop - 1], deadline, self):
                            return totals
                        out = batch.take(piece)
                        if prefix is not None:
                            out = _as_live(out, clock.wall_ns(eff[piece]), prefix)
                        totals["stored"] += self._ingest(target, out)
                        totals["sent"] += len(out)
                        bar.update(len(out))
                    if self.stopped:
                        return totals
                if not options["loop"] or totals["sent"] == sent_before:
                    break
        return totals

    def _ingest(self, target, batch: TickBatch) -> int:
        try:
            return ingest_ticks(target, batch, publish=True).stored
        except InvalidRows as exc:
            raise CommandError(
                "invalid trades in the replay source: "
                + importing.explain_invalid(exc, lambda i: f"trade {batch.trade_id[i]}")
            ) from None


class ReplayClock:
    """Maps data time to wall time.

    ``effective`` turns data timestamps into "effective" data time: the cumulative sum of
    the gaps between consecutive trades, with gaps capped at ``max_gap`` and negative gaps
    (the next pass of a loop, or out-of-order rows) counted as zero, so it never goes
    back. A trade is due ``effective / speed`` after the first trade was sent.
    """

    def __init__(self, speed: float, max_gap: float | None):
        self.speed = speed
        self.max_gap_ns = None if max_gap is None else int(max_gap * NS)
        self.prev_raw: int | None = None
        self.prev_eff = 0
        self.started: float | None = None  # monotonic seconds at the first trade
        self.started_ns = 0  # wall clock (epoch ns) at the first trade

    def effective(self, ts_ns: np.ndarray) -> np.ndarray:
        if len(ts_ns) == 0:
            return np.zeros(0, dtype=np.int64)
        first = int(ts_ns[0]) if self.prev_raw is None else self.prev_raw
        gaps = np.clip(np.diff(ts_ns, prepend=first), 0, self.max_gap_ns)
        eff = self.prev_eff + np.cumsum(gaps)
        self.prev_raw, self.prev_eff = int(ts_ns[-1]), int(eff[-1])
        return eff

    def wait(self, eff_ns: int, deadline: float | None, command) -> bool:
        """Sleep until ``eff_ns`` is due; False when stopped or past the deadline first."""
        if self.started is None:
            self.started, self.started_ns = time.monotonic(), time.time_ns()
        due = self.started + (eff_ns / NS / self.speed if self.speed else 0.0)
        while True:
            now = time.monotonic()
            if command.stopped or (deadline is not None and now >= deadline):
                return False
            if now >= due:
                return True
            limit = due if deadline is None else min(due, deadline)
            time.sleep(min(0.25, max(0.0, limit - now)))

    def wall_ns(self, eff_ns: np.ndarray) -> np.ndarray:
        """``--as-live`` timestamps: the wall clock at which each trade is due."""
        offset = (eff_ns.astype(np.float64) / self.speed).astype(np.int64)
        return self.started_ns + offset


def _slices(eff: np.ndarray, window_ns: int) -> Iterator[slice]:
    """Consecutive runs of trades falling in one ``window_ns`` of effective time (all of
    them at speed 0), at most ``CHUNK_ROWS`` each."""
    n = len(eff)
    if n == 0:
        return
    if window_ns <= 0:
        bounds = [0, n]
    else:
        slot = eff // window_ns
        bounds = [0, *(np.flatnonzero(np.diff(slot)) + 1).tolist(), n]
    for lo, hi in itertools.pairwise(bounds):
        for start in range(lo, hi, CHUNK_ROWS):
            yield slice(start, min(start + CHUNK_ROWS, hi))


def _as_live(batch: TickBatch, ts_ns: np.ndarray, prefix: str) -> TickBatch:
    ids = np.empty(len(batch), dtype=object)
    ids[:] = [prefix + str(v) for v in batch.trade_id.tolist()]
    return TickBatch(ts_ns, batch.price, batch.size, batch.side, ids)


def _window(batches, start: datetime | None, end: datetime | None) -> Iterator[TickBatch]:
    """Trades of ``[start, end)`` in time order (each chunk sorted)."""
    lo = None if start is None else _ns(start)
    hi = None if end is None else _ns(end)
    for batch in batches:
        keep = np.ones(len(batch), dtype=bool)
        if lo is not None:
            keep &= batch.ts_ns >= lo
        if hi is not None:
            keep &= batch.ts_ns < hi
        index = np.flatnonzero(keep)
        if index.size:
            yield batch.take(index[np.argsort(batch.ts_ns[index], kind="stable")])


def _stored_source(origin, start: datetime, end: datetime):
    """Stored trades in windows of data time, widened or narrowed to keep each read
    between ~5k and ~50k rows (``TICKS_RANGE`` has no LIMIT)."""

    def read() -> Iterator[TickBatch]:
        lo, step = start, STORED_WINDOW
        while lo < end:
            hi = min(lo + step, end)
            with db.connection().cursor() as cursor:
                cursor.execute(sql.TICKS_RANGE, {"symbol_id": origin.id, "start": lo, "end": hi})
                rows = cursor.fetchall()
            if rows:
                yield _stored_batch(origin.id, rows)
            if len(rows) > CHUNK_ROWS:
                step = max(step / 2, timedelta(seconds=1))
            elif len(rows) < CHUNK_ROWS // 10:
                step = min(step * 2, STORED_WINDOW_MAX)
            lo = hi

    return read


def _stored_batch(origin_id: int, rows: list[tuple]) -> TickBatch:
    ts, price, size, side = zip(*rows, strict=True)
    ts_us = np.array([_ns(t) // 1000 for t in ts], dtype=np.int64)
    # ids: source symbol, microsecond, and rank among the trades of that microsecond (the
    # query's ORDER BY makes the rank stable; windows never split a microsecond)
    n = ts_us.size
    first = np.r_[True, ts_us[1:] != ts_us[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.arange(n) - group_start
    ids = np.empty(n, dtype=object)
    ids[:] = [f"r{origin_id}:{u}:{k}" for u, k in zip(ts_us.tolist(), rank.tolist(), strict=True)]
    return TickBatch(
        ts_ns=ts_us * 1000,
        price=np.asarray(price, dtype=np.float64),
        size=np.asarray(size, dtype=np.float64),
        side=np.asarray(side, dtype=np.int8),
        trade_id=ids,
    )


def _instant(value: str | None, option: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{option} {value!r} is not an ISO-8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ns(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)) * 1000
