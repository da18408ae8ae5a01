-- md_write_bar: a bar that comes after every stored bar of its resolution in its coarsest
-- rollup bucket (what a live Sierra Chart chart sends: the next bar) is merged into its
-- rollup rows instead of rebuilding them from their source rows. Rebuilding the minute
-- from up to 60 seconds and the hour from up to 60 minutes was two thirds of the
-- function's time; the merge is one upsert per level.
--
-- The merge of bar b into the row r of a bucket it ends: high and low widen, close and
-- open interest become b's, volumes and trades add up, and the delta extremes take b's
-- own extremes on top of the running delta before it, which is r's ask - bid volume (b is
-- the last sub-bar). A bucket without a row yet starts as b. At every level this equals
-- what md_rollup_bars rebuilds from the source rows, as long as each rollup row holds the
-- aggregate of its source rows, which the store keeps so: every write goes through a
-- rollup. (Sums can differ in the last bit from a rebuild, which adds in another order.)
--
-- Anything else (a bar sent again, one older than a stored bar of its bucket) rebuilds
-- as before.
CREATE OR REPLACE FUNCTION md_write_bar(
    p_symbol integer, p_res integer, p_ts timestamptz,
    p_open double precision, p_high double precision, p_low double precision,
    p_close double precision, p_volume double precision, p_bid_volume double precision,
    p_ask_volume double precision, p_trades integer, p_open_interest double precision,
    p_levels integer[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    origin constant timestamptz := timestamptz '1970-01-01 00:00:00+00';
    src integer := p_res;
    dst integer;
    levels integer[] := '{}';
    appended boolean;
    delta_high double precision := greatest(0, p_ask_volume - p_bid_volume);
    delta_low double precision := least(0, p_ask_volume - p_bid_volume);
BEGIN
    PERFORM pg_advisory_xact_lock(7437, p_symbol);
    FOREACH dst IN ARRAY p_levels LOOP
        CONTINUE WHEN dst <= src OR dst % src <> 0;
        levels := levels || dst;
        src := dst;
    END LOOP;
    -- no stored bar of its resolution at or after it, up to the end of its last bucket
    appended := cardinality(levels) > 0 AND NOT EXISTS (
        SELECT 1 FROM md_bars
        WHERE symbol_id = p_symbol AND res = p_res AND ts >= p_ts
          AND ts < date_bin(make_interval(secs => levels[cardinality(levels)]), p_ts, origin)
                   + make_interval(secs => levels[cardinality(levels)]));
    PERFORM md_put_bar(p_symbol, p_res, p_ts, p_open, p_high, p_low, p_close, p_volume,
                       p_bid_volume, p_ask_volume, p_trades, delta_high, delta_low,
                       p_open_interest);
    INSERT INTO md_series (symbol_id, res) VALUES (p_symbol, p_res) ON CONFLICT DO NOTHING;
    src := p_res;
    FOREACH dst IN ARRAY levels LOOP
        IF appended THEN
            INSERT INTO md_bars AS r (symbol_id, res, ts, open, high, low, close, volume,
                                      bid_volume, ask_volume, trades, delta_high, delta_low,
                                      open_interest)
            VALUES (p_symbol, dst, date_bin(make_interval(secs => dst), p_ts, origin), p_open,
                    p_high, p_low, p_close, p_volume, p_bid_volume, p_ask_volume, p_trades,
                    delta_high, delta_low, p_open_interest)
            ON CONFLICT (symbol_id, res, ts) DO UPDATE SET
                high = greatest(r.high, EXCLUDED.high), low = least(r.low, EXCLUDED.low),
                close = EXCLUDED.close, volume = r.volume + EXCLUDED.volume,
                bid_volume = r.bid_volume + EXCLUDED.bid_volume,
                ask_volume = r.ask_volume + EXCLUDED.ask_volume,
                trades = r.trades + EXCLUDED.trades,
                delta_high = greatest(r.delta_high,
                                      r.ask_volume - r.bid_volume + EXCLUDED.delta_high),
                delta_low = least(r.delta_low, r.ask_volume - r.bid_volume + EXCLUDED.delta_low),
                open_interest = EXCLUDED.open_interest;
        ELSE
            PERFORM md_rollup_bars(p_symbol, src, dst,
                                   date_bin(make_interval(secs => dst), p_ts, origin));
        END IF;
        INSERT INTO md_series (symbol_id, res) VALUES (p_symbol, dst) ON CONFLICT DO NOTHING;
        src := dst;
    END LOOP;
END
$$;
