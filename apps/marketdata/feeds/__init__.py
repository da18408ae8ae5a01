"""Feed readers: files and exchange streams -> TickBatches and bar batches.

Pure Python + numpy (no Django): the management commands (``import_scid``, ``import_csv``,
``replay``) and the live ingest workers wire these to ``marketdata`` ingest and the store.

* ``scid``: Sierra Chart ``.scid`` files, memory-mapped and read in record chunks
  (``read_scid``/``iter_scid``; resume from ``chunk.stop_record``).
* ``csvfiles``: trades and OHLCV CSV files in row chunks (``read_trades_csv``/
  ``read_bars_csv``; resume from ``chunk.stop``, a ``CsvPosition``).
* ``binance``: the Binance public trade stream (``BinanceTradeStream``).
* ``bars``: the bar batch shape (a dict of numpy columns, ``BAR_FIELDS``).

Every reader raises ``FeedFormatError`` (a ``ValueError``) for bad input.
"""

from .bars import (
    BAR_FIELDS,
    BarBatch,
    bar_batch_len,
    empty_bar_batch,
    infer_seconds_per_bar,
    make_bar_batch,
    merge_bars,
    take_bars,
)
from .binance import (
    DEFAULT_URL as BINANCE_DEFAULT_URL,
)
from .binance import (
    BinanceTrade,
    BinanceTradeStream,
    StreamStats,
    parse_trade_message,
)
from .csvfiles import (
    SIDE_MAPS,
    TRADES_PRESETS,
    BarsCsvChunk,
    BarsCsvFormat,
    CsvPosition,
    TradesCsvChunk,
    TradesCsvFormat,
    detect_bars_format,
    detect_trades_format,
    read_bars_csv,
    read_csv_header,
    read_trades_csv,
)
from .errors import FeedFormatError
from .scid import (
    SCID_RECORD_DTYPE,
    ScidBatch,
    ScidChunk,
    ScidHeader,
    infer_scid_seconds_per_bar,
    iter_scid,
    read_scid,
    read_scid_header,
    scid_infer_seconds_per_bar,
    scid_records,
    scid_records_to_bars,
    scid_records_to_ticks,
    scid_trade_mask,
    write_scid,
)
from .timeparse import TS_FORMATS, localize_ns, parse_timestamps

__all__ = [
    "BAR_FIELDS",
    "BINANCE_DEFAULT_URL",
    "SCID_RECORD_DTYPE",
    "SIDE_MAPS",
    "TRADES_PRESETS",
    "TS_FORMATS",
    "BarBatch",
    "BarsCsvChunk",
    "BarsCsvFormat",
    "BinanceTrade",
    "BinanceTradeStream",
    "CsvPosition",
    "FeedFormatError",
    "ScidBatch",
    "ScidChunk",
    "ScidHeader",
    "StreamStats",
    "TradesCsvChunk",
    "TradesCsvFormat",
    "bar_batch_len",
    "detect_bars_format",
    "detect_trades_format",
    "empty_bar_batch",
    "infer_scid_seconds_per_bar",
    "infer_seconds_per_bar",
    "iter_scid",
    "localize_ns",
    "make_bar_batch",
    "merge_bars",
    "parse_timestamps",
    "parse_trade_message",
    "read_bars_csv",
    "read_csv_header",
    "read_scid",
    "read_scid_header",
    "read_trades_csv",
    "scid_infer_seconds_per_bar",
    "scid_records",
    "scid_records_to_bars",
    "scid_records_to_ticks",
    "scid_trade_mask",
    "take_bars",
    "write_scid",
]
