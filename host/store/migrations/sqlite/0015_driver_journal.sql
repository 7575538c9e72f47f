-- The journal of mechanism drivers whose manifest says `journal = true`: each postcommit
-- operation is recorded in the transaction that changed the resource and delivered in the
-- background (`neutrino_ml2::mech::journal`). `id` is the sequence: entries are delivered in
-- its order per resource and across related resources (`parents`: ids of the resources this
-- one depends on, space-separated). Delivered entries are deleted; `driver_journal_counts`
-- keeps how many were delivered per driver. Times are Unix milliseconds.
CREATE TABLE driver_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    driver TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    parents TEXT NOT NULL DEFAULT '',
    operation TEXT NOT NULL,
    context TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    claimed_by TEXT,
    claim_until_ms BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX driver_journal_driver_state ON driver_journal (driver, state, id);
CREATE TABLE driver_journal_counts (
    driver TEXT PRIMARY KEY,
    delivered BIGINT NOT NULL DEFAULT 0
);
