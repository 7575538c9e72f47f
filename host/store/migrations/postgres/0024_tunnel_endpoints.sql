-- Tunnel endpoints (issue 14): the address each L2 agent terminates tunnels on, one table per
-- tunnel type as Neutron keeps them (`ml2_vxlan_endpoints`, `ml2_gre_endpoints`,
-- `ml2_geneve_endpoints`). An address belongs to one host and a host has one address per
-- type (both keys), so servers sharing the database agree on the endpoints agents learn
-- from `tunnel_sync`.
CREATE TABLE ml2_vxlan_endpoints (
    ip_address TEXT PRIMARY KEY,
    udp_port BIGINT NOT NULL DEFAULT 4789,
    host TEXT UNIQUE
);
CREATE TABLE ml2_gre_endpoints (
    ip_address TEXT PRIMARY KEY,
    host TEXT UNIQUE
);
CREATE TABLE ml2_geneve_endpoints (
    ip_address TEXT PRIMARY KEY,
    host TEXT UNIQUE
);
