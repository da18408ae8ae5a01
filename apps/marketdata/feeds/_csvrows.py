"""The CSV row engine behind ``csvfiles``: chunks of rows as numpy string columns.

A chunk is ``chunk_rows`` physical lines taken from the file at once. Three ways to split
it, fastest first, all with the ``csv`` module's semantics:

* no quote, no stray ``\\r``, no blank line and the same number of delimiters on every
  line: delimiter and newline positions are found with numpy and only the columns a
  reader asks for are cut out of the byte buffer (several million rows/s);
* no quote: the C ``csv`` reader over the decoded lines;
* a quote somewhere: line by line, letting the ``csv`` reader pull the rest of a quoted
  field that spans lines from the file.

Every chunk knows its ``CsvPosition`` range and the physical line of each row (for error
messages).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

import numpy as np

from .errors import FeedFormatError
from .timeparse import BadValue

_BUFFER_ENCODINGS = {"utf-8", "ascii", "latin-1", "iso8859-1", "cp1252"}


class CsvPosition(NamedTuple):
    """Where a chunk starts/stops: data ``row`` index (header excluded), ``byte`` offset of
    the next unread line, and ``line`` = physical lines consumed (the header is line 1).
    Save ``chunk.stop`` (three ints; JSON as a list) and pass it back as ``start=``."""

    row: int
    byte: int
    line: int


def open_binary(path) -> io.BufferedIOBase:
    if str(path).endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_header(path, delimiter: str = ",") -> list[str]:
    with open_binary(path) as fh:
        raw = fh.readline()
    if not raw.strip():
        raise FeedFormatError("empty file: no header row", path=path, line=1)
    text = raw.decode("utf-8-sig", errors="replace")
    return [name.strip() for name in next(csv.reader([text], delimiter=delimiter), [])]


class Columns:
    """Header name -> field index; remembers how many fields the used columns need."""

    def __init__(self, header: list[str], path):
        self.header = header
        self.path = path
        self.width = 0

    def index(self, name: str) -> int:
        if name in self.header:
            i = self.header.index(name)
        else:
            lowered = [h.lower() for h in self.header]
            if name.lower() not in lowered:
                raise FeedFormatError(
                    f"missing column {name!r}; the header has: "
                    + ", ".join(map(repr, self.header)),
                    path=self.path,
                    line=1,
                    column=name,
                )
            i = lowered.index(name.lower())
        self.width = max(self.width, i + 1)
        return i


# ---------------------------------------------------------------------------- fields


def _to_str(values: np.ndarray, encoding: str) -> np.ndarray:
    try:
        return values.astype(np.str_)  # ASCII, in C
    except UnicodeDecodeError:
        return np.strings.decode(values, encoding, errors="replace")


class _ListFields:
    """Rows as lists of str (from the csv module)."""

    def __init__(self, rows: list[list[str]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, i: int) -> np.ndarray:
        if not self.rows:
            return np.zeros(0, dtype="U1")
        return np.array(list(map(itemgetter(i), self.rows)), dtype=np.str_)

    def take(self, mask: np.ndarray) -> _ListFields:
        return _ListFields(list(itertools.compress(self.rows, mask.tolist())))


class _BufferFields:
    """Rows as field start/end offsets into one byte buffer (from the numpy splitter)."""

    def __init__(self, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, encoding: str):
        self.buf, self.starts, self.ends, self.encoding = buf, starts, ends, encoding

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    def column(self, i: int) -> np.ndarray:
        start = self.starts[:, i]
        length = self.ends[:, i] - start
        width = int(length.max()) if length.size else 0
        if width == 0:
            return np.full(length.size, "", dtype="U1")
        offsets = np.arange(width)
        index = np.minimum(start[:, None] + offsets, self.buf.size - 1)
        cells = np.where(offsets < length[:, None], self.buf[index], 0).astype(np.uint8)
        return _to_str(cells.view(f"S{width}").ravel(), self.encoding)

    def take(self, mask: np.ndarray) -> _BufferFields:
        return _BufferFields(self.buf, self.starts[mask], self.ends[mask], self.encoding)


def _split_buffer(block: bytes, delimiter: str, width: int, encoding: str):
    """Numpy split of quote-free lines; None when the block needs the csv module."""
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n")
        if b"\r" in block:
            return None
    buf = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    if buf[-1] != 10:
        newlines = np.append(newlines, buf.size)
    n = newlines.size
    line_starts = np.r_[0, newlines[:-1] + 1]
    if (newlines == line_starts).any():  # blank line
        return None
    delims = np.flatnonzero(buf == ord(delimiter))
    per_line, rest = divmod(delims.size, n)
    if rest or per_line + 1 < width:
        return None
    before_each_newline = np.searchsorted(delims, newlines)
    if (np.diff(before_each_newline, prepend=0) != per_line).any():
        return None
    delims = delims.reshape(n, per_line)
    starts = np.column_stack([line_starts, delims + 1])
    ends = np.column_stack([delims, newlines])
    return _BufferFields(buf, starts, ends, encoding)


# ---------------------------------------------------------------------------- rows


class Rows:
    """The rows of one chunk (after any symbol filter) and their physical line numbers."""

    def __init__(self, fields, lines: np.ndarray, path):
        self.fields = fields
        self.lines = lines
        self.path = path

    def __len__(self) -> int:
        return len(self.fields)

    def column(self, index: int | Sequence[int]) -> np.ndarray:
        """One column as a numpy str array; several are joined with a space."""
        if isinstance(index, int):
            return self.fields.column(index)
        out = np.strings.strip(self.fields.column(index[0]))
        for i in index[1:]:
            out = np.strings.add(np.strings.add(out, " "), np.strings.strip(self.fields.column(i)))
        return out

    def parse(self, index, name: str, convert: Callable[[np.ndarray], np.ndarray]):
        try:
            return convert(self.column(index))
        except BadValue as bad:
            raise FeedFormatError(
                bad.message(name), path=self.path, line=int(self.lines[bad.index]), column=name
            ) from None

    def ids(self, indexes: Sequence[int]) -> np.ndarray:
        """Trade ids: the columns joined with ``-``; empty -> None."""
        n = len(self)
        if not indexes or n == 0:
            return np.full(n, None, dtype=object)
        text = np.strings.strip(self.column(indexes[0]))
        for i in indexes[1:]:
            text = np.strings.add(np.strings.add(text, "-"), np.strings.strip(self.column(i)))
        ids = text.astype(object)
        ids[text == ""] = None
        return ids

    def take(self, mask: np.ndarray) -> Rows:
        return Rows(self.fields.take(mask), self.lines[mask], self.path)


@dataclass
class RawChunk:
    rows: Rows
    start: CsvPosition
    stop: CsvPosition

    def filter_symbol(self, sym_i: int | None, symbol: str | None):
        """(rows, symbols): keep ``symbol``'s rows when the file has a symbol column."""
        if sym_i is None:
            return self.rows, None
        text = np.strings.strip(self.rows.column(sym_i))
        if symbol is None:
            return self.rows, text.astype(object)
        keep = np.strings.upper(text) == symbol.strip().upper()
        if keep.all():
            return self.rows, text.astype(object)
        return self.rows.take(keep), text[keep].astype(object)


