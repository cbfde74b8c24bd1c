-- Snowflake worker ids (10 bits: 0..1023), leased so that no two live processes share one: two
-- processes with the same worker id can issue the same event id in the same millisecond, and
-- JetStream would drop the second event as a duplicate of the first. A process claims a free
-- row (expired, longest first) at start, renews it while it runs and releases it on exit; a
-- crashed holder's row becomes free when it expires. One row per id, so a claim is a
-- SKIP LOCKED pick and never a retry.
CREATE TABLE worker_id_leases (
    worker_id   smallint PRIMARY KEY CHECK (worker_id BETWEEN 0 AND 1023),
    holder      text NOT NULL DEFAULT '',
    expires_at  timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO worker_id_leases (worker_id) SELECT generate_series(0, 1023);
CREATE INDEX worker_id_leases_expiry ON worker_id_leases (expires_at);
