-- Identity and access: quotas (limits per project, usage counters kept by triggers) and
-- RBAC policies (who else may use a network).

-- A project's own limits; a resource without a row has the server's configured default.
CREATE TABLE quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- How many of each counted resource a project owns, kept exact by the trigger below in the
-- same transaction as the rows themselves. Creation locks the row before it counts, so
-- concurrent creators in one project (on any server) take turns and a limit is never
-- overshot.
CREATE TABLE quota_usages (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    in_use BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, resource)
);

CREATE FUNCTION quota_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO quota_usages (project_id, resource, in_use)
            VALUES (NEW.project_id, TG_ARGV[0], 1)
            ON CONFLICT (project_id, resource) DO UPDATE SET in_use = quota_usages.in_use + 1;
        RETURN NEW;
    END IF;
    UPDATE quota_usages SET in_use = in_use - 1
        WHERE project_id = OLD.project_id AND resource = TG_ARGV[0];
    RETURN OLD;
END
$$;

CREATE TRIGGER quota_count AFTER INSERT OR DELETE ON networks
    FOR EACH ROW EXECUTE FUNCTION quota_count('network');
CREATE TRIGGER quota_count AFTER INSERT OR DELETE ON subnets
    FOR EACH ROW EXECUTE FUNCTION quota_count('subnet');
CREATE TRIGGER quota_count AFTER INSERT OR DELETE ON ports
    FOR EACH ROW EXECUTE FUNCTION quota_count('port');
CREATE TRIGGER quota_count AFTER INSERT OR DELETE ON security_groups
    FOR EACH ROW EXECUTE FUNCTION quota_count('security_group');
CREATE TRIGGER quota_count AFTER INSERT OR DELETE ON security_group_rules
    FOR EACH ROW EXECUTE FUNCTION quota_count('security_group_rule');
CREATE TRIGGER quota_count AFTER INSERT OR DELETE ON subnetpools
    FOR EACH ROW EXECUTE FUNCTION quota_count('subnetpool');

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
CREATE TRIGGER quota_count AFTER INSERT OR DELETE ON rbac_policies
    FOR EACH ROW EXECUTE FUNCTION quota_count('rbac_policy');

INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, target_project)
    SELECT gen_random_uuid()::text, project_id, 'network', id, 'access_as_shared', '*'
    FROM networks WHERE shared <> 0;
INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, target_project)
    SELECT gen_random_uuid()::text, project_id, 'network', id, 'access_as_external', '*'
    FROM networks WHERE router_external <> 0;