# ---------------------------------------------------------------------------- reading


def _coerce_start(start) -> CsvPosition | int:
    if start is None:
        return 0
    if isinstance(start, CsvPosition):
        return start
    if isinstance(start, int | np.integer):
        if start < 0:
            raise ValueError("start row must be >= 0")
        return int(start)
    row, byte, line = (int(v) for v in start)
    return CsvPosition(row, byte, line)


def iter_raw_chunks(path, start, chunk_rows: int, delimiter: str, encoding: str, width: int):
    """Yield ``RawChunk``s of at most ``chunk_rows`` non-blank rows from ``start``
    (a ``CsvPosition`` to seek to, or a data-row index to skip to)."""
    if chunk_rows <= 0:
        raise ValueError("chunk_rows must be positive")
    if len(delimiter) != 1:
        raise ValueError("delimiter must be one character")
    use_buffer = ord(delimiter) < 128 and codecs.lookup(encoding).name in _BUFFER_ENCODINGS
    start = _coerce_start(start)
    with open_binary(path) as fh:
        header_bytes = len(fh.readline())
        src = _LineSource(fh, header_bytes, 1, encoding)
        row = 0
        if isinstance(start, CsvPosition):
            if start.byte < header_bytes:
                raise FeedFormatError(f"resume offset {start.byte} is inside the header", path=path)
            if start.byte > header_bytes:
                fh.seek(start.byte - 1)
                if fh.read(1) != b"\n":
                    raise FeedFormatError(
                        f"resume offset {start.byte} is not at the start of a line "
                        "(was the file changed since the offset was saved?)",
                        path=path,
                    )
            fh.seek(start.byte)
            src = _LineSource(fh, start.byte, start.line, encoding)
            row = start.row
        try:
            if isinstance(start, int) and start:
                reader = csv.reader(src.lines(), delimiter=delimiter)
                skipped = sum(1 for _ in itertools.islice(filter(None, reader), start))
                if skipped < start:
                    raise FeedFormatError(
                        f"start row {start} is past the end of the file ({skipped} data rows)",
                        path=path,
                    )
                row = start
            while True:
                begin = CsvPosition(row, src.byte, src.line)
                raw = list(itertools.islice(fh, chunk_rows))
                if not raw:
                    return
                block = b"".join(raw)
                fields = None
                if b'"' in block:
                    rows, lines = src.reparse(raw, delimiter)
                else:
                    lines = np.arange(src.line + 1, src.line + 1 + len(raw), dtype=np.int64)
                    if use_buffer:
                        fields = _split_buffer(block, delimiter, width, encoding)
                    if fields is None:
                        text = src.decode(block)
                        parts = text.split("\n")
                        if text.endswith("\n"):
                            parts.pop()
                        rows = list(csv.reader(parts, delimiter=delimiter))
                    src.byte += len(block)
                    src.line += len(raw)
                if fields is None:
                    if not all(rows):  # blank lines
                        keep = [bool(r) for r in rows]
                        rows = list(itertools.compress(rows, keep))
                        lines = lines[np.array(keep, dtype=bool)]
                    if not rows:
                        continue
                    _check_width(rows, lines, width, path)
                    fields = _ListFields(rows)
                row += len(fields)
                yield RawChunk(
                    Rows(fields, lines, path), begin, CsvPosition(row, src.byte, src.line)
                )
        except csv.Error as exc:
            raise FeedFormatError(f"malformed CSV: {exc}", path=path, line=src.line) from None
        except UnicodeDecodeError as exc:
            raise FeedFormatError(
                f"not {encoding} text: {exc.reason}", path=path, line=src.error_line
            ) from None


