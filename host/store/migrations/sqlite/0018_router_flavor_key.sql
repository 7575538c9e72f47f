-- A router's `flavor_id` names an existing flavor, and a flavor a router uses cannot be
-- deleted (Neutron's 409 `FlavorInUse`). SQLite cannot add a foreign key to an existing
-- table, so two triggers keep it; their error reads as a foreign key violation.
CREATE TRIGGER routers_flavor_exists BEFORE INSERT ON routers
WHEN NEW.flavor_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM flavors WHERE id = NEW.flavor_id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: routers.flavor_id');
END;
CREATE TRIGGER flavors_used_by_routers BEFORE DELETE ON flavors
WHEN EXISTS (SELECT 1 FROM routers WHERE flavor_id = OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: routers.flavor_id');
END;
CREATE INDEX routers_flavor ON routers (flavor_id);
