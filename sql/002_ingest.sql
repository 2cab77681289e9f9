-- 002_ingest.sql - the write path: one call stores a whole batch of validated events and
-- updates attribution and counters in the same transaction (CONTRACT §6).
--
-- Concurrency: several writers (sessions, service instances) call hv_ingest at once. Locks are
-- taken in stages, each stage in sorted key order, so no two calls can wait on each other in a
-- cycle:
--   1. certificate buckets (advisory: shared for issues, exclusive for revocations), so an issue
--      and a revocation of the same certificate id never run concurrently;
--   2. ledger ids (unique index, sorted);
--   3. revocation tombstones, then certificates (unique index, sorted by cert_id);
--   4. persons touched (row locks, sorted) before their attribution is recomputed from a fresh
--      snapshot;
--   5. counter rows (sorted), in this session's own shard.

CREATE FUNCTION hv_cert_bucket(cert text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashtextextended(cert, 0) & 63)::int $$;

-- Outcome per input ordinal: 0 accepted, 1 duplicate, 2 certificate_conflict.
CREATE FUNCTION hv_ingest(
    p_id     text[],      -- idempotency keys
    p_kind   smallint[],  -- 1 issued, 2 revoked
    p_cert   text[],
    p_person text[],      -- hex of the 32-byte pseudonym
    p_ward   text[],      -- resolved current ward (issued), NULL for revocations
    p_grp    smallint[],
    p_ts     bigint[],    -- Unix seconds; NULL when a revocation carries no timestamp
    p_day    int[],       -- Vietnam-time day, days since 1970-01-01 (issued)
    p_adult  boolean[],
    p_course text[],
    p_score  real[],
    p_shard  smallint)
RETURNS TABLE (n int, outcome smallint)
LANGUAGE plpgsql
-- Generic plans: the statements' best plans do not depend on the batch size, and re-planning
-- them on every call (what "auto" ends up doing for array parameters) nearly doubled the cost
-- of a small batch.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    -- Per-ordinal flags (index = position in the input arrays). Flags rather than lists of
    -- ordinals keep every test O(1), so a batch costs O(n log n), not O(n^2).
    v_n         int := cardinality(p_id);
    v_fresh     boolean[];  -- id was not in the ledger
    v_issued    boolean[];  -- certificate row inserted
    v_revoked   boolean[];  -- tombstone inserted
    v_conflict  boolean[];  -- refused with certificate_conflict
    v_touched   bytea[];    -- persons already known whose attribution may change
    v_new       bytea[];    -- persons first seen in this batch
    v_new_ward  text[];     -- ... the attribution of those holding an active certificate
    v_new_grp   smallint[];
    v_new_day   date[];
    v_new_adult boolean[];
    v_has_revocations boolean;
    v_maybe_conflict boolean;  -- a fresh issue did not insert its certificate
    v_issued_persons bigint;   -- distinct persons of the inserted certificates
    v_nestloop  text := current_setting('enable_nestloop');
