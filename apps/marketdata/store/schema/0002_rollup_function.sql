-- Per-bar write functions, in PL/pgSQL so each statement is planned once per connection,
-- not per call: a single Sierra Chart bar does two rollups, and planning them cost more
-- than running them.

-- md_put_bar: upsert one bar (last write wins). The one bar upsert of both functions below.
CREATE OR REPLACE FUNCTION md_put_bar(
    p_symbol integer, p_res integer, p_ts timestamptz,
    p_open double precision, p_high double precision, p_low double precision,
    p_close double precision, p_volume double precision, p_bid_volume double precision,
    p_ask_volume double precision, p_trades integer, p_delta_high double precision,
    p_delta_low double precision, p_open_interest double precision
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO md_bars (symbol_id, res, ts, open, high, low, close, volume, bid_volume,
                         ask_volume, trades, delta_high, delta_low, open_interest)
    VALUES (p_symbol, p_res, p_ts, p_open, p_high, p_low, p_close, p_volume, p_bid_volume,
            p_ask_volume, p_trades, p_delta_high, p_delta_low, p_open_interest)
    ON CONFLICT (symbol_id, res, ts) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
        close = EXCLUDED.close, volume = EXCLUDED.volume, bid_volume = EXCLUDED.bid_volume,
        ask_volume = EXCLUDED.ask_volume, trades = EXCLUDED.trades,
        delta_high = EXCLUDED.delta_high, delta_low = EXCLUDED.delta_low,
        open_interest = EXCLUDED.open_interest;
END
$$;

-- md_rollup_bars: rebuild the bar of `p_dst` seconds starting at `p_bucket` from the
-- stored bars of `p_src` seconds inside it (OHLCV, bid/ask volume, trades, open interest,
-- and delta extremes combined as max/min of the running delta before each sub-bar plus
-- its own extreme). Every bar rollup uses it (store/sql.py ROLLUP_BARS, ROLLUP_BARS_FOR).
-- The source rows are read by an index range scan on (symbol_id, res, ts), whatever the
-- statistics say.
CREATE OR REPLACE FUNCTION md_rollup_bars(
    p_symbol integer, p_src integer, p_dst integer, p_bucket timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT count(*) AS n,
           (array_agg(s.open ORDER BY s.ts))[1] AS open, max(s.high) AS high,
           min(s.low) AS low, (array_agg(s.close ORDER BY s.ts DESC))[1] AS close,
           sum(s.volume) AS volume, sum(s.bid_volume) AS bid_volume,
           sum(s.ask_volume) AS ask_volume, sum(s.trades) AS trades,
           greatest(0, max(s.before + s.delta_high)) AS delta_high,
           least(0, min(s.before + s.delta_low)) AS delta_low,
           (array_agg(s.open_interest ORDER BY s.ts DESC))[1] AS open_interest
    INTO r
    FROM (
        SELECT b.*,
               coalesce(sum(b.ask_volume - b.bid_volume) OVER (
                   ORDER BY b.ts ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                   AS before
        FROM md_bars b
        WHERE b.symbol_id = p_symbol AND b.res = p_src
          AND b.ts >= p_bucket AND b.ts < p_bucket + make_interval(secs => p_dst)
    ) s;
    IF r.n > 0 THEN
        PERFORM md_put_bar(p_symbol, p_dst, p_bucket, r.open, r.high, r.low, r.close,
                           r.volume, r.bid_volume, r.ask_volume, r.trades::integer,
                           r.delta_high, r.delta_low, r.open_interest);
    END IF;
END
$$;

-- md_write_bar: one bar of `p_res` seconds (a Sierra Chart single-bar POST), last write
-- wins, then its series registered and its buckets rolled up through every level of
-- `p_levels` that `p_res` divides (store/writes.py ROLLUPS). The caller holds the
-- symbol's write lock (store/sql.py LOCK_SYMBOL) in the same transaction.
CREATE OR REPLACE FUNCTION md_write_bar(
    p_symbol integer, p_res integer, p_ts timestamptz,
    p_open double precision, p_high double precision, p_low double precision,
    p_close double precision, p_volume double precision, p_bid_volume double precision,
    p_ask_volume double precision, p_trades integer, p_open_interest double precision,
    p_levels integer[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    src integer := p_res;
    dst integer;
BEGIN
    PERFORM md_put_bar(p_symbol, p_res, p_ts, p_open, p_high, p_low, p_close, p_volume,
                       p_bid_volume, p_ask_volume, p_trades,
                       greatest(0, p_ask_volume - p_bid_volume),
                       least(0, p_ask_volume - p_bid_volume), p_open_interest);
    INSERT INTO md_series (symbol_id, res) VALUES (p_symbol, p_res) ON CONFLICT DO NOTHING;
    FOREACH dst IN ARRAY p_levels LOOP
        CONTINUE WHEN dst <= src OR dst % src <> 0;
        PERFORM md_rollup_bars(p_symbol, src, dst, date_bin(make_interval(secs => dst), p_ts,
                                                            timestamptz '1970-01-01 00:00:00+00'));
        INSERT INTO md_series (symbol_id, res) VALUES (p_symbol, dst) ON CONFLICT DO NOTHING;
        src := dst;
    END LOOP;
END
$$;
