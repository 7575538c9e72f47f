-- Provisioning blocks (Neutron's `provisioningblocks`): what a port still waits for before it
-- becomes ACTIVE, one row per entity (`L2`, `DHCP`). Same schema on SQLite and PostgreSQL.
-- A block goes with its port.
CREATE TABLE provisioning_blocks (
    port_id TEXT NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    entity TEXT NOT NULL,
    CONSTRAINT provisioning_blocks_pk PRIMARY KEY (port_id, entity)
);
