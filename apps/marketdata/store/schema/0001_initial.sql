-- TradeFlow market-data schema, version 1 (plain PostgreSQL; see timescale/ for hypertables).
-- symbol_id is Symbol.id from the ORM database; there is no cross-database foreign key.

-- Every trade. One unique index serves both range scans (symbol_id, ts) and idempotency:
-- a trade with the same id at the same time for the same symbol is stored once. Trades
-- without an id (NULL) are never deduplicated.
CREATE TABLE md_ticks (
    symbol_id integer NOT NULL,
    ts timestamptz NOT NULL,
    price double precision NOT NULL,
    size double precision NOT NULL,
    side smallint NOT NULL,              -- 1 = buy aggressor (ask volume), -1 = sell (bid volume)
    inferred boolean NOT NULL DEFAULT false,  -- side classified by the tick rule
    trade_id text
);
CREATE UNIQUE INDEX md_ticks_symbol_ts_id ON md_ticks (symbol_id, ts, trade_id);

-- OHLCV bars at a resolution of `res` seconds. res = 1 and the rollups (60, 3600) are
-- maintained by the store; Sierra Chart bars are stored at their own seconds_per_bar and
-- rolled up the same way. delta_high/delta_low are the highest/lowest running delta inside
-- the bar relative to its start (0 included): CVD candles and footprint bars need them.
CREATE TABLE md_bars (
    symbol_id integer NOT NULL,
    res integer NOT NULL,
    ts timestamptz NOT NULL,
    open double precision NOT NULL,
    high double precision NOT NULL,
    low double precision NOT NULL,
    close double precision NOT NULL,
    volume double precision NOT NULL,
    bid_volume double precision NOT NULL DEFAULT 0,
    ask_volume double precision NOT NULL DEFAULT 0,
    trades integer NOT NULL DEFAULT 0,
    delta_high double precision NOT NULL DEFAULT 0,
    delta_low double precision NOT NULL DEFAULT 0,
    open_interest double precision,
    PRIMARY KEY (symbol_id, res, ts)
);

-- Volume at price per one-minute bar, split by aggressor: the footprint, volume profile
-- and TPO queries aggregate these rows instead of the raw ticks.
CREATE TABLE md_footprint_1m (
    symbol_id integer NOT NULL,
    ts timestamptz NOT NULL,
    price double precision NOT NULL,
    bid_volume double precision NOT NULL,
    ask_volume double precision NOT NULL,
    trades integer NOT NULL,
    PRIMARY KEY (symbol_id, ts, price)
);

-- Resumable imports (.scid, CSV): how far each source file has been read.
CREATE TABLE md_import_state (
    source text PRIMARY KEY,
    symbol_id integer NOT NULL,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Which bar resolutions exist per symbol, so queries pick a source without scanning bars.
CREATE TABLE md_series (
    symbol_id integer NOT NULL,
    res integer NOT NULL,
    PRIMARY KEY (symbol_id, res)
);
