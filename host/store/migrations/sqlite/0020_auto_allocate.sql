-- `auto-allocated-topology` (issue 18): the default external network (`is_default`, kept
-- only for external networks: Neutron's `externalnetworks.is_default`; at most one, a partial
-- unique index) and each project's auto-allocated topology. A project's row is claimed
-- (inserted with no network yet) by the request that builds its topology, in a transaction of
-- its own, so concurrent requests for one project build one topology: the others wait for
-- the row to name a network (`neutrino_store::auto_allocate`).
ALTER TABLE networks ADD COLUMN is_default BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX uniq_networks_default_external ON networks (is_default) WHERE is_default <> 0;
CREATE TABLE auto_allocated_topologies (
    project_id TEXT PRIMARY KEY,
    network_id TEXT REFERENCES networks (id) ON DELETE CASCADE,
    router_id TEXT,
    claimed_at TEXT NOT NULL
);
