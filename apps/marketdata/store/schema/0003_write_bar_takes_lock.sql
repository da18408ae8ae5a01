-- md_write_bar takes the symbol's write lock itself (the advisory lock of store/sql.py
-- LOCK_SYMBOL: key 7437, symbol id), so a single Sierra Chart bar is one statement:
-- it can be sent with server-side parameters and prepared once per connection
-- (store/writes.py write_bars), where the lock and the call used to go as a two-statement
-- query parsed and planned on every bar. The lock is transaction-scoped as before: held
-- until the bar, its series and its rollups commit or roll back together.
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
    PERFORM pg_advisory_xact_lock(7437, p_symbol);
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
