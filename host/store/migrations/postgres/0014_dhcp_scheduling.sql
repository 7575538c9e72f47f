-- DHCP agent scheduling (`dhcp_agent_scheduler`): which DHCP agents serve which networks.
-- Same schema on SQLite and PostgreSQL. A binding goes with its network or its agent.
CREATE TABLE network_dhcp_agent_bindings (
    network_id TEXT NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    dhcp_agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    CONSTRAINT network_dhcp_agent_bindings_pk PRIMARY KEY (network_id, dhcp_agent_id)
);
CREATE INDEX network_dhcp_agent_bindings_agent ON network_dhcp_agent_bindings (dhcp_agent_id);
