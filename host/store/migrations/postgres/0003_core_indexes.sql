-- A port's fixed IPs in allocation order straight from the index, instead of a sort for
-- every port when ports are listed with their fixed IPs.
CREATE INDEX ip_allocations_port_position ON ip_allocations (port_id, position);
DROP INDEX ip_allocations_port;
