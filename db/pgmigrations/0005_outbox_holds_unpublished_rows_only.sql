-- The relay now deletes an outbox row as soon as JetStream has acknowledged its event, instead
-- of marking it published and deleting it an hour later: the table holds unpublished rows only.
-- Its primary key (seq) serves the relay's ordered scan, so the partial index on unpublished
-- rows was a second copy of it, maintained on every insert. published_at stays for relays of
-- the previous version during a rolling upgrade (the new relay deletes what they mark).
DROP INDEX outbox_unpublished;
DELETE FROM outbox WHERE published_at IS NOT NULL;
