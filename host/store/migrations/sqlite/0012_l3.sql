-- Routers and floating IPs (the L3 API, issue 16).
-- Same schema on SQLite and PostgreSQL (booleans BIGINT 0/1, timestamps text).

-- A router. Its gateway is the port `gw_port_id` on `gw_network_id` (both NULL without one);
-- `availability_zone_hints` is a JSON list.
CREATE TABLE routers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    status TEXT NOT NULL,
    gw_port_id TEXT REFERENCES ports (id) ON DELETE SET NULL,
    gw_network_id TEXT,
    enable_snat BIGINT NOT NULL,
    distributed BIGINT NOT NULL,
    ha BIGINT NOT NULL,
    availability_zone_hints TEXT NOT NULL,
    flavor_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL
);
CREATE INDEX routers_project ON routers (project_id);
CREATE INDEX routers_gw_network ON routers (gw_network_id);

-- The ports a router owns: interfaces and its gateway (Neutron's `routerports`). A port
-- belongs to one router at most (primary key); deleting the port drops the row.
CREATE TABLE router_ports (
    port_id TEXT PRIMARY KEY REFERENCES ports (id) ON DELETE CASCADE,
    router_id TEXT NOT NULL REFERENCES routers (id) ON DELETE CASCADE,
    port_type TEXT NOT NULL
);
CREATE INDEX router_ports_router ON router_ports (router_id);

-- Extra routes (`extraroute`): a set per router; one destination may have several nexthops.
CREATE TABLE router_routes (
    router_id TEXT NOT NULL REFERENCES routers (id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    nexthop TEXT NOT NULL,
    CONSTRAINT router_routes_pk PRIMARY KEY (router_id, destination, nexthop)
);

-- Floating IPs. The address is the one of the floating IP's own port (`floating_port_id`,
-- device owner `network:floatingip`), so IPAM's keys keep it unique. One fixed IP of a port
-- has at most one floating IP per external network (unique key; NULLs never collide).
CREATE TABLE floatingips (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    description TEXT NOT NULL,
    floating_ip_address TEXT NOT NULL,
    floating_network_id TEXT NOT NULL REFERENCES networks (id),
    floating_port_id TEXT NOT NULL REFERENCES ports (id),
    fixed_port_id TEXT REFERENCES ports (id) ON DELETE SET NULL,
    fixed_ip_address TEXT,
    router_id TEXT REFERENCES routers (id),
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    CONSTRAINT uniq_floatingips_fixed UNIQUE (floating_network_id, fixed_port_id, fixed_ip_address)
);
CREATE INDEX floatingips_project ON floatingips (project_id);
CREATE INDEX floatingips_fixed_port ON floatingips (fixed_port_id);
CREATE INDEX floatingips_router ON floatingips (router_id);

CREATE TRIGGER quota_routers_insert AFTER INSERT ON routers BEGIN
    INSERT INTO quota_usages (project_id, resource, in_use) VALUES (NEW.project_id, 'router', 1)
        ON CONFLICT (project_id, resource) DO UPDATE SET in_use = in_use + 1;
END;
CREATE TRIGGER quota_routers_delete AFTER DELETE ON routers BEGIN
    UPDATE quota_usages SET in_use = in_use - 1
        WHERE project_id = OLD.project_id AND resource = 'router';
END;
CREATE TRIGGER quota_floatingips_insert AFTER INSERT ON floatingips BEGIN
    INSERT INTO quota_usages (project_id, resource, in_use)
        VALUES (NEW.project_id, 'floatingip', 1)
        ON CONFLICT (project_id, resource) DO UPDATE SET in_use = in_use + 1;
END;
CREATE TRIGGER quota_floatingips_delete AFTER DELETE ON floatingips BEGIN
    UPDATE quota_usages SET in_use = in_use - 1
        WHERE project_id = OLD.project_id AND resource = 'floatingip';
END;
