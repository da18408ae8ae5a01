"""Glue shared by the feed management commands (``import_scid``, ``import_csv``, ``replay``,
``feed``): symbols, resume positions, trade-file iteration, error messages, progress bars.

Unlike the readers in this package (pure Python + numpy), this module talks to Django and
the market-data store: it is the command side of the feeds, kept in one place so the four
commands resolve symbols, save positions and explain bad rows the same way.

Decisions that the commands rely on:

* Resume positions live in ``md_import_state`` (one ``bigint`` per source). A ``.scid``
  import saves the next record index; a CSV import saves the byte offset of the next unread
  line. The reader's ``CsvPosition`` also carries a data-row index and a line number; on
  resume the line is recounted from the bytes (one fast pass over the already-imported
  part) so error messages keep naming real lines, and the row index is approximated as
  ``line - 1`` (it only feeds progress output).
* Trades without an id are never deduplicated by the store, so CSV trades whose id
  column is missing or empty get ``csv:L<line>``: the physical line of the row in the file.
  The line is a property of the file (not of the chunk size, the symbol filter or where a
  resumed run started), so re-imports and keep-time replays of the same file stay
  idempotent, and an import and a replay of one file agree on ids.
* Files are read unfiltered and the ``--filter-symbol`` selection happens here, so every
  row's position in the file is known (for ids and for error lines).
"""

from __future__ import annotations

import csv
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from django.core.management.base import CommandError
from django.db import connections
from tqdm import tqdm

from apps.marketdata.ingest.errors import InvalidRows
from apps.marketdata.selectors import symbol_get
from apps.marketdata.store import db, sql
from apps.marketdata.ticks import TickBatch

from ._csvrows import CsvPosition, open_binary
from .bars import BAR_FIELDS, BarBatch, take_bars
from .csvfiles import TradesCsvFormat, read_trades_csv
from .errors import FeedFormatError

REPORTED_ERRORS = 5  # rows named in a CommandError; the rest are counted
LINE_ID_PREFIX = "csv:L"

# ---------------------------------------------------------------------------- inputs


def get_symbol(code: str, *, option: str = "--symbol"):
    """The Symbol for ``CODE`` or ``CODE:EXCHANGE``; ``CommandError`` when unknown."""
    symbol = symbol_get(code)
    if symbol is None:
        raise CommandError(
            f"unknown symbol {code!r} ({option}); create it first with "
            "'manage.py symbol add CODE --exchange ... --asset-type ... --tick-size ...'"
        )
    return symbol


def existing_file(path: str) -> Path:
    """The absolute path of a readable regular file, or ``CommandError``."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.exists():
        raise CommandError(f"no such file: {path}")
    if not resolved.is_file():
        raise CommandError(f"not a regular file: {path}")
    if not os.access(resolved, os.R_OK):
        raise CommandError(f"cannot read {path}: permission denied")
    return resolved


def positive(value: int | float, option: str) -> None:
    if value <= 0:
        raise CommandError(f"{option} must be positive, got {value}")


# ---------------------------------------------------------------------------- state


def source_key(kind: str, symbol, path: Path, *extra: str) -> str:
    """``md_import_state.source`` of one import: what is read, from where, into which
    symbol. The same file imported into two symbols (or with two symbol filters) keeps two
    positions."""
    parts = [kind, f"{symbol.symbol}@{symbol.exchange}", *extra, str(path)]
    return "|".join(parts)


def load_position(source: str) -> int | None:
    with db.connection().cursor() as cursor:
        cursor.execute(sql.IMPORT_STATE_GET, {"source": source})
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def save_position(source: str, symbol_id: int, position: int) -> None:
    """Call inside the chunk's ``db.atomic()`` so data and position commit together."""
    with db.connection().cursor() as cursor:
        cursor.execute(
            sql.IMPORT_STATE_SET,
            {"source": source, "symbol_id": symbol_id, "position": int(position)},
        )


