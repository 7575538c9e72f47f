-- When each driver's `periodic` call (contract 0.2) is next due, shared by every server on the
-- database, so that one server per interval makes it (`neutrino_store::periodic`): a server
-- calls the driver only after moving `due_ms` forward with a conditional update. `holder` is
-- the server that made the last call. Times are Unix milliseconds.
CREATE TABLE driver_periodic (
    driver TEXT PRIMARY KEY,
    due_ms BIGINT NOT NULL,
    holder TEXT
);
