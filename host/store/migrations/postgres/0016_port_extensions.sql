-- Port attributes of Neutron's ML2 extensions: `device_profile`, `numa_affinity_policy` and
-- `extra_dhcp_opts` (as on SQLite; see migrations/sqlite/0016_port_extensions.sql). The
-- port document (0004_port_documents.sql) renders them: `port_document` is replaced, the
-- trigger that renders a port when its own columns change is made to watch the new ones,
-- and every document is rendered again.

ALTER TABLE ports ADD COLUMN device_profile TEXT;
ALTER TABLE ports ADD COLUMN numa_affinity_policy TEXT;
ALTER TABLE ports ADD COLUMN extra_dhcp_opts TEXT NOT NULL DEFAULT '[]';

CREATE OR REPLACE FUNCTION port_document(p ports) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN json_build_object(
        'id', p.id, 'project_id', p.project_id, 'network_id', p.network_id,
        'name', p.name, 'description', p.description, 'mac_address', p.mac_address,
        'admin_state_up', p.admin_state_up, 'status', p.status, 'device_id', p.device_id,
        'device_owner', p.device_owner, 'port_security_enabled', p.port_security_enabled,
        'allowed_address_pairs', p.allowed_address_pairs::json,
        'binding_host_id', p.binding_host_id, 'binding_vnic_type', p.binding_vnic_type,
        'binding_profile', p.binding_profile::json,
        'binding_vif_type', p.binding_vif_type,
        'binding_vif_details', p.binding_vif_details::json,
        'device_profile', p.device_profile,
        'numa_affinity_policy', p.numa_affinity_policy,
        'extra_dhcp_opts', p.extra_dhcp_opts::json,
        'created_at', p.created_at, 'updated_at', p.updated_at,
        'revision_number', p.revision_number,
        'fixed_ips', (SELECT COALESCE(json_agg(json_build_object('subnet_id', a.subnet_id,
            'ip_address', a.ip_address) ORDER BY a.position), '[]'::json)
            FROM ip_allocations a WHERE a.port_id = p.id),
        'security_groups', (SELECT COALESCE(json_agg(g.security_group_id
            ORDER BY g.security_group_id), '[]'::json)
            FROM port_security_groups g WHERE g.port_id = p.id),
        'tags', (SELECT COALESCE(json_agg(t.tag ORDER BY t.tag), '[]'::json)
            FROM tags t WHERE t.resource = 'ports' AND t.resource_id = p.id)
    )::text;
END
$$;

DROP TRIGGER ports_doc_on_update ON ports;
CREATE TRIGGER ports_doc_on_update BEFORE UPDATE OF id, project_id, network_id, name,
    description, mac_address, admin_state_up, status, device_id, device_owner,
    port_security_enabled, allowed_address_pairs, binding_host_id, binding_vnic_type,
    binding_profile, binding_vif_type, binding_vif_details, device_profile,
    numa_affinity_policy, extra_dhcp_opts, created_at, updated_at, revision_number
    ON ports FOR EACH ROW EXECUTE FUNCTION ports_doc_render();

-- Ports that already exist.
UPDATE ports SET doc = port_document(ports);
