"""``manage.py import_scid FILE --symbol ES [--chunk N] [--restart] [--seconds-per-bar N]``:
import a Sierra Chart ``.scid`` intraday file (SPEC section 3).

* Single-trade records become ticks (``ingest_ticks``, not published: an import is
  history, not live data); bar records become bars at the file's ``seconds_per_bar``
  (inferred from the first 200k records, or ``--seconds-per-bar``) through
  ``ingest_bar_columns``.
* Each chunk of ``--chunk`` records is one transaction: its ticks, its bars and the new
  resume position (``md_import_state``, keyed by symbol and absolute path) commit together.
  A re-run resumes after the last committed chunk, so records Sierra Chart appended since
  are picked up; ``--restart`` reads from record 0 again.
* Idempotent either way: trade ids are derived from the record index and time
  (``scid:<record>:<DateTime>``) and bars are upserted, so re-reading a range stores
  nothing twice.
* A partial record at the end of the file (Sierra Chart still writing) is reported and
  left for the next run; everything before it is imported.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from apps.marketdata.feeds import importing
from apps.marketdata.feeds.errors import FeedFormatError
from apps.marketdata.feeds.scid import (
    iter_scid,
    read_scid_header,
    scid_infer_seconds_per_bar,
)
from apps.marketdata.ingest.bars import MAX_SECONDS_PER_BAR, ingest_bar_columns
from apps.marketdata.ingest.errors import InvalidRows
from apps.marketdata.ingest.ticks import ingest_ticks
from apps.marketdata.store import db
from apps.marketdata.timeframes import label_for_seconds


class Command(BaseCommand):
    help = "Import a Sierra Chart .scid file (trades and bars); resumable and idempotent."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the .scid file")
        parser.add_argument("--symbol", required=True, help="target symbol (CODE or CODE:EXCH)")
        parser.add_argument(
            "--chunk",
            type=int,
            default=100_000,
            help="records per transaction (and per saved resume position)",
        )
        parser.add_argument(
            "--restart",
            action="store_true",
            help="read from the first record instead of the saved position",
        )
        parser.add_argument(
            "--seconds-per-bar",
            type=int,
            default=None,
            help="bar length of bar records (default: inferred from the file)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        symbol = importing.get_symbol(options["symbol"])
        path = importing.existing_file(options["file"])
        chunk = options["chunk"]
        importing.positive(chunk, "--chunk")
        try:
            header = read_scid_header(path)
        except FeedFormatError as exc:
            raise importing.feed_error(exc) from None
        source = importing.source_key("scid", symbol, path)
        start = 0 if options["restart"] else importing.load_position(source) or 0
        if start > header.record_count:
            raise CommandError(
                f"the saved position (record {start}) is past the end of {path} "
                f"({header.record_count} records): the file was replaced or truncated; "
                "re-run with --restart"
            )
        if header.trailing_bytes:
            self.stderr.write(
                self.style.WARNING(
                    f"warning: {path} ends with a partial record ({header.trailing_bytes} "
                    "bytes); importing the complete records, the rest on a later run"
                )
            )
        seconds = options["seconds_per_bar"]
        if seconds is not None and not 1 <= seconds <= MAX_SECONDS_PER_BAR:
            raise CommandError(f"--seconds-per-bar must be 1..{MAX_SECONDS_PER_BAR}")
        if seconds is None:
            seconds = scid_infer_seconds_per_bar(path)

        totals = {"ticks": 0, "stored": 0, "duplicates": 0, "bars": 0}
        stop = start
        bar = importing.progress(
            self,
            disable=options["no_progress"],
            total=header.record_count,
            initial=start,
            unit="rec",
            desc=path.name,
        )
        with bar:
            try:
                for batch in iter_scid(
                    path, start_record=start, chunk_records=chunk, seconds_per_bar=seconds
                ):
                    self._store(symbol, source, batch, seconds, totals)
                    bar.update(batch.stop_record - batch.start_record)
                    stop = batch.stop_record
            except FeedFormatError as exc:
                raise importing.feed_error(
                    exc, "re-run with --restart if the file was replaced"
                ) from None
        first = "" if start == 0 else f" (resumed at record {start})"
        self.stdout.write(
            f"{path}: records {start}-{stop} of {header.record_count}{first} into "
            f"{symbol.symbol}: {totals['stored']} ticks stored, {totals['duplicates']} "
            f"already present; {totals['bars']} bars"
            + (f" of {label_for_seconds(seconds)}" if totals["bars"] else "")
        )

    def _store(self, symbol, source: str, batch, seconds: int | None, totals: dict) -> None:
        """One chunk, all-or-nothing: ticks, bars and the resume position."""
        n_bars = len(batch.bars["ts_ns"])
        if n_bars and seconds is None:
            raise CommandError(
                "the file has bar records but their length cannot be inferred (fewer than "
                "two distinct bars); pass --seconds-per-bar"
            )
        with db.atomic():
            if len(batch.ticks):
                try:
                    result = ingest_ticks(symbol, batch.ticks, publish=False)
                except InvalidRows as exc:
                    raise CommandError(
                        "invalid trade records, nothing from records "
                        f"{batch.start_record}-{batch.stop_record} was stored: "
                        + importing.explain_invalid(exc, lambda i: _record_of(batch.ticks, i))
                    ) from None
                totals["stored"] += result.stored
                totals["duplicates"] += result.duplicates
            if n_bars:
                try:
                    totals["bars"] += ingest_bar_columns(symbol, seconds, batch.bars)
                except InvalidRows as exc:
                    raise CommandError(
                        "invalid bar records, nothing from records "
                        f"{batch.start_record}-{batch.stop_record} was stored: "
                        + importing.explain_invalid(exc, lambda i: _bar_at(batch.bars, i))
                    ) from None
            importing.save_position(source, symbol.id, batch.stop_record)


def _record_of(ticks, index: int) -> str:
    """Trade ids are ``scid:<record>:<DateTime>``: name the record."""
    trade_id = str(ticks.trade_id[index])
    return f"record {trade_id.split(':')[-2]}" if trade_id.count(":") >= 2 else trade_id


def _bar_at(bars, index: int) -> str:
    start = datetime.fromtimestamp(int(bars["ts_ns"][index]) / 1e9, tz=UTC)
    return f"bar {start:%Y-%m-%d %H:%M:%S}Z"
