-- Identity and access: quotas (limits per project, usage counters kept by triggers) and
-- RBAC policies (who else may use a network).

-- A project's own limits; a resource without a row has the server's configured default.
CREATE TABLE quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit INTEGER NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- How many of each counted resource a project owns, kept exact by the triggers below in the
-- same transaction as the rows themselves. Creation reads it while it holds the writer
-- (SQLite) or the row's lock (PostgreSQL), so a limit is never overshot.
CREATE TABLE quota_usages (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    in_use INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, resource)
);

CREATE TRIGGER quota_networks_insert AFTER INSERT ON networks BEGIN
    INSERT INTO quota_usages (project_id, resource, in_use) VALUES (NEW.project_id, 'network', 1)
        ON CONFLICT (project_id, resource) DO UPDATE SET in_use = in_use + 1;
END;
CREATE TRIGGER quota_networks_delete AFTER DELETE ON networks BEGIN
    UPDATE quota_usages SET in_use = in_use - 1
        WHERE project_id = OLD.project_id AND resource = 'network';
END;
CREATE TRIGGER quota_subnets_insert AFTER INSERT ON subnets BEGIN
    INSERT INTO quota_usages (project_id, resource, in_use) VALUES (NEW.project_id, 'subnet', 1)
        ON CONFLICT (project_id, resource) DO UPDATE SET in_use = in_use + 1;
END;
CREATE TRIGGER quota_subnets_delete AFTER DELETE ON subnets BEGIN
    UPDATE quota_usages SET in_use = in_use - 1
        WHERE project_id = OLD.project_id AND resource = 'subnet';
END;
CREATE TRIGGER quota_ports_insert AFTER INSERT ON ports BEGIN
    INSERT INTO quota_usages (project_id, resource, in_use) VALUES (NEW.project_id, 'port', 1)
        ON CONFLICT (project_id, resource) DO UPDATE SET in_use = in_use + 1;
END;
CREATE TRIGGER quota_ports_delete AFTER DELETE ON ports BEGIN
    UPDATE quota_usages SET in_use = in_use - 1
        WHERE project_id = OLD.project_id AND resource = 'port';
END;
CREATE TRIGGER quota_security_groups_insert AFTER INSERT ON security_groups BEGIN
    INSERT INTO quota_usages (project_id, resource, in_use)
        VALUES (NEW.project_id, 'security_group', 1)
        ON CONFLICT (project_id, resource) DO UPDATE SET in_use = in_use + 1;
END;
CREATE TRIGGER quota_security_groups_delete AFTER DELETE ON security_groups BEGIN
    UPDATE quota_usages SET in_use = in_use - 1
        WHERE project_id = OLD.project_id AND resource = 'security_group';
END;
CREATE TRIGGER quota_security_group_rules_insert AFTER INSERT ON security_group_rules BEGIN
    INSERT INTO quota_usages (project_id, resource, in_use)
        VALUES (NEW.project_id, 'security_group_rule', 1)
        ON CONFLICT (project_id, resource) DO UPDATE SET in_use = in_use + 1;
END;
CREATE TRIGGER quota_security_group_rules_delete AFTER DELETE ON security_group_rules BEGIN
    UPDATE quota_usages SET in_use = in_use - 1
        WHERE project_id = OLD.project_id AND resource = 'security_group_rule';
END;
CREATE TRIGGER quota_subnetpools_insert AFTER INSERT ON subnetpools BEGIN
    INSERT INTO quota_usages (project_id, resource, in_use)
        VALUES (NEW.project_id, 'subnetpool', 1)
        ON CONFLICT (project_id, resource) DO UPDATE SET in_use = in_use + 1;
END;
CREATE TRIGGER quota_subnetpools_delete AFTER DELETE ON subnetpools BEGIN
    UPDATE quota_usages SET in_use = in_use - 1
        WHERE project_id = OLD.project_id AND resource = 'subnetpool';
END;

INSERT INTO quota_usages (project_id, resource, in_use)
    SELECT project_id, 'network', count(*) FROM networks GROUP BY project_id
    UNION ALL SELECT project_id, 'subnet', count(*) FROM subnets GROUP BY project_id
    UNION ALL SELECT project_id, 'port', count(*) FROM ports GROUP BY project_id
    UNION ALL SELECT project_id, 'security_group', count(*) FROM security_groups GROUP BY project_id
    UNION ALL SELECT project_id, 'security_group_rule', count(*) FROM security_group_rules
        GROUP BY project_id
    UNION ALL SELECT project_id, 'subnetpool', count(*) FROM subnetpools GROUP BY project_id;

-- RBAC policies: an object (a network) shared with a project or with every project ('*').
-- A network's `shared` column says whether its wildcard `access_as_shared` entry exists, and
-- `router_external` whether any `access_as_external` entry does; both change only together
-- with the entries.
CREATE TABLE rbac_policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target_project TEXT NOT NULL,
    UNIQUE (object_type, object_id, action, target_project)
);
CREATE INDEX rbac_policies_by_target ON rbac_policies (object_type, target_project, object_id);
CREATE INDEX rbac_policies_by_object ON rbac_policies (object_id);
CREATE TRIGGER quota_rbac_policies_insert AFTER INSERT ON rbac_policies BEGIN
    INSERT INTO quota_usages (project_id, resource, in_use)
        VALUES (NEW.project_id, 'rbac_policy', 1)
        ON CONFLICT (project_id, resource) DO UPDATE SET in_use = in_use + 1;
END;
CREATE TRIGGER quota_rbac_policies_delete AFTER DELETE ON rbac_policies BEGIN
    UPDATE quota_usages SET in_use = in_use - 1
        WHERE project_id = OLD.project_id AND resource = 'rbac_policy';
END;

INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, target_project)
    SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(2)) || '-' || hex(randomblob(6))), project_id, 'network', id, 'access_as_shared', '*'
    FROM networks WHERE shared <> 0;
INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, target_project)
    SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(2)) || '-' || hex(randomblob(6))), project_id, 'network', id, 'access_as_external', '*'
    FROM networks WHERE router_external <> 0;
