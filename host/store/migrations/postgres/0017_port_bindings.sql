-- A port's bindings beside its active one (`binding-extended`): the active binding stays in
-- the port's `binding_*` columns; every other binding of the port, one per host, is a row
-- here (status INACTIVE), with the levels its drivers bound. `port_binding_records` shows
-- them all as the bindings API lists them: the active binding and the inactive ones.
CREATE TABLE port_bindings (
    port_id TEXT NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    vnic_type TEXT NOT NULL,
    profile TEXT NOT NULL,
    vif_type TEXT NOT NULL,
    vif_details TEXT NOT NULL,
    CONSTRAINT port_bindings_pk PRIMARY KEY (port_id, host)
);

CREATE TABLE port_binding_inactive_levels (
    port_id TEXT NOT NULL,
    host TEXT NOT NULL,
    level BIGINT NOT NULL,
    driver TEXT NOT NULL,
    segment_id TEXT NOT NULL,
    CONSTRAINT port_binding_inactive_levels_pk PRIMARY KEY (port_id, host, level),
    CONSTRAINT port_binding_inactive_levels_binding FOREIGN KEY (port_id, host)
        REFERENCES port_bindings (port_id, host) ON DELETE CASCADE
);
CREATE INDEX port_binding_inactive_levels_segment ON port_binding_inactive_levels (segment_id);

-- `id` is "<port id> <host>": unique, and in one port's bindings ordered as the hosts are
-- (the key of list pages, whose markers are hosts).
CREATE VIEW port_binding_records AS
    SELECT id AS port_id, id || ' ' || binding_host_id AS id, binding_host_id AS host,
           binding_vnic_type AS vnic_type, binding_profile AS profile,
           binding_vif_type AS vif_type, binding_vif_details AS vif_details,
           'ACTIVE' AS status
      FROM ports
    UNION ALL
    SELECT port_id, port_id || ' ' || host AS id, host, vnic_type, profile, vif_type, vif_details,
           'INACTIVE' AS status
      FROM port_bindings;
