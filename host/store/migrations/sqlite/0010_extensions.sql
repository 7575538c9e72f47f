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
