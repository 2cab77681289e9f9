-- 003_isolation.sql - what lets writers of several instances never meet, and the fast path
-- know which database it speaks for.
--
-- Counter shards: each writer session claims its own shard for as long as it is connected
-- (a session advisory lock), so no two writers - of one instance or of several - ever add to
-- the same counter row, and the version bump of a shard is only ever taken by its one writer.

CREATE FUNCTION hv_claim_shard() RETURNS smallint
LANGUAGE sql VOLATILE
AS $$
    -- The first shard no other session holds; shard 0 is where the janitor folds old days.
    SELECT s::smallint FROM generate_series(1, 32767) AS g(s)
    WHERE pg_try_advisory_lock(1752590339, s)
    LIMIT 1
$$;

-- The identity and history of the database the writer is connected to, as one string. A
-- Redis mark is trusted only under the identity it was made under, so a restore from a dump
-- (new database or table: new oids and file nodes), a point-in-time recovery or a failover (a
-- new WAL timeline) or another cluster (another system identifier) makes every earlier mark
-- stale. Reading the system identifier needs pg_monitor (or superuser); without it the
-- server's start time stands in, which changes on every restart: safe, only slower after one.
CREATE FUNCTION hv_identity() RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_cluster text;
BEGIN
    BEGIN
        SELECT 'sys:' || system_identifier::text INTO v_cluster FROM pg_control_system();
    EXCEPTION WHEN insufficient_privilege THEN
        v_cluster := 'start:' || extract(epoch FROM pg_postmaster_start_time())::text;
    END;
    RETURN v_cluster
        || '/tli:' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)
        || '/db:' || (SELECT oid FROM pg_database WHERE datname = current_database())::text
        || '/ledger:' || 'event_ledger'::regclass::oid::text
        || '/' || pg_relation_filenode('event_ledger')::text;
END
$$;

-- Compaction locks the rows it folds in one fixed order - (ward, grp, day, shard), the order
-- every writer takes within its own shard - so it can wait for a writer but never deadlock
-- with one. The janitor runs it with lock and statement timeouts.
CREATE OR REPLACE FUNCTION hv_compact_counters(p_before date) RETURNS bigint
LANGUAGE sql
AS $$
    WITH locked AS (
        SELECT ward, grp, day, shard FROM counters
        WHERE shard <> 0 AND day < p_before
        ORDER BY ward, grp, day, shard
        FOR UPDATE),
    moved AS (
        DELETE FROM counters c USING locked l
        WHERE c.ward = l.ward AND c.grp = l.grp AND c.day = l.day AND c.shard = l.shard
        RETURNING c.ward, c.grp, c.day, c.adults, c.total),
    agg AS (
        SELECT ward, grp, day, sum(adults)::bigint AS a, sum(total)::bigint AS t, count(*) AS n
        FROM moved GROUP BY 1, 2, 3),
    ins AS (
        INSERT INTO counters AS k (ward, grp, day, shard, adults, total)
        SELECT ward, grp, day, 0, a, t FROM agg ORDER BY ward, grp, day
        ON CONFLICT (ward, grp, day, shard) DO UPDATE
            SET adults = k.adults + EXCLUDED.adults, total = k.total + EXCLUDED.total
        RETURNING 1)
    SELECT coalesce(sum(n), 0)::bigint FROM agg
$$;
