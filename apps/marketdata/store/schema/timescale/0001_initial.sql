-- Applied after the native 0001 only where the timescaledb extension is available.
CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable('md_ticks', 'ts', chunk_time_interval => interval '1 day', migrate_data => true);
SELECT create_hypertable('md_footprint_1m', 'ts', chunk_time_interval => interval '7 days', migrate_data => true);
ALTER TABLE md_ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol_id',
                          timescaledb.compress_orderby = 'ts');
SELECT add_compression_policy('md_ticks', interval '7 days');
