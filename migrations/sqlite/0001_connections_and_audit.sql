-- Saved vCenter connections and the onboarding audit log.
-- Values the binary validates when it reads a row (port range, TLS mode, timestamps) carry no
-- CHECK constraints: the reader reports a bad row as invalid on its own, and a constraint here
-- would only move the same rule into a second place.

CREATE TABLE connections (
    id                 TEXT    NOT NULL PRIMARY KEY,
    name               TEXT    NOT NULL,
    -- The name lower-cased by the binary (Unicode-aware, same on both backends).
    name_key           TEXT    NOT NULL,
    host               TEXT    NOT NULL,
    port               INTEGER NOT NULL,
    username           TEXT    NOT NULL,
    -- Sealed (XChaCha20-Poly1305) bytes, never clear text; NULL when no password is set.
    password           BLOB,
    enabled            INTEGER NOT NULL,
    poll_interval_secs INTEGER NOT NULL,
    tls_mode           TEXT    NOT NULL,
    tls_value          TEXT,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    version            INTEGER NOT NULL
);

CREATE UNIQUE INDEX connections_name_key_unique ON connections (name_key);

-- AUTOINCREMENT so a sequence number is never reused, even after the newest rows are deleted.
-- No foreign key to connections: the log outlives the connections it talks about.
CREATE TABLE audit_log (
    seq           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at            TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    connection_id TEXT,
    -- JSON array of the names of changed fields, never their values.
    fields        TEXT    NOT NULL
);
