-- The PostgreSQL schema, version 1. Applied once by PostgresStore::connect under an advisory lock and recorded in
-- schema_migrations. Keys are TEXT COLLATE "C" so that comparison is bytewise and a prefix is one range of the
-- primary-key index.

-- The one revision counter. Every write transaction starts with UPDATE ... SET rev = rev + 1 RETURNING rev: the
-- row lock makes writers take turns, so revisions are committed in order, and a rolled-back write returns its
-- number (no gaps, unlike a sequence).
CREATE TABLE revision_counter (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    rev BIGINT NOT NULL
);
INSERT INTO revision_counter (rev) VALUES (0);

-- Change-log rows at or below compacted_revision are gone. A separate row from the counter so that compaction
-- never waits for writers.
CREATE TABLE store_meta (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    compacted_revision BIGINT NOT NULL
);
INSERT INTO store_meta (compacted_revision) VALUES (0);

-- The current state: gets, lists and counts read only this (and, for an older snapshot, newer log rows).
CREATE TABLE kv (
    key TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL,
    mod_revision BIGINT NOT NULL,
    create_revision BIGINT NOT NULL
);

-- One row per revision. kind: 1 created, 2 updated, 3 deleted. For a delete, value is the last value. prev_value
-- and prev_revision are what the key held before the change (NULL for a create).
CREATE TABLE change_log (
    revision BIGINT PRIMARY KEY,
    key TEXT COLLATE "C" NOT NULL,
    kind SMALLINT NOT NULL CHECK (kind IN (1, 2, 3)),
    value BYTEA NOT NULL,
    prev_value BYTEA,
    create_revision BIGINT NOT NULL,
    prev_revision BIGINT,
    CHECK ((kind = 1) = (prev_value IS NULL) AND (kind = 1) = (prev_revision IS NULL))
);
CREATE INDEX change_log_key_revision ON change_log (key, revision);

-- Every server's change feed LISTENs on this channel. The notification is sent when (and only if) the writing
-- transaction commits, so it wakes the feeds without any polling.
CREATE FUNCTION ferrokube_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ferrokube_changes', NEW.revision::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER change_log_notify AFTER INSERT ON change_log
    FOR EACH ROW EXECUTE FUNCTION ferrokube_notify_change();
