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
