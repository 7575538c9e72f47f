-- Mechanism drivers: every uploaded version, the versions serving, an action log, each
-- driver's key-value state; the agents table; port binding levels.

CREATE TABLE driver_versions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    contract TEXT NOT NULL,
    size BIGINT NOT NULL,
    wasm BYTEA NOT NULL,
    manifest TEXT,
    settings TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX driver_versions_name ON driver_versions (name, created_at);

-- The drivers ML2 calls, in `position` order. `generation` changes on every change so other
-- servers sharing the database notice and follow.
CREATE TABLE mechanism_drivers (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    enabled BIGINT NOT NULL,
    current_version_id TEXT NOT NULL REFERENCES driver_versions (id),
    previous_version_id TEXT REFERENCES driver_versions (id),
    generation TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE driver_events (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    action TEXT NOT NULL,
    version_id TEXT,
    detail TEXT NOT NULL,
    at TEXT NOT NULL,
    by_project TEXT NOT NULL
);
CREATE INDEX driver_events_name ON driver_events (name, at);

CREATE TABLE driver_state (
    driver TEXT NOT NULL,
    key TEXT NOT NULL,
    value BYTEA NOT NULL,
    CONSTRAINT driver_state_pk PRIMARY KEY (driver, key)
);

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    agent_type TEXT NOT NULL,
    agent_binary TEXT NOT NULL,
    topic TEXT NOT NULL,
    host TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    configurations TEXT NOT NULL,
    availability_zone TEXT,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_timestamp TEXT NOT NULL,
    CONSTRAINT uniq_agents_type_host UNIQUE (agent_type, host)
);

CREATE TABLE port_binding_levels (
    port_id TEXT NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    level BIGINT NOT NULL,
    host TEXT NOT NULL,
    driver TEXT NOT NULL,
    segment_id TEXT NOT NULL,
    CONSTRAINT port_binding_levels_pk PRIMARY KEY (port_id, level)
);
