-- Ports as JSON documents, stored so that lists need not render them (as on SQLite; see
-- migrations/sqlite/0004_port_documents.sql).
--
-- Listing ports used to read two dozen columns per port and then its fixed IPs, security
-- groups and tags in three more queries. `ports.doc` now holds the port's rendering
-- (`port_document`), one text value per port.
--
-- The invariant: `doc` is NULL or exactly what `port_document` renders for the port now.
-- The triggers below keep it whatever statement changed the data: an update of the port's own
-- columns renders the document again (BEFORE UPDATE, from the new row, in a statement that
-- runs after the row is locked, so it sees every committed change of the port's children);
-- a change to its fixed IPs, security groups or tags clears it (that update waits for
-- whoever holds the port's row, so a rendering can never be written over a newer clear).
-- Readers use COALESCE(doc, port_document(ports)), so a NULL only costs speed. Creating a
-- port renders its document once, after its children (`ports::insert_with_children`): an
-- optimisation, not part of the invariant.

ALTER TABLE ports ADD COLUMN doc TEXT;

-- plpgsql, not sql: PostgreSQL plans an SQL function's body again for every statement that
-- calls it, while plpgsql keeps the plan for the session.
CREATE FUNCTION port_document(p ports) RETURNS text LANGUAGE plpgsql STABLE AS $$
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

CREATE VIEW port_documents AS SELECT id, port_document(ports) AS doc FROM ports;

-- A change to a port's own columns (any but `doc`) renders its document again.
CREATE FUNCTION ports_doc_render() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.doc := port_document(NEW);
    RETURN NEW;
END
$$;
CREATE TRIGGER ports_doc_on_update BEFORE UPDATE OF id, project_id, network_id, name,
    description, mac_address, admin_state_up, status, device_id, device_owner,
    port_security_enabled, allowed_address_pairs, binding_host_id, binding_vnic_type,
    binding_profile, binding_vif_type, binding_vif_details, created_at, updated_at,
    revision_number ON ports FOR EACH ROW EXECUTE FUNCTION ports_doc_render();

-- A new port's document is rendered when its transaction commits, after its fixed IPs and
-- security groups went in (they clear it): a deferred trigger, so no extra statement.
CREATE FUNCTION ports_doc_render_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ports SET doc = port_document(ports) WHERE id = NEW.id AND doc IS NULL;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER ports_doc_on_insert AFTER INSERT ON ports
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ports_doc_render_new();

-- A change to a port's fixed IPs or security groups clears its document.
CREATE FUNCTION port_children_doc_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE ports SET doc = NULL WHERE id = OLD.port_id AND doc IS NOT NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE ports SET doc = NULL WHERE id = NEW.port_id AND doc IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ip_allocations_doc AFTER INSERT OR UPDATE OR DELETE ON ip_allocations
    FOR EACH ROW EXECUTE FUNCTION port_children_doc_clear();
CREATE TRIGGER port_security_groups_doc AFTER INSERT OR UPDATE OR DELETE
    ON port_security_groups FOR EACH ROW EXECUTE FUNCTION port_children_doc_clear();

-- So does a change to its tags.
CREATE FUNCTION port_tags_doc_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.resource = 'ports' THEN
        UPDATE ports SET doc = NULL WHERE id = OLD.resource_id AND doc IS NOT NULL;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.resource = 'ports' THEN
        UPDATE ports SET doc = NULL WHERE id = NEW.resource_id AND doc IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tags_doc AFTER INSERT OR UPDATE OR DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION port_tags_doc_clear();

-- Ports that already exist.
UPDATE ports SET doc = port_document(ports);
