-- One narrow table for every metric. The primary key (metric, series, at_ms) is the index that
-- time-range queries of one metric walk in order; the at_ms index serves retention deletes.
-- Only types both SQLite and PostgreSQL understand, so one migration serves both.
CREATE TABLE IF NOT EXISTS history_samples (
    metric TEXT NOT NULL,
    series TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (metric, series, at_ms)
);
CREATE INDEX IF NOT EXISTS history_samples_at_ms ON history_samples (at_ms);
