-- Port attributes of Neutron's ML2 extensions: `device_profile` (port-device-profile),
-- `numa_affinity_policy` (port-numa-affinity-policy[-socket]) and `extra_dhcp_opts`
-- (extra_dhcp_opt: a JSON list of {opt_name, opt_value, ip_version}, in the order the options
-- were added; Neutron keeps one row per option, unique by port, name and IP version, which
-- the plugin keeps here inside the port's row, changed only with the port's row locked).
--
-- The port document (0004_port_documents.sql) renders them too: the view and the trigger
-- that renders a port again when its own columns change are replaced with ones that know
-- the new columns, and every document is rendered again.

ALTER TABLE ports ADD COLUMN device_profile TEXT;
ALTER TABLE ports ADD COLUMN numa_affinity_policy TEXT;
ALTER TABLE ports ADD COLUMN extra_dhcp_opts TEXT NOT NULL DEFAULT '[]';

DROP TRIGGER ports_doc_on_update;
DROP VIEW port_documents;

CREATE VIEW port_documents AS SELECT id, json_object(
    'id', id, 'project_id', project_id, 'network_id', network_id,
    'name', name, 'description', description, 'mac_address', mac_address,
    'admin_state_up', admin_state_up, 'status', status, 'device_id', device_id,
    'device_owner', device_owner, 'port_security_enabled', port_security_enabled,
    'allowed_address_pairs', CASE allowed_address_pairs WHEN '[]' THEN json_array()
        ELSE json(allowed_address_pairs) END,
    'binding_host_id', binding_host_id, 'binding_vnic_type', binding_vnic_type,
    'binding_profile', CASE binding_profile WHEN '{}' THEN json_object()
        ELSE json(binding_profile) END,
    'binding_vif_type', binding_vif_type,
    'binding_vif_details', CASE binding_vif_details WHEN '{}' THEN json_object()
        ELSE json(binding_vif_details) END,
    'device_profile', device_profile, 'numa_affinity_policy', numa_affinity_policy,
    'extra_dhcp_opts', CASE extra_dhcp_opts WHEN '[]' THEN json_array()
        ELSE json(extra_dhcp_opts) END,
    'created_at', created_at, 'updated_at', updated_at,
    'revision_number', revision_number,
    'fixed_ips', (SELECT json_group_array(json_object('subnet_id', a.subnet_id,
        'ip_address', a.ip_address)) FROM (SELECT subnet_id, ip_address
        FROM ip_allocations WHERE port_id = ports.id ORDER BY position) a),
    'security_groups', (SELECT json_group_array(g.security_group_id) FROM
        (SELECT security_group_id FROM port_security_groups WHERE port_id = ports.id
         ORDER BY security_group_id) g),
    'tags', (SELECT json_group_array(t.tag) FROM (SELECT tag FROM tags
        WHERE resource = 'ports' AND resource_id = ports.id ORDER BY tag) t)
) AS doc FROM ports;

-- A change to a port's own columns (any but `doc`) renders its document again.
CREATE TRIGGER ports_doc_on_update AFTER UPDATE OF id, project_id, network_id, name,
    description, mac_address, admin_state_up, status, device_id, device_owner,
    port_security_enabled, allowed_address_pairs, binding_host_id, binding_vnic_type,
    binding_profile, binding_vif_type, binding_vif_details, device_profile,
    numa_affinity_policy, extra_dhcp_opts, created_at, updated_at, revision_number ON ports
BEGIN
    UPDATE ports SET doc = (SELECT d.doc FROM port_documents d WHERE d.id = NEW.id)
        WHERE id = NEW.id;
END;

-- Ports that already exist.
UPDATE ports SET doc = (SELECT d.doc FROM port_documents d WHERE d.id = ports.id);
