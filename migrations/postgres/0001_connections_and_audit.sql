-- Saved vCenter connections and the onboarding audit log.
-- Values the binary validates when it reads a row (port range, TLS mode) carry no CHECK
-- constraints: the reader reports a bad row as invalid on its own, and a constraint here
-- would only move the same rule into a second place.
-- Integers are BIGINT so both backends decode them as i64.

CREATE TABLE connections (
    id                 TEXT        NOT NULL PRIMARY KEY,
    name               TEXT        NOT NULL,
    -- The name lower-cased by the binary (Unicode-aware, same on both backends).
    name_key           TEXT        NOT NULL,
    host               TEXT        NOT NULL,
    port               BIGINT      NOT NULL,
    username           TEXT        NOT NULL,
    -- Sealed (XChaCha20-Poly1305) bytes, never clear text; NULL when no password is set.
    password           BYTEA,
    enabled            BOOLEAN     NOT NULL,
    poll_interval_secs BIGINT      NOT NULL,
    tls_mode           TEXT        NOT NULL,
    tls_value          TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    version            BIGINT      NOT NULL
);

CREATE UNIQUE INDEX connections_name_key_unique ON connections (name_key);

-- No foreign key to connections: the log outlives the connections it talks about.
CREATE TABLE audit_log (
    seq           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    actor         TEXT        NOT NULL,
    action        TEXT        NOT NULL,
    connection_id TEXT,
    -- JSON array of the names of changed fields, never their values.
    fields        TEXT        NOT NULL
);