def csv_resume_start(path: Path, byte: int) -> CsvPosition:
    """A ``CsvPosition`` for a saved byte offset: the line is recounted from the file (the
    header is line 1); the data-row index is approximated as ``line - 1``."""
    if not str(path).endswith(".gz"):
        size = path.stat().st_size
        if byte > size:
            raise CommandError(
                f"the saved position (byte {byte}) is past the end of {path} ({size} bytes): "
                "the file was replaced or truncated; re-run with --restart"
            )
    newlines = 0
    with open_binary(path) as fh:
        left = byte
        while left > 0:
            block = fh.read(min(left, 1 << 20))
            if not block:
                break
            newlines += block.count(b"\n")
            left -= len(block)
    line = max(1, newlines)
    return CsvPosition(line - 1, byte, line)


# ---------------------------------------------------------------------------- CSV trades


def scan_row_lines(
    path: Path, start: CsvPosition, count: int, delimiter: str = ",", encoding: str = "utf-8"
) -> np.ndarray:
    """Physical line of each of the ``count`` data rows after ``start``, with the ``csv``
    module's rules (blank lines skipped; a row spanning lines reports its last line, as
    the reader does). Only needed for chunks that are not one row per line."""
    out: list[int] = []
    with open_binary(path) as fh:
        fh.seek(start.byte)
        reader = csv.reader((raw.decode(encoding) for raw in fh), delimiter=delimiter)
        for row in reader:
            if not row:
                continue
            out.append(start.line + reader.line_num)
            if len(out) == count:
                break
    return np.array(out, dtype=np.int64)


class SymbolFilter:
    """Selects one instrument's rows of a file with a symbol column (``--filter-symbol``);
    without a filter it refuses files that mix instruments, which would otherwise be
    imported into one symbol."""

    def __init__(self, path: Path, wanted: str | None):
        self.path = path
        self.wanted = wanted.strip().upper() if wanted else None
        self.seen: str | None = None

    def mask(self, symbols: np.ndarray | None, n: int) -> np.ndarray | None:
        """Rows to keep (``None`` = all)."""
        if symbols is None:
            if self.wanted:
                raise CommandError(
                    f"{self.path} has no symbol column, so --filter-symbol {self.wanted} "
                    "cannot select rows (name the column with --symbol-column)"
                )
            return None
        upper = np.strings.upper(np.asarray(symbols, dtype=str)) if n else np.array([], str)
        if self.wanted:
            return upper == self.wanted
        found = set(np.unique(upper).tolist()) | ({self.seen} if self.seen else set())
        if len(found) > 1:
            raise CommandError(
                f"{self.path} holds several instruments ({', '.join(sorted(found))}); "
                "choose one with --filter-symbol"
            )
        if found:
            self.seen = found.pop()
        return None


@dataclass
class TradeChunk:
    """One chunk of a trades file after the symbol filter, ids filled."""

    ticks: TickBatch
    start: CsvPosition
    stop: CsvPosition
    rows_read: int
    _lines: Callable[[], np.ndarray]

    @cached_property
    def lines(self) -> np.ndarray:
        """Physical line of each row of ``ticks``."""
        return self._lines()


def iter_trades_file(
    path: Path,
    fmt: TradesCsvFormat | str,
    *,
    chunk_rows: int,
    start: CsvPosition | None = None,
    filter_symbol: str | None = None,
    tz: str = "UTC",
    delimiter: str = ",",
) -> Iterator[TradeChunk]:
    """``read_trades_csv`` plus the symbol filter and ``csv:L<line>`` ids for rows without
    one. ``FeedFormatError`` propagates (it names the file and line)."""
    symbols = SymbolFilter(path, filter_symbol)
    for chunk in read_trades_csv(
        path, fmt, chunk_rows=chunk_rows, start=start, tz=tz, delimiter=delimiter
    ):
        n = len(chunk.ticks)
        all_lines = lazy_lines(path, chunk.start, chunk.stop, n, delimiter)
        keep = symbols.mask(chunk.symbols, n)
        ticks = chunk.ticks if keep is None else chunk.ticks.take(keep)

        def lines(all_lines=all_lines, keep=keep):
            return all_lines() if keep is None else all_lines()[keep]

        missing = np.fromiter((v is None for v in ticks.trade_id), dtype=bool, count=len(ticks))
        if missing.any():
            ids = ticks.trade_id.copy()
            ids[missing] = [f"{LINE_ID_PREFIX}{line}" for line in lines()[missing].tolist()]
            ticks = TickBatch(ticks.ts_ns, ticks.price, ticks.size, ticks.side, ids)
        yield TradeChunk(ticks, chunk.start, chunk.stop, n, lines)


