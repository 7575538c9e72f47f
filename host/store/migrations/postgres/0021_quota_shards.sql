-- Quota usage in shards (PostgreSQL only; SQLite's one writer needs none). A project's count
-- of a resource was one row, which every creation updated and kept locked until commit, so
-- one project's creations (on every server) took turns: 54 % of port-create throughput.
--
-- Now each (project, resource) has up to 64 rows, one per shard; a connection counts into
-- shard `pg_backend_pid() % 64`, so concurrent creators mostly touch different rows. The
-- usage is the sum of the shards' `in_use` (which may be negative where a shard counted a
-- deletion of what another counted).
--
-- Enforcement without a shared lock (`neutrino_store::quotas::reserve`): the limit is split
-- into per-shard `allowance`s whose sum never exceeds it (`for_limit` is the limit they were
-- split for). A creator locks only its own shard and proceeds while `in_use + n <=
-- allowance` and `for_limit` is the current limit; otherwise it takes the (project, resource)
-- advisory lock, locks every shard, and either refuses (the sum plus n is over the limit) or
-- splits the free remainder again. So the limit is never overshot, and near it creators take
-- turns, as before.
ALTER TABLE quota_usages ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;
ALTER TABLE quota_usages ADD COLUMN allowance BIGINT NOT NULL DEFAULT 0;
ALTER TABLE quota_usages ADD COLUMN for_limit BIGINT;
ALTER TABLE quota_usages DROP CONSTRAINT quota_usages_pkey;
ALTER TABLE quota_usages ADD PRIMARY KEY (project_id, resource, shard);

CREATE OR REPLACE FUNCTION quota_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO quota_usages (project_id, resource, shard, in_use)
            VALUES (NEW.project_id, TG_ARGV[0], pg_backend_pid() % 64, 1)
            ON CONFLICT (project_id, resource, shard)
            DO UPDATE SET in_use = quota_usages.in_use + 1;
        RETURN NEW;
    END IF;
    INSERT INTO quota_usages (project_id, resource, shard, in_use)
        VALUES (OLD.project_id, TG_ARGV[0], pg_backend_pid() % 64, -1)
        ON CONFLICT (project_id, resource, shard)
        DO UPDATE SET in_use = quota_usages.in_use - 1;
    RETURN OLD;
END
$$;
