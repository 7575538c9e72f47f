-- Address scopes and RBAC sharing beyond networks (issue 15, rbac-address-group of issue 18).
-- Same schema on SQLite and PostgreSQL (booleans BIGINT 0/1).

-- Address scopes (`address-scope`): Neutron's model has no standard attributes (no
-- description, timestamps or revision). `shared` is "a wildcard `access_as_shared` RBAC
-- entry exists", kept in the transaction that changes the entries, as for networks.
CREATE TABLE address_scopes (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    shared BIGINT NOT NULL,
    ip_version BIGINT NOT NULL
);
CREATE INDEX address_scopes_by_project ON address_scopes (project_id);

-- No address scope existed before this migration, so no pool can name one.
UPDATE subnetpools SET address_scope_id = NULL WHERE address_scope_id IS NOT NULL;
CREATE INDEX subnetpools_by_address_scope ON subnetpools (address_scope_id);

-- Subnet pools are shared through RBAC now: `shared: true` is the wildcard entry.
INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, target_project)
    SELECT gen_random_uuid()::text, project_id, 'subnetpool', id, 'access_as_shared', '*'
    FROM subnetpools WHERE shared <> 0;
