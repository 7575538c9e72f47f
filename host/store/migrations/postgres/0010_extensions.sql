-- The rest of Neutron's API (issue 18): service flavors and profiles.
-- Same schema on SQLite and PostgreSQL (booleans BIGINT 0/1, timestamps text).

-- Flavors and service profiles (`flavors`). Neither has a project or standard attributes,
-- as in Neutron. A profile bound to a flavor cannot be deleted or changed (the foreign key
-- from the binding refuses the delete); deleting a flavor drops its bindings.
CREATE TABLE flavors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    service_type TEXT NOT NULL,
    enabled BIGINT NOT NULL
);

CREATE TABLE service_profiles (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    driver TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    metainfo TEXT NOT NULL
);

CREATE TABLE flavor_service_profile_bindings (
    flavor_id TEXT NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    service_profile_id TEXT NOT NULL REFERENCES service_profiles (id),
    CONSTRAINT flavor_service_profile_bindings_pk PRIMARY KEY (flavor_id, service_profile_id)
);
CREATE INDEX flavor_service_profile_bindings_profile
    ON flavor_service_profile_bindings (service_profile_id);

-- Address groups (`address-group`): named sets of CIDRs that security group rules can name
-- as their remote end (`security-groups-remote-address-group`). The foreign key from rules
-- keeps a group in use from being deleted, whatever races.
CREATE TABLE address_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX address_groups_project ON address_groups (project_id);

CREATE TABLE address_group_addresses (
    address_group_id TEXT NOT NULL REFERENCES address_groups (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    CONSTRAINT address_group_addresses_pk PRIMARY KEY (address_group_id, address)
);

ALTER TABLE security_group_rules
    ADD COLUMN remote_address_group_id TEXT REFERENCES address_groups (id);
CREATE INDEX security_group_rules_address_group
    ON security_group_rules (remote_address_group_id);

-- Templates of the rules every new security group gets (`security-groups-default-rules`):
-- `used_in_default_sg` for each project's default group, `used_in_non_default_sg` for the
-- others; `remote_group_id` 'PARENT' means the new group itself. Seeded with Neutron's
-- four legacy rules (fixed ids).
CREATE TABLE default_security_group_rules (
    id TEXT PRIMARY KEY,
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min BIGINT,
    port_range_max BIGINT,
    remote_ip_prefix TEXT,
    remote_group_id TEXT,
    remote_address_group_id TEXT REFERENCES address_groups (id),
    description TEXT NOT NULL,
    used_in_default_sg BIGINT NOT NULL,
    used_in_non_default_sg BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
INSERT INTO default_security_group_rules (id, direction, ethertype, remote_group_id,
    description, used_in_default_sg, used_in_non_default_sg, created_at, updated_at,
    revision_number)
SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7,
    n.t, n.t, 0
FROM (VALUES
    ('a0d5c3d5-4b6e-4f2b-9c41-3f2b1e6e0001', 'egress', 'IPv4', NULL,
     'Legacy default SG rule for egress traffic', 1, 1),
    ('a0d5c3d5-4b6e-4f2b-9c41-3f2b1e6e0002', 'egress', 'IPv6', NULL,
     'Legacy default SG rule for egress traffic', 1, 1),
    ('a0d5c3d5-4b6e-4f2b-9c41-3f2b1e6e0003', 'ingress', 'IPv4', 'PARENT',
     'Legacy default SG rule for ingress traffic', 1, 0),
    ('a0d5c3d5-4b6e-4f2b-9c41-3f2b1e6e0004', 'ingress', 'IPv6', 'PARENT',
     'Legacy default SG rule for ingress traffic', 1, 0)
) AS v, (SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS t) AS n;

-- The default of `stateful` for new security groups (`security-groups-default-statefulness`):
-- per project, or system-wide where `project_id` is NULL; one setting per scope.
CREATE TABLE security_groups_default_statefulness (
    id TEXT PRIMARY KEY,
    project_id TEXT,
    stateful BIGINT NOT NULL
);
CREATE UNIQUE INDEX security_groups_default_statefulness_scope
    ON security_groups_default_statefulness (COALESCE(project_id, ''));
