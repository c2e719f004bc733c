-- The embedded store's schema: the same shape as the PostgreSQL one (migrations/0001_init.sql), in SQLite types.
-- Keys compare with the default BINARY collation, i.e. bytewise, so a prefix is one range of the primary key.

-- The one revision counter; every write transaction bumps it first, so a rolled-back write returns its number.
CREATE TABLE revision_counter (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    rev INTEGER NOT NULL
);
INSERT INTO revision_counter (singleton, rev) VALUES (1, 0);

-- Change-log rows at or below compacted_revision are gone.
CREATE TABLE store_meta (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    compacted_revision INTEGER NOT NULL
);
INSERT INTO store_meta (singleton, compacted_revision) VALUES (1, 0);

-- The current state: gets, lists and counts read only this (and, for an older snapshot, newer log rows).
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    mod_revision INTEGER NOT NULL,
    create_revision INTEGER NOT NULL
);

-- One row per revision. kind: 1 created, 2 updated, 3 deleted. For a delete, value is the last value. prev_value
-- and prev_revision are what the key held before the change (NULL for a create).
CREATE TABLE change_log (
    revision INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    kind INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
    value BLOB NOT NULL,
    prev_value BLOB,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER,
    CHECK ((kind = 1) = (prev_value IS NULL) AND (kind = 1) = (prev_revision IS NULL))
);
CREATE INDEX change_log_key_revision ON change_log (key, revision);