BEGIN
    -- Stage 1: certificate buckets.
    PERFORM CASE WHEN b.excl THEN pg_advisory_xact_lock(1752590337, b.bucket)
                 ELSE pg_advisory_xact_lock_shared(1752590337, b.bucket) END
    FROM (SELECT hv_cert_bucket(c) AS bucket, bool_or(k = 2) AS excl
          FROM unnest(p_cert, p_kind) AS u(c, k)
          GROUP BY 1 ORDER BY 1) b;

    -- Stages 2-3 join each INSERT's RETURNING set back to the input. The planner cannot
    -- estimate a RETURNING set and picks a nested loop, which is quadratic in the batch size;
    -- these joins are always best hashed, and they touch no table indexes.
    PERFORM set_config('enable_nestloop', 'off', true);

    -- Stage 2: the ledger. The first occurrence of an id in the batch is the candidate.
    WITH ev AS (
        SELECT u.id, u.kind, u.cert, u.n::int AS n
        FROM unnest(p_id, p_kind, p_cert) WITH ORDINALITY AS u(id, kind, cert, n)),
    firsts AS (
        SELECT DISTINCT ON (id) id, kind, cert, n FROM ev ORDER BY id, n),
    ins AS (
        INSERT INTO event_ledger (id, kind, cert_id)
        SELECT id, kind, cert FROM firsts ORDER BY id
        ON CONFLICT (id) DO NOTHING
        RETURNING id)
    SELECT array_agg(ins.id IS NOT NULL ORDER BY e.n) INTO v_fresh
    FROM ev e
    LEFT JOIN firsts f ON f.n = e.n
    LEFT JOIN ins ON ins.id = f.id;

    -- Stage 3a: revocation tombstones (first revocation of a certificate id stands).
    -- Statements that cannot change anything are skipped: small batches are dominated by
    -- per-statement overhead.
    v_has_revocations := 2 = ANY (p_kind);
    IF NOT v_has_revocations THEN
        v_revoked := array_fill(false, ARRAY[v_n]);
    ELSE
    WITH ev AS (
        SELECT u.kind, u.cert, u.person, u.ts, u.id, u.n::int AS n
        FROM unnest(p_kind, p_cert, p_person, p_ts, p_id)
             WITH ORDINALITY AS u(kind, cert, person, ts, id, n)),
    cand AS (
        SELECT DISTINCT ON (cert) * FROM ev
        WHERE kind = 2 AND v_fresh[n] ORDER BY cert, n),
    ins AS (
        INSERT INTO revocations (cert_id, person, revoked_at, event_id)
        SELECT cert, decode(person, 'hex'), to_timestamp(ts), id FROM cand ORDER BY cert
        ON CONFLICT (cert_id) DO NOTHING
        RETURNING cert_id)
    SELECT array_agg(ins.cert_id IS NOT NULL ORDER BY g.n) INTO v_revoked
    FROM generate_series(1, v_n) AS g(n)
    LEFT JOIN cand c ON c.n = g.n
    LEFT JOIN ins ON ins.cert_id = c.cert;
    END IF;

    -- Stage 3b: certificates (first issue of a certificate id stands).
    WITH ev AS (
        SELECT u.kind, u.cert, u.person, u.ward, u.grp, u.ts, u.day, u.adult, u.course, u.score,
               u.id, u.n::int AS n
        FROM unnest(p_kind, p_cert, p_person, p_ward, p_grp, p_ts, p_day, p_adult, p_course,
                    p_score, p_id)
             WITH ORDINALITY AS u(kind, cert, person, ward, grp, ts, day, adult, course, score,
                                  id, n)),
    cand AS (
        SELECT DISTINCT ON (cert) * FROM ev
        WHERE kind = 1 AND v_fresh[n] ORDER BY cert, n),
    ins AS (
        INSERT INTO certificates (cert_id, person, ward, grp, issued_at, day, adult, course_id,
                                  score, event_id)
        SELECT cert, decode(person, 'hex'), ward, grp, to_timestamp(ts),
               date '1970-01-01' + day, adult, course, score, id
        FROM cand ORDER BY cert
        ON CONFLICT (cert_id) DO NOTHING
        RETURNING cert_id)
    SELECT array_agg(ins.cert_id IS NOT NULL ORDER BY g.n),
           coalesce(bool_or(p_kind[g.n] = 1 AND v_fresh[g.n] AND ins.cert_id IS NULL), false)
    INTO v_issued, v_maybe_conflict
    FROM generate_series(1, v_n) AS g(n)
    LEFT JOIN cand c ON c.n = g.n
    LEFT JOIN ins ON ins.cert_id = c.cert;

    PERFORM set_config('enable_nestloop', v_nestloop, true);

    -- Fresh issues that did not insert: same person = duplicate, another person = conflict.
    IF NOT v_maybe_conflict THEN
        v_conflict := array_fill(false, ARRAY[v_n]);
    ELSE
    SELECT array_agg(c.person IS NOT NULL AND c.person <> decode(u.person, 'hex')
                     AND u.kind = 1 AND v_fresh[u.n] AND NOT v_issued[u.n]
                     ORDER BY u.n) INTO v_conflict
    FROM unnest(p_kind, p_cert, p_person) WITH ORDINALITY AS u(kind, cert, person, n)
    LEFT JOIN certificates c ON c.cert_id = u.cert AND u.kind = 1;
    END IF;

    IF true = ANY (v_conflict) THEN
        -- A refused event is not accepted: forget its id so a corrected retry is judged anew.
        DELETE FROM event_ledger l
        USING unnest(p_id) WITH ORDINALITY AS u(id, n)
        WHERE v_conflict[u.n] AND l.id = u.id;
    END IF;

    -- Stage 4a: persons seen for the first time. They hold no certificate but this batch's, so
    -- their attribution is their earliest active certificate of the batch, written directly.
    -- A person inserted concurrently by another writer conflicts here and takes stage 4b.
    WITH mine AS (
        SELECT decode(u.person, 'hex') AS person, u.cert, u.ward, u.grp, u.ts,
               date '1970-01-01' + u.day AS day, u.adult
        FROM unnest(p_person, p_cert, p_ward, p_grp, p_ts, p_day, p_adult)
             WITH ORDINALITY AS u(person, cert, ward, grp, ts, day, adult, n)
        WHERE v_issued[u.n]),
    active AS (
        SELECT DISTINCT ON (m.person) m.*
        FROM mine m
        WHERE NOT EXISTS (SELECT 1 FROM revocations r WHERE r.cert_id = m.cert)
        ORDER BY m.person, m.ts, m.cert COLLATE "C"),
    ins AS (
        INSERT INTO persons (person, cert_id, ward, grp, day, adult)
        SELECT p.person, a.cert, a.ward, a.grp, a.day, a.adult
        FROM (SELECT DISTINCT person FROM mine) p
        LEFT JOIN active a ON a.person = p.person
        ORDER BY p.person
        ON CONFLICT (person) DO NOTHING
        RETURNING person, ward, grp, day, adult)
    SELECT coalesce(array_agg(person), '{}'),
           (SELECT count(DISTINCT person) FROM mine),
           array_agg(ward) FILTER (WHERE ward IS NOT NULL),
           array_agg(grp) FILTER (WHERE ward IS NOT NULL),
           array_agg(day) FILTER (WHERE ward IS NOT NULL),
           array_agg(adult) FILTER (WHERE ward IS NOT NULL)
    INTO v_new, v_issued_persons, v_new_ward, v_new_grp, v_new_day, v_new_adult
    FROM ins;

    -- Stage 4b: everyone else whose attribution may change: lock them, then recompute from a
    -- fresh snapshot (the statement after the lock sees every commit before it). Nobody else
    -- when every issuing person was new and nothing was revoked.
    IF NOT v_has_revocations AND cardinality(v_new) = v_issued_persons THEN
        v_touched := '{}';
    ELSE
    SELECT coalesce(array_agg(DISTINCT t.person ORDER BY t.person), '{}') INTO v_touched
    FROM (
        SELECT decode(u.person, 'hex') AS person
        FROM unnest(p_person) WITH ORDINALITY AS u(person, n)
        WHERE v_issued[u.n]
        UNION ALL
        SELECT c.person
        FROM unnest(p_cert) WITH ORDINALITY AS u(cert, n)
        JOIN certificates c ON c.cert_id = u.cert
        WHERE v_revoked[u.n]) t
    LEFT JOIN unnest(v_new) AS nw(person) ON nw.person = t.person
    WHERE nw.person IS NULL;
    END IF;

    IF cardinality(v_touched) > 0 THEN
        INSERT INTO persons (person)
        SELECT p FROM unnest(v_touched) AS p ORDER BY p
        ON CONFLICT (person) DO UPDATE SET cert_id = persons.cert_id WHERE false;
    END IF;

    -- Counters: the new persons' attribution plus the changes of the others, in one upsert
    -- in sorted key order.
    WITH old AS (
        SELECT p.person, p.cert_id, p.ward, p.grp, p.day, p.adult
        FROM persons p
        WHERE p.person = ANY (v_touched) AND p.cert_id IS NOT NULL),
    new AS (
        SELECT DISTINCT ON (c.person) c.person, c.cert_id, c.ward, c.grp, c.day, c.adult
        FROM certificates c
        WHERE c.person = ANY (v_touched)
          AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.cert_id = c.cert_id)
        ORDER BY c.person, c.issued_at, c.cert_id),
    changed AS (
        SELECT t.person, o.cert_id AS old_cert, n.cert_id AS new_cert
        FROM unnest(v_touched) AS t(person)
        LEFT JOIN old o ON o.person = t.person
        LEFT JOIN new n ON n.person = t.person
        WHERE o.cert_id IS DISTINCT FROM n.cert_id),
    delta AS (
        SELECT o.ward, o.grp, o.day, -count(*) FILTER (WHERE o.adult) AS da, -count(*) AS dt
        FROM old o JOIN changed ch ON ch.person = o.person
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT n.ward, n.grp, n.day, count(*) FILTER (WHERE n.adult), count(*)
        FROM new n JOIN changed ch ON ch.person = n.person
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT u.ward, u.grp, u.day, count(*) FILTER (WHERE u.adult), count(*)
        FROM unnest(v_new_ward, v_new_grp, v_new_day, v_new_adult) AS u(ward, grp, day, adult)
        GROUP BY 1, 2, 3),
    agg AS (
        SELECT ward, grp, day, sum(da)::bigint AS da, sum(dt)::bigint AS dt
        FROM delta GROUP BY 1, 2, 3
        HAVING sum(da) <> 0 OR sum(dt) <> 0),
    upd_counters AS (
        INSERT INTO counters AS k (ward, grp, day, shard, adults, total)
        SELECT ward, grp, day, p_shard, da, dt FROM agg ORDER BY ward, grp, day
        ON CONFLICT (ward, grp, day, shard) DO UPDATE
            SET adults = k.adults + EXCLUDED.adults, total = k.total + EXCLUDED.total
        RETURNING 1),
    bump AS (
        INSERT INTO counter_versions AS v (shard, version)
        SELECT p_shard, 1 WHERE EXISTS (SELECT 1 FROM upd_counters)
        ON CONFLICT (shard) DO UPDATE SET version = v.version + 1
        RETURNING 1)
    UPDATE persons p
    SET cert_id = n.cert_id, ward = n.ward, grp = n.grp, day = n.day, adult = n.adult
    FROM changed ch LEFT JOIN new n ON n.person = ch.person
    WHERE p.person = ch.person;

    RETURN QUERY
    SELECT g.n,
           (CASE WHEN v_conflict[g.n] THEN 2
                 WHEN v_issued[g.n] OR v_revoked[g.n] THEN 0
                 ELSE 1 END)::smallint
    FROM generate_series(1, v_n) AS g(n);