class _LineSource:
    """Byte offset and physical line count of what has been consumed from ``fh``."""

    def __init__(self, fh, byte: int, line: int, encoding: str):
        self.fh = fh
        self.byte = byte
        self.line = line
        self.encoding = encoding
        self.error_line = line

    def decode(self, block: bytes) -> str:
        try:
            return block.decode(self.encoding)
        except UnicodeDecodeError as exc:
            self.error_line = self.line + 1 + block.count(b"\n", 0, exc.start)
            raise

    def _decode_line(self, raw: bytes) -> str:
        self.byte += len(raw)
        self.line += 1
        self.error_line = self.line
        return raw.decode(self.encoding)

    def lines(self):
        for raw in self.fh:
            yield self._decode_line(raw)

    def reparse(self, raw: list[bytes], delimiter: str):
        """Parse ``raw`` line by line; a quoted field open at its end continues in the file."""
        pending = iter(raw)
        taken = [0]

        def source():
            for item in pending:
                taken[0] += 1
                yield self._decode_line(item)
            yield from self.lines()

        rows, lines = [], []
        reader = csv.reader(source(), delimiter=delimiter)
        while taken[0] < len(raw):
            fields = next(reader, None)
            if fields is None:
                break
            rows.append(fields)
            lines.append(self.line)
        return rows, np.array(lines, dtype=np.int64)


def _check_width(rows: list[list[str]], lines: np.ndarray, width: int, path) -> None:
    if min(map(len, rows)) >= width:
        return
    for fields, line in zip(rows, lines, strict=True):
        if len(fields) < width:
            raise FeedFormatError(
                f"row has {len(fields)} fields, expected at least {width} (missing column)",
                path=path,
                line=int(line),
            )
