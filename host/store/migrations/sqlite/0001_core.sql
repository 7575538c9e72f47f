-- Core resources: networks, subnets, ports, IPAM, subnet pools, security groups, tags.
-- Booleans are stored as BIGINT 0/1 and timestamps as ISO-8601 text, so SQLite and
-- PostgreSQL share one schema and one set of queries.

CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    status TEXT NOT NULL,
    shared BIGINT NOT NULL,
    router_external BIGINT NOT NULL,
    mtu BIGINT NOT NULL,
    port_security_enabled BIGINT NOT NULL,
    availability_zone_hints TEXT NOT NULL,
    dns_domain TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX networks_project ON networks (project_id);

CREATE TABLE network_segments (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    network_type TEXT NOT NULL,
    physical_network TEXT,
    segmentation_id BIGINT,
    is_dynamic BIGINT NOT NULL,
    segment_index BIGINT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX network_segments_network ON network_segments (network_id);

CREATE TABLE subnetpools (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    ip_version BIGINT NOT NULL,
    default_prefixlen BIGINT NOT NULL,
    min_prefixlen BIGINT NOT NULL,
    max_prefixlen BIGINT NOT NULL,
    default_quota BIGINT,
    is_default BIGINT NOT NULL,
    shared BIGINT NOT NULL,
    address_scope_id TEXT,
    prefixes TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);

CREATE TABLE subnets (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    ip_version BIGINT NOT NULL,
    cidr TEXT NOT NULL,
    gateway_ip TEXT,
    enable_dhcp BIGINT NOT NULL,
    ipv6_ra_mode TEXT,
    ipv6_address_mode TEXT,
    subnetpool_id TEXT REFERENCES subnetpools (id),
    segment_id TEXT,
    dns_nameservers TEXT NOT NULL,
    host_routes TEXT NOT NULL,
    allocation_pools TEXT NOT NULL,
    service_types TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX subnets_network ON subnets (network_id);
CREATE INDEX subnets_subnetpool ON subnets (subnetpool_id);

-- Free address ranges of each subnet's allocation pools. Addresses are fixed-width lower-case
-- hex (8 digits for IPv4, 32 for IPv6) so text order is address order. Taking an address
-- shrinks or deletes one row, so allocation costs the same however full the subnet is.
CREATE TABLE ipam_ranges (
    subnet_id TEXT NOT NULL REFERENCES subnets (id) ON DELETE CASCADE,
    first_ip TEXT NOT NULL,
    last_ip TEXT NOT NULL,
    CONSTRAINT ipam_ranges_pk PRIMARY KEY (subnet_id, first_ip)
);

CREATE TABLE ports (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    status TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_owner TEXT NOT NULL,
    port_security_enabled BIGINT NOT NULL,
    allowed_address_pairs TEXT NOT NULL,
    binding_host_id TEXT NOT NULL,
    binding_vnic_type TEXT NOT NULL,
    binding_profile TEXT NOT NULL,
    binding_vif_type TEXT NOT NULL,
    binding_vif_details TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    CONSTRAINT uniq_ports_mac_address UNIQUE (network_id, mac_address)
);
CREATE INDEX ports_project ON ports (project_id);
CREATE INDEX ports_device ON ports (device_id);

-- The guarantee that no address is handed out twice, whatever the allocator did.
CREATE TABLE ip_allocations (
    subnet_id TEXT NOT NULL REFERENCES subnets (id),
    ip_address TEXT NOT NULL,
    port_id TEXT NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    network_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    CONSTRAINT ip_allocations_pk PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX ip_allocations_port ON ip_allocations (port_id);

CREATE TABLE security_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    stateful BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX security_groups_project ON security_groups (project_id);

CREATE TABLE default_security_groups (
    project_id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE
);

CREATE TABLE security_group_rules (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min BIGINT,
    port_range_max BIGINT,
    remote_ip_prefix TEXT,
    remote_group_id TEXT,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX security_group_rules_group ON security_group_rules (security_group_id);

CREATE TABLE port_security_groups (
    port_id TEXT NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id),
    CONSTRAINT port_security_groups_pk PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX port_security_groups_group ON port_security_groups (security_group_id);

-- Tags of every taggable resource; `resource` is the collection name (networks, ports, …).
CREATE TABLE tags (
    resource TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    CONSTRAINT tags_pk PRIMARY KEY (resource, resource_id, tag)
);
CREATE INDEX tags_tag ON tags (resource, tag);

-- Segmentation ids in use, per type and physical network ('' when the type has none; flat
-- networks use id 0). Only allocated ids have rows; the primary key stops two networks from
-- taking the same id, across servers too.
CREATE TABLE segment_allocations (
    network_type TEXT NOT NULL,
    physical_network TEXT NOT NULL,
    segmentation_id BIGINT NOT NULL,
    network_id TEXT NOT NULL,
    CONSTRAINT segment_allocations_pk PRIMARY KEY (network_type, physical_network, segmentation_id)
);
CREATE INDEX segment_allocations_network ON segment_allocations (network_id);
