-- A router's `flavor_id` names an existing flavor, and a flavor a router uses cannot be
-- deleted (Neutron's 409 `FlavorInUse`). NOT VALID: rows written before are not checked.
ALTER TABLE routers ADD CONSTRAINT routers_flavor_fk
    FOREIGN KEY (flavor_id) REFERENCES flavors (id) NOT VALID;
CREATE INDEX routers_flavor ON routers (flavor_id);
