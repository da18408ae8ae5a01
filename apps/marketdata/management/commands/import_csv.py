"""``manage.py import_csv FILE --symbol SYM --kind trades|ohlcv ...``: import a trades or
OHLCV CSV file (SPEC section 3).

Trades::

    import_csv trades.csv --symbol ESU4 --kind trades [--format auto|databento|binance]
        [--ts-column C --ts-format auto|iso|ns|us|ms|s --price-column C --size-column C
         --side-column C --side-map aggressor_side|is_buyer_maker|databento
         --id-column C[,C2] --symbol-column C] [--filter-symbol ESU4] [--tz UTC]

OHLCV::

    import_csv bars.csv --symbol GOOG --kind ohlcv [--timeframe 1d] [--ts-column C or
        DATE,TIME --open-column C ... --volume-column C] [--filter-symbol ESU4] [--tz UTC]

Decisions:

* Columns come from a preset or are detected from the header; every ``--*-column``
  option overrides one detected column, and when detection fails the named columns are
  enough on their own.
* Trades go through ``ingest_ticks`` (not published: history), bars through
  ``ingest_bar_columns`` at ``--timeframe`` seconds, or at the bar length inferred from
  the first bars of the file (the most common gap; always sampled from the file's start,
  so a resumed run infers the same).
* Each chunk (``--chunk`` rows) is one transaction together with its resume position
  (the byte offset of the next line, in ``md_import_state``). A re-run resumes there and
  picks up appended rows; ``--restart`` reads the file from the top again.
* Idempotent: trades keep the file's ids (``csv:L<line>`` when there are none, see
  ``feeds/importing.py``); bars are upserted (a repeated bar: the later row wins).
* Bad input stops the import with the file and line: unparsable values before anything
  of the chunk is written, rows the ingest rules refuse (negative size, high < low, ...)
  with the chunk rolled back. Earlier chunks stay imported (they were valid).
* A file holding several instruments (a symbol column with more than one value) needs
  ``--filter-symbol``; it is never merged into one symbol silently.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from apps.marketdata.feeds import importing
from apps.marketdata.feeds.bars import infer_seconds_per_bar, take_bars
from apps.marketdata.feeds.csvfiles import (
    SIDE_MAPS,
    TRADES_PRESETS,
    BarsCsvFormat,
    TradesCsvFormat,
    detect_bars_format,
    detect_trades_format,
    read_bars_csv,
    read_csv_header,
)
from apps.marketdata.feeds.errors import FeedFormatError
from apps.marketdata.feeds.timeparse import TS_FORMATS
from apps.marketdata.ingest.bars import ingest_bar_columns
from apps.marketdata.ingest.errors import InvalidRows
from apps.marketdata.ingest.ticks import ingest_ticks
from apps.marketdata.store import db
from apps.marketdata.timeframes import TimeframeError, label_for_seconds, parse

INFER_SAMPLE_BARS = 10_000
TRADE_OPTIONS = ("price_column", "size_column", "side_column", "side_map", "id_column")
BAR_OPTIONS = (
    "open_column",
    "high_column",
    "low_column",
    "close_column",
    "volume_column",
    "timeframe",
)


class Command(BaseCommand):
    help = "Import a trades or OHLCV CSV file; resumable and idempotent."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file (.csv or .csv.gz)")
        parser.add_argument("--symbol", required=True, help="target symbol (CODE or CODE:EXCH)")
        parser.add_argument("--kind", required=True, choices=("trades", "ohlcv"))
        parser.add_argument(
            "--format",
            default="auto",
            choices=("auto", *TRADES_PRESETS),
            help="trades column preset (default: detect from the header)",
        )
        parser.add_argument("--ts-column", help="timestamp column (ohlcv: also DATE,TIME)")
        parser.add_argument("--ts-format", choices=TS_FORMATS, help="timestamp format")
        parser.add_argument("--price-column")
        parser.add_argument("--size-column")
        parser.add_argument("--side-column", help="aggressor column")
        parser.add_argument("--side-map", choices=tuple(SIDE_MAPS), help="side column values")
        parser.add_argument("--id-column", help="trade id column(s), comma-separated")
        parser.add_argument("--symbol-column", help="instrument column (for --filter-symbol)")
        parser.add_argument("--open-column")
        parser.add_argument("--high-column")
        parser.add_argument("--low-column")
        parser.add_argument("--close-column")
        parser.add_argument("--volume-column")
        parser.add_argument(
            "--timeframe", help="ohlcv bar length, e.g. 1m, 1h, 1d (default: inferred)"
        )
        parser.add_argument("--tz", default="UTC", help="zone of timestamps without offset")
        parser.add_argument("--filter-symbol", help="import only this instrument's rows")
        parser.add_argument("--delimiter", default=",")
        parser.add_argument("--chunk", type=int, default=100_000, help="rows per transaction")
        parser.add_argument("--restart", action="store_true", help="ignore the saved position")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        symbol = importing.get_symbol(options["symbol"])
        path = importing.existing_file(options["file"])
        importing.positive(options["chunk"], "--chunk")
        kind = options["kind"]
        wrong = TRADE_OPTIONS if kind == "ohlcv" else BAR_OPTIONS
        given = [name for name in wrong if options.get(name)]
        if kind == "ohlcv" and options["format"] != "auto":
            given.append("format")
        if given:
            other = "trades" if kind == "ohlcv" else "ohlcv"
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise CommandError(f"{flags} only apply to --kind {other}")
        if len(options["delimiter"]) != 1:
            raise CommandError("--delimiter must be one character")
        filter_symbol = options["filter_symbol"]
        source = importing.source_key(f"csv-{kind}", symbol, path, (filter_symbol or "*").upper())
        saved = None if options["restart"] else importing.load_position(source)
        start = None if saved is None else importing.csv_resume_start(path, saved)
        self.rows_done = 0
        try:
            header = read_csv_header(path, delimiter=options["delimiter"])
            if kind == "trades":
                fmt = self._trades_format(header, options)
                summary = self._import_trades(symbol, path, fmt, source, start, options)
            else:
                fmt = self._bars_format(header, options)
                summary = self._import_bars(symbol, path, fmt, source, start, options)
        except FeedFormatError as exc:
            raise CommandError(self._stopped(str(exc))) from None
        resumed = "" if start is None else f" (resumed at line {start.line + 1})"
        self.stdout.write(f"{path}{resumed} into {symbol.symbol}: {summary}")

    def _stopped(self, message: str) -> str:
        if not self.rows_done:
            return message
        return (
            f"{message} ({self.rows_done} earlier rows were imported; fix the file and "
            "re-run with --restart)"
        )

    # -- formats

    def _trades_format(self, header: list[str], options) -> TradesCsvFormat:
        given = {
            "ts_column": options["ts_column"],
            "price_column": options["price_column"],
            "size_column": options["size_column"],
        }
        preset = options["format"]
        try:
            base = TRADES_PRESETS[preset] if preset != "auto" else detect_trades_format(header)
        except FeedFormatError:
            if not all(given.values()):
                raise
            base = TradesCsvFormat(**given)
        changes = {key: value for key, value in given.items() if value}
        if options["ts_format"]:
            changes["ts_format"] = options["ts_format"]
        if options["side_column"]:
            changes["side_column"] = options["side_column"]
            if not options["side_map"]:  # a new column: guess its vocabulary from its name
                maker = re.sub(r"[\s_\-.]", "", options["side_column"].lower())
                maker = maker in ("isbuyermaker", "m")
                changes["side_map"] = "is_buyer_maker" if maker else "aggressor_side"
        if options["side_map"]:
            changes["side_map"] = options["side_map"]
        if options["id_column"]:
            changes["id_columns"] = tuple(
                name.strip() for name in options["id_column"].split(",") if name.strip()
            )
        if options["symbol_column"]:
            changes["symbol_column"] = options["symbol_column"]
        if "ts_column" in changes and "ts_format" not in changes:
            changes["ts_format"] = "auto"  # the preset's unit belonged to its own column
        try:
            return dataclasses.replace(base, **changes)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def _bars_format(self, header: list[str], options) -> BarsCsvFormat:
        ts = options["ts_column"]
        if ts and "," in ts:
            date_col, _, time_col = ts.partition(",")
            ts = (date_col.strip(), time_col.strip())
        try:
            base = detect_bars_format(header)
        except FeedFormatError:
            if not ts:
                raise
            base = BarsCsvFormat(ts_column=ts)
        changes = {
            f"{name}_column": options[f"{name}_column"]
            for name in ("open", "high", "low", "close", "volume", "symbol")
            if options[f"{name}_column"]
        }
        if ts:
            changes["ts_column"] = ts
        if options["ts_format"]:
            changes["ts_format"] = options["ts_format"]
        return dataclasses.replace(base, **changes)

    # -- trades

    def _import_trades(self, symbol, path: Path, fmt, source, start, options) -> str:
        stored = duplicates = 0
        with self._progress(path, start, options) as bar:
            for chunk in importing.iter_trades_file(
                path,
                fmt,
                chunk_rows=options["chunk"],
                start=start,
                filter_symbol=options["filter_symbol"],
                tz=options["tz"],
                delimiter=options["delimiter"],
            ):
                with db.atomic():
                    if len(chunk.ticks):
                        try:
                            result = ingest_ticks(symbol, chunk.ticks, publish=False)
                        except InvalidRows as exc:
                            raise CommandError(
                                self._stopped(
                                    "invalid trades, nothing from this chunk was stored: "
                                    + importing.explain_invalid(
                                        exc, lambda i, c=chunk: f"{path}: line {c.lines[i]}"
                                    )
                                )
                            ) from None
                        stored += result.stored
                        duplicates += result.duplicates
                    importing.save_position(source, symbol.id, chunk.stop.byte)
                self.rows_done += chunk.rows_read
                bar.update(chunk.stop.byte - bar.n)
        return f"{stored} trades stored, {duplicates} already present"

    # -- bars

    def _import_bars(self, symbol, path: Path, fmt, source, start, options) -> str:
        res = self._timeframe(path, fmt, options)
        symbols = importing.SymbolFilter(path, options["filter_symbol"])
        stored = 0
        with self._progress(path, start, options) as bar:
            for chunk in read_bars_csv(
                path,
                fmt,
                chunk_rows=options["chunk"],
                start=start,
                tz=options["tz"],
                delimiter=options["delimiter"],
            ):
                n = len(chunk.bars["ts_ns"])
                keep = symbols.mask(chunk.symbols, n)
                bars = chunk.bars if keep is None else take_bars(chunk.bars, keep)
                bars, rows = importing.keep_last_per_bar(bars, res)
                all_lines = importing.lazy_lines(
                    path, chunk.start, chunk.stop, n, options["delimiter"]
                )

                def where(i, rows=rows, keep=keep, all_lines=all_lines):
                    lines = all_lines() if keep is None else all_lines()[keep]
                    return f"{path}: line {lines[rows[i]]}"

                with db.atomic():
                    if len(bars["ts_ns"]):
                        try:
                            stored += ingest_bar_columns(symbol, res, bars)
                        except InvalidRows as exc:
                            raise CommandError(
                                self._stopped(
                                    "invalid bars, nothing from this chunk was stored: "
                                    + importing.explain_invalid(exc, where)
                                )
                            ) from None
                    importing.save_position(source, symbol.id, chunk.stop.byte)
                self.rows_done += n
                bar.update(chunk.stop.byte - bar.n)
        return f"{stored} bars of {label_for_seconds(res)} stored (upserted)"

    def _timeframe(self, path: Path, fmt: BarsCsvFormat, options) -> int:
        if options["timeframe"]:
            try:
                return parse(options["timeframe"]).seconds
            except TimeframeError as exc:
                raise CommandError(f"--timeframe: {exc}") from None
        symbols = importing.SymbolFilter(path, options["filter_symbol"])
        sample: list[np.ndarray] = []
        for chunk in read_bars_csv(
            path,
            fmt,
            chunk_rows=INFER_SAMPLE_BARS,
            tz=options["tz"],
            delimiter=options["delimiter"],
        ):
            ts = chunk.bars["ts_ns"]
            keep = symbols.mask(chunk.symbols, len(ts))
            sample.append(ts if keep is None else ts[keep])
            if sum(map(len, sample)) >= INFER_SAMPLE_BARS:
                break
        seconds = infer_seconds_per_bar(np.concatenate(sample)) if sample else None
        if seconds is None:
            raise CommandError(
                f"cannot infer the bar length of {path} (fewer than two bars); pass --timeframe"
            )
        return seconds

    def _progress(self, path: Path, start, options):
        compressed = str(path).endswith(".gz")
        return importing.progress(
            self,
            disable=options["no_progress"],
            total=None if compressed else path.stat().st_size,
            initial=0 if start is None else start.byte,
            unit="B",
            unit_scale=True,
            desc=path.name,
        )
