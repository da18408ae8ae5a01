"""TradeFlow benchmarks: ``make bench`` (``python -m benchmarks``). See README."""
