-- Proof records an admin attached (`pulse-vsphere proof --record-into-store`): the platform
-- row reports the latest one. The record itself is kept whole as JSON (it holds no secret);
-- the columns are what the row needs without parsing it.
CREATE TABLE proof_records (
    seq             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    recorded_at     TEXT    NOT NULL,
    proof_date      TEXT    NOT NULL,
    verdict         TEXT    NOT NULL,
    simulated       INTEGER NOT NULL,
    vcenter_version TEXT,
    record          TEXT    NOT NULL
);
