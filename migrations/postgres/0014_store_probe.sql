-- One row that readiness checks rewrite: a store that answers reads but
-- cannot write (a full disk, a read-only server) is not ready.

CREATE TABLE store_probe (
    id         INTEGER PRIMARY KEY,
    checked_at BIGINT NOT NULL
);

INSERT INTO store_probe (id, checked_at) VALUES (1, 0);