def lazy_lines(path, start: CsvPosition, stop: CsvPosition, n: int, delimiter: str):
    """Line numbers of a chunk's rows, computed once on first use."""
    cache: list[np.ndarray] = []

    def compute() -> np.ndarray:
        if not cache:
            if stop.line - start.line == n:  # one row per line: no scan needed
                cache.append(np.arange(start.line + 1, start.line + 1 + n, dtype=np.int64))
            else:
                cache.append(scan_row_lines(path, start, n, delimiter))
        return cache[0]

    return compute


# ---------------------------------------------------------------------------- bars


def keep_last_per_bar(bars: BarBatch, res: int) -> tuple[BarBatch, np.ndarray]:
    """Bars of one resolution ready for the store: intraday starts floored to UTC
    multiples of ``res`` (the store's alignment), one row per bar with the later row of a
    repeated bar winning (SPEC: duplicate keys in one batch, the later one wins; the
    store's upsert cannot take two rows for one key). Daily and longer bars keep their
    timestamps (a session or local-midnight start is not a UTC multiple). Returns the bars
    and, for each, its row in the input (to name the line of an invalid bar)."""
    ts = np.asarray(bars["ts_ns"], dtype=np.int64)
    if res < 86_400:
        step = np.int64(res) * np.int64(1_000_000_000)
        ts = (ts // step) * step
    if ts.size == 0:
        return dict(bars), np.arange(0)
    # np.unique sorts by time; on the reversed column it finds each bar's last row
    _, last_in_reversed = np.unique(ts[::-1], return_index=True)
    order = ts.size - 1 - last_in_reversed
    out = take_bars(bars, order)
    out["ts_ns"] = ts[order]
    return {name: out[name] for name in BAR_FIELDS}, order


# ---------------------------------------------------------------------------- errors


def explain_invalid(exc: InvalidRows, where: Callable[[int], str]) -> str:
    """``where(index)`` names a row (``file: line 7``); a few rows are listed."""
    shown = [f"{where(e.index)}: {e.field}: {e.message}" for e in exc.errors[:REPORTED_ERRORS]]
    more = len(exc.errors) - len(shown)
    return "; ".join(shown) + (f"; and {more} more problem(s)" if more > 0 else "")


def feed_error(exc: FeedFormatError, hint: str = "") -> CommandError:
    return CommandError(str(exc) + (f" ({hint})" if hint else ""))


def drop_rows(batch: TickBatch, indexes) -> TickBatch:
    keep = np.ones(len(batch), dtype=bool)
    keep[np.asarray(list(indexes), dtype=np.int64)] = False
    return batch.take(keep)


# ---------------------------------------------------------------------------- process


def progress(command, *, disable: bool, **kwargs) -> tqdm:
    """A tqdm bar on the command's stderr stream (unwrapped: Django's ``OutputWrapper``
    would append a newline to every carriage-return update)."""
    stream = getattr(command.stderr, "_out", sys.stderr)
    return tqdm(file=stream, disable=disable, mininterval=0.5, dynamic_ncols=True, **kwargs)


@contextmanager
def stop_on_signals(callback: Callable[[], None]):
    """Call ``callback`` on SIGINT/SIGTERM (a clean stop: the current batch is finished,
    positions saved, broadcasts flushed) and restore the previous handlers afterwards.
    Signals can only be handled on the main thread; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.getsignal(number)
        signal.signal(number, lambda *_: callback())
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def close_connections() -> None:
    """Close this thread's database connections at the end of a long-running command.
    A connection inside an atomic block (a caller's transaction, e.g. a test's) is left
    alone: closing it would break that transaction."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()
