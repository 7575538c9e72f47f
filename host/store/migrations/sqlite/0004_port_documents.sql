-- Ports as JSON documents, stored so that lists need not render them.
--
-- Listing ports used to render every port (its row, fixed IPs, security groups and tags) as
-- JSON at read time: three correlated look-ups and a json_object per port, most of the time
-- of listing 2000 ports. `ports.doc` now holds that rendering (`port_documents`).
--
-- The invariant: `doc` is NULL or exactly what `port_documents` renders for the port now.
-- The triggers below keep it whatever statement changed the data, so no code path can break
-- it: a change to the port's own columns renders the document again, a change to its fixed
-- IPs, security groups or tags clears it (updates of those bump the port's revision
-- afterwards, which renders it again). Readers use COALESCE(doc, rendering), so a NULL only
-- costs speed. Creating a port renders its document once, after its children
-- (`ports::insert_with_children`): an optimisation, not part of the invariant.

ALTER TABLE ports ADD COLUMN doc TEXT;

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
    binding_profile, binding_vif_type, binding_vif_details, created_at, updated_at,
    revision_number ON ports
BEGIN
    UPDATE ports SET doc = (SELECT d.doc FROM port_documents d WHERE d.id = NEW.id)
        WHERE id = NEW.id;
END;

-- A change to a port's fixed IPs clears its document.
CREATE TRIGGER ip_allocations_doc_on_insert AFTER INSERT ON ip_allocations
BEGIN
    UPDATE ports SET doc = NULL WHERE id = NEW.port_id AND doc IS NOT NULL;
END;
CREATE TRIGGER ip_allocations_doc_on_delete AFTER DELETE ON ip_allocations
BEGIN
    UPDATE ports SET doc = NULL WHERE id = OLD.port_id AND doc IS NOT NULL;
END;
CREATE TRIGGER ip_allocations_doc_on_update AFTER UPDATE ON ip_allocations
BEGIN
    UPDATE ports SET doc = NULL WHERE id = OLD.port_id AND doc IS NOT NULL;
    UPDATE ports SET doc = NULL WHERE id = NEW.port_id AND doc IS NOT NULL;
END;

-- A change to a port's security groups clears its document.
CREATE TRIGGER port_security_groups_doc_on_insert AFTER INSERT ON port_security_groups
BEGIN
    UPDATE ports SET doc = NULL WHERE id = NEW.port_id AND doc IS NOT NULL;
END;
CREATE TRIGGER port_security_groups_doc_on_delete AFTER DELETE ON port_security_groups
BEGIN
    UPDATE ports SET doc = NULL WHERE id = OLD.port_id AND doc IS NOT NULL;
END;
CREATE TRIGGER port_security_groups_doc_on_update AFTER UPDATE ON port_security_groups
BEGIN
    UPDATE ports SET doc = NULL WHERE id = OLD.port_id AND doc IS NOT NULL;
    UPDATE ports SET doc = NULL WHERE id = NEW.port_id AND doc IS NOT NULL;
END;

-- So does a change to its tags.
CREATE TRIGGER tags_doc_on_insert AFTER INSERT ON tags WHEN NEW.resource = 'ports'
BEGIN
    UPDATE ports SET doc = NULL WHERE id = NEW.resource_id AND doc IS NOT NULL;
END;
CREATE TRIGGER tags_doc_on_delete AFTER DELETE ON tags WHEN OLD.resource = 'ports'
BEGIN
    UPDATE ports SET doc = NULL WHERE id = OLD.resource_id AND doc IS NOT NULL;
END;
CREATE TRIGGER tags_doc_on_update AFTER UPDATE ON tags
    WHEN OLD.resource = 'ports' OR NEW.resource = 'ports'
BEGIN
    UPDATE ports SET doc = NULL WHERE id = OLD.resource_id AND doc IS NOT NULL;
    UPDATE ports SET doc = NULL WHERE id = NEW.resource_id AND doc IS NOT NULL;
END;

-- Ports that already exist.
UPDATE ports SET doc = (SELECT d.doc FROM port_documents d WHERE d.id = ports.id);
