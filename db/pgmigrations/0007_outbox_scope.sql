-- Each outbox row names its scope ("guild:123": one guild, DM channel or user; the writers of
-- one scope serialize before their rows draw a seq). The relay publishes a scope's events one
-- at a time, each only after JetStream acknowledged the one before it, and pipelines across
-- scopes. Rows written before this migration (or by a writer of the previous version during a
-- rolling upgrade) have none: the relay reads the scope from their subject
-- (gochat.ev.<scope>.<id>.<TYPE>), which names the same scope.
ALTER TABLE outbox ADD COLUMN scope text;
