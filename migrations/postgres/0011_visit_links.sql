-- A patient's join link names the version of the visit's link it was
-- issued under; revoking the link or issuing a fresh one moves the version,
-- so every older token stops working on every node at once.

ALTER TABLE visits ADD COLUMN link_version INTEGER NOT NULL DEFAULT 0;