END
$$;

-- What the counters must be, recomputed from the certificates and tombstones alone.
CREATE VIEW hv_expected_attribution AS
SELECT DISTINCT ON (c.person) c.person, c.cert_id, c.ward, c.grp, c.day, c.adult
FROM certificates c
WHERE NOT EXISTS (SELECT 1 FROM revocations r WHERE r.cert_id = c.cert_id)
ORDER BY c.person, c.issued_at, c.cert_id;

CREATE VIEW hv_expected_counters AS
SELECT ward, grp, day, count(*) FILTER (WHERE adult) AS adults, count(*) AS total
FROM hv_expected_attribution
GROUP BY 1, 2, 3;

CREATE VIEW hv_counters AS
SELECT ward, grp, day, sum(adults)::bigint AS adults, sum(total)::bigint AS total
FROM counters
GROUP BY 1, 2, 3;

-- Differences between stored and recomputed counters (empty when there is no drift).
CREATE VIEW hv_counter_drift AS
SELECT coalesce(s.ward, e.ward) AS ward, coalesce(s.grp, e.grp) AS grp,
       coalesce(s.day, e.day) AS day,
       coalesce(s.adults, 0) AS stored_adults, coalesce(e.adults, 0) AS expected_adults,
       coalesce(s.total, 0) AS stored_total, coalesce(e.total, 0) AS expected_total
FROM hv_counters s
FULL JOIN hv_expected_counters e ON e.ward = s.ward AND e.grp = s.grp AND e.day = s.day
WHERE coalesce(s.adults, 0) <> coalesce(e.adults, 0)
   OR coalesce(s.total, 0) <> coalesce(e.total, 0);

-- Persons whose stored attribution differs from the recomputed one.
CREATE VIEW hv_attribution_drift AS
SELECT coalesce(p.person, e.person) AS person, p.cert_id AS stored_cert, e.cert_id AS expected_cert
FROM (SELECT * FROM persons WHERE cert_id IS NOT NULL) p
FULL JOIN hv_expected_attribution e ON e.person = p.person
WHERE p.cert_id IS DISTINCT FROM e.cert_id;

-- Folds every shard of the days before p_before into shard 0, keeping each (ward, group, day)
-- total unchanged, so the counters table grows with days, not with writer sessions. Returns
-- the number of rows folded. Safe beside writers: sums move atomically within one statement.
CREATE FUNCTION hv_compact_counters(p_before date) RETURNS bigint
LANGUAGE sql
AS $$
    WITH moved AS (
        DELETE FROM counters WHERE shard <> 0 AND day < p_before
        RETURNING ward, grp, day, adults, total),
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
