-- 010_lean_ingest.sql - hv_ingest with a fast path for the common batch (issue 15): only
-- issues, no data.supporter. Stages 2 (ledger), 3b (certificates), 4a (new persons) and the
-- new persons' counters and cohort figures then run as one statement instead of four, and the
-- membership lock and the certificate buckets as one; a small batch was dominated by the fixed
-- cost of each statement. What the statement leaves (a duplicate or conflicting certificate,
-- a person already known) takes the stages of 007 after it, as do whole batches with
-- revocations or supporters. The fast path keeps 007's lock order: membership lock, buckets,
-- ledger, certificates, persons, counters, cohort figures, each in sorted key order.
-- No JIT for the function: see below.
--
-- First shipped as 009, which a database may already have applied; 010 adds the membership
-- gate of the fast path's cohort stage (two index probes per new person were about a third of
-- the statement's cost while nobody belongs to any cohort), and 009 is now empty.

CREATE OR REPLACE FUNCTION hv_ingest(
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
    p_supporter text[],   -- data.supporter (issued), NULL when absent
    p_shard  smallint)
RETURNS TABLE (n int, outcome smallint)
LANGUAGE plpgsql
-- Generic plans: the statements' best plans do not depend on the batch size, and re-planning
-- them on every call (what "auto" ends up doing for array parameters) nearly doubled the cost
-- of a small batch.
SET plan_cache_mode = force_generic_plan
-- No JIT: when a table has no statistics yet (a member list just imported), the planner's
-- estimates put the cohort stage above jit_above_cost, and each call then spent ~60 ms
-- compiling it (bench/PROFILE.md, issue 15).
SET jit = off
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
    v_new_att   bytea[];    -- the persons of v_new holding an active certificate (v_new_ward order)
    v_add_cohort text[];    -- memberships this batch created through data.supporter
    v_add_person bytea[];
    v_cohorts   boolean;    -- any membership exists: cohort figures may move
    v_fast      boolean;    -- the common case: issues only, no supporter, no membership
BEGIN
    -- Stages 0 and 1 in one statement: the membership lock, shared (see 007_cohorts.sql), so
    -- no member list is replaced while this batch moves cohort figures; then the certificate
    -- buckets in sorted order (exclusive where the batch revokes).
    PERFORM CASE WHEN b.bucket < 0 THEN pg_advisory_xact_lock_shared(1752590340, 0)
                 WHEN b.excl THEN pg_advisory_xact_lock(1752590337, b.bucket)
                 ELSE pg_advisory_xact_lock_shared(1752590337, b.bucket) END
    FROM (SELECT -1 AS bucket, false AS excl
          UNION ALL
          SELECT hv_cert_bucket(c), bool_or(k = 2)
          FROM unnest(p_cert, p_kind) AS u(c, k)
          GROUP BY 1) b
    ORDER BY b.bucket;

    -- The common case takes one statement for stages 2, 3b, 4a and the new persons' figures.
    -- (Its snapshot is taken after the membership lock: a member list imported concurrently is
    -- either committed and seen, or waits for this transaction.)
    v_has_revocations := 2 = ANY (p_kind);
    v_fast := NOT v_has_revocations
              AND (p_supporter IS NULL OR cardinality(array_remove(p_supporter, NULL)) = 0);

    -- Stages 2-3 join each INSERT's RETURNING set back to the input. The planner cannot
    -- estimate a RETURNING set and picks a nested loop, which is quadratic in the batch size;
    -- these joins are always best hashed, and they touch no table indexes.
    PERFORM set_config('enable_nestloop', 'off', true);

    IF v_fast THEN
    -- Stages 2, 3b and 4a, then the figures of the persons first seen, in one statement. Each
    -- stage is a sorted INSERT whose input is sorted (so fully read) from the stage before it:
    -- every ledger row is locked before any certificate, every certificate before any person.
    -- Stage 4a's revocation test is a subquery per certificate (an index probe), not a join.
    WITH ev AS (
        SELECT u.id, u.cert, u.person, u.ward, u.grp, u.ts, u.day, u.adult, u.course, u.score,
               u.n::int AS n
        FROM unnest(p_id, p_cert, p_person, p_ward, p_grp, p_ts, p_day, p_adult, p_course,
                    p_score)
             WITH ORDINALITY AS u(id, cert, person, ward, grp, ts, day, adult, course, score, n)),
    firsts AS (
        SELECT DISTINCT ON (id) id, cert, n FROM ev ORDER BY id, n),
    led AS (
        INSERT INTO event_ledger (id, kind, cert_id)
        SELECT id, 1, cert FROM firsts ORDER BY id
        ON CONFLICT (id) DO NOTHING
        RETURNING id),
    fresh AS (
        SELECT f.n FROM firsts f JOIN led l ON l.id = f.id),
    cand AS (
        SELECT DISTINCT ON (e.cert) e.* FROM ev e JOIN fresh f ON f.n = e.n ORDER BY e.cert, e.n),
    cins AS (
        INSERT INTO certificates (cert_id, person, ward, grp, issued_at, day, adult, course_id,
                                  score, event_id)
        SELECT cert, decode(person, 'hex'), ward, grp, to_timestamp(ts),
               date '1970-01-01' + day, adult, course, score, id
        FROM cand ORDER BY cert
        ON CONFLICT (cert_id) DO NOTHING
        RETURNING cert_id, person, ward, grp, issued_at, day, adult),
    active AS (
        SELECT DISTINCT ON (c.person) c.*
        FROM cins c
        WHERE (SELECT true FROM revocations r WHERE r.cert_id = c.cert_id) IS NULL
        ORDER BY c.person, c.issued_at, c.cert_id COLLATE "C"),
    pins AS (
        INSERT INTO persons (person, cert_id, ward, grp, day, adult)
        SELECT p.person, a.cert_id, a.ward, a.grp, a.day, a.adult
        FROM (SELECT DISTINCT person FROM cins) p
        LEFT JOIN active a ON a.person = p.person
        ORDER BY p.person
        ON CONFLICT (person) DO NOTHING
        RETURNING person, ward, grp, day, adult),
    agg AS (
        SELECT ward, grp, day, count(*) FILTER (WHERE adult) AS da, count(*) AS dt
        FROM pins WHERE ward IS NOT NULL
        GROUP BY 1, 2, 3),
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
        RETURNING 1),
    -- Cohorts: +1 at the new attribution for every membership of a person first seen (member
    -- lists and earlier supporters; this batch adds none). One index probe per person.
    mem AS (
        SELECT DISTINCT x.cohort, p.person, p.grp, p.day
        FROM pins p
        CROSS JOIN LATERAL (
            SELECT m.cohort FROM cohort_members m WHERE m.person = p.person
            UNION ALL
            SELECT s.cohort FROM cohort_supported s WHERE s.person = p.person) x
        -- While no membership exists at all, the probes are skipped: a constant condition,
        -- evaluated once per statement and in its snapshot (a list imported meanwhile waits
        -- for the membership lock this transaction holds).
        WHERE p.ward IS NOT NULL
          AND (EXISTS (SELECT 1 FROM cohort_members) OR EXISTS (SELECT 1 FROM cohort_supported))),
    -- (after the counters, as on the other path: the count reads upd_counters to its end)
    cagg AS (
        SELECT cohort, grp, day, count(*)::bigint AS d
        FROM mem, (SELECT count(*) FROM upd_counters) AS after_counters
        GROUP BY 1, 2, 3),
    upd_cohorts AS (
        INSERT INTO cohort_counts AS k (cohort, grp, day, shard, certified)
        SELECT cohort, grp, day, p_shard, d FROM cagg ORDER BY cohort, grp, day
        ON CONFLICT (cohort, grp, day, shard) DO UPDATE
            SET certified = k.certified + EXCLUDED.certified
        RETURNING 1),
    cbump AS (
        INSERT INTO cohort_versions AS v (shard, version)
        SELECT p_shard, 1 WHERE EXISTS (SELECT 1 FROM upd_cohorts)
        ON CONFLICT (shard) DO UPDATE SET version = v.version + 1
        RETURNING 1)
    SELECT array_agg(f.n IS NOT NULL ORDER BY g.n),
           array_agg(c.cert_id IS NOT NULL ORDER BY g.n),
           count(f.n) <> count(c.cert_id),
           (SELECT coalesce(array_agg(person), '{}') FROM pins),
           (SELECT count(DISTINCT person) FROM cins)
    INTO v_fresh, v_issued, v_maybe_conflict, v_new, v_issued_persons
    FROM generate_series(1, v_n) AS g(n)
    LEFT JOIN fresh f ON f.n = g.n
    LEFT JOIN cand d ON d.n = g.n
    LEFT JOIN cins c ON c.cert_id = d.cert;
    v_revoked := array_fill(false, ARRAY[v_n]);
    -- (the new persons' counters and cohort figures are written: nothing of theirs is left for
    -- the upsert below)
    v_new_att := '{}';
    v_new_ward := '{}';
    v_new_grp := '{}';
    v_new_day := '{}';
    v_new_adult := '{}';
    ELSE
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
               u.supporter, u.id, u.n::int AS n
        FROM unnest(p_kind, p_cert, p_person, p_ward, p_grp, p_ts, p_day, p_adult, p_course,
                    p_score, p_supporter, p_id)
             WITH ORDINALITY AS u(kind, cert, person, ward, grp, ts, day, adult, course, score,
                                  supporter, id, n)),
    cand AS (
        SELECT DISTINCT ON (cert) * FROM ev
        WHERE kind = 1 AND v_fresh[n] ORDER BY cert, n),
    ins AS (
        INSERT INTO certificates (cert_id, person, ward, grp, issued_at, day, adult, course_id,
                                  score, supporter, event_id)
        SELECT cert, decode(person, 'hex'), ward, grp, to_timestamp(ts),
               date '1970-01-01' + day, adult, course, score, supporter, id
        FROM cand ORDER BY cert
        ON CONFLICT (cert_id) DO NOTHING
        RETURNING cert_id)
    SELECT array_agg(ins.cert_id IS NOT NULL ORDER BY g.n),
           coalesce(bool_or(p_kind[g.n] = 1 AND v_fresh[g.n] AND ins.cert_id IS NULL), false)
    INTO v_issued, v_maybe_conflict
    FROM generate_series(1, v_n) AS g(n)
    LEFT JOIN cand c ON c.n = g.n
    LEFT JOIN ins ON ins.cert_id = c.cert;

    END IF;

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

    -- Stage 3c: memberships through data.supporter of the certificates inserted (sorted, like
    -- every lock). A pair new to cohort_supported that no imported list holds is a new member.
    IF p_supporter IS NOT NULL AND EXISTS (
        SELECT 1 FROM unnest(p_supporter) WITH ORDINALITY AS u(s, n)
        WHERE u.s IS NOT NULL AND v_issued[u.n]) THEN
    WITH s AS (
        SELECT DISTINCT ON (u.s, u.person) u.s AS cohort, decode(u.person, 'hex') AS person,
               u.cert
        FROM unnest(p_supporter, p_person, p_cert) WITH ORDINALITY AS u(s, person, cert, n)
        WHERE u.s IS NOT NULL AND v_issued[u.n]
        ORDER BY u.s, u.person, u.cert COLLATE "C"),
    ins AS (
        INSERT INTO cohort_supported AS cs (cohort, person, first_cert)
        SELECT cohort, person, cert FROM s ORDER BY cohort, person
        ON CONFLICT (cohort, person) DO UPDATE SET first_cert = EXCLUDED.first_cert
            WHERE EXCLUDED.first_cert < cs.first_cert
        RETURNING cs.cohort, cs.person, (xmax = 0) AS inserted),
    added AS (
        SELECT i.cohort, i.person FROM ins i
        WHERE i.inserted AND NOT EXISTS (
            SELECT 1 FROM cohort_members m WHERE m.cohort = i.cohort AND m.person = i.person)),
    sizes AS (
        INSERT INTO cohort_sizes AS z (cohort, shard, members)
        SELECT cohort, p_shard, count(*) FROM added GROUP BY 1 ORDER BY 1
        ON CONFLICT (cohort, shard) DO UPDATE SET members = z.members + EXCLUDED.members
        RETURNING 1),
    bump AS (
        INSERT INTO cohort_versions AS v (shard, version)
        SELECT p_shard, 1 WHERE EXISTS (SELECT 1 FROM ins)
        ON CONFLICT (shard) DO UPDATE SET version = v.version + 1
        RETURNING 1)
    -- (sizes and bump run whether or not the query reads them, as every data-modifying WITH)
    SELECT coalesce(array_agg(cohort), '{}'), coalesce(array_agg(person), '{}')
    INTO v_add_cohort, v_add_person
    FROM added;
    ELSE
        v_add_cohort := '{}';
        v_add_person := '{}';
    END IF;

    IF NOT v_fast THEN
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
           array_agg(person) FILTER (WHERE ward IS NOT NULL),
           array_agg(ward) FILTER (WHERE ward IS NOT NULL),
           array_agg(grp) FILTER (WHERE ward IS NOT NULL),
           array_agg(day) FILTER (WHERE ward IS NOT NULL),
           array_agg(adult) FILTER (WHERE ward IS NOT NULL)
    INTO v_new, v_issued_persons, v_new_att, v_new_ward, v_new_grp, v_new_day, v_new_adult
    FROM ins;
    END IF;

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

    -- Cohort figures can move only if some membership exists (or this batch added one).
    v_cohorts := cardinality(v_add_person) > 0
                 OR EXISTS (SELECT 1 FROM cohort_members)
                 OR EXISTS (SELECT 1 FROM cohort_supported);

    IF cardinality(v_touched) > 0 THEN
        INSERT INTO persons (person)
        SELECT p FROM unnest(v_touched) AS p ORDER BY p
        ON CONFLICT (person) DO UPDATE SET cert_id = persons.cert_id WHERE false;
    END IF;

    -- Counters: the new persons' attribution plus the changes of the others, in one upsert
    -- in sorted key order (on the fast path the new persons' are written: only the others).
    IF NOT v_fast OR cardinality(v_touched) > 0 THEN
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
        RETURNING 1),
    -- Cohorts: for everyone whose attribution changed, who was first seen, or who joined a
    -- cohort through a supporter, the attribution before (o*) and after (n*) this batch; then
    -- +1 at the new attribution for every membership now, -1 at the old one for every
    -- membership held before this batch (all but those it added).
    cp AS (
        SELECT ch.person, o.grp AS og, o.day AS od, n.grp AS ng, n.day AS nd
        FROM changed ch
        LEFT JOIN old o ON o.person = ch.person
        LEFT JOIN new n ON n.person = ch.person
        WHERE v_cohorts
        UNION ALL
        SELECT u.person, NULL, NULL, u.grp, u.day
        FROM unnest(v_new_att, v_new_grp, v_new_day) AS u(person, grp, day)
        WHERE v_cohorts
        UNION ALL
        -- (attribution unchanged: as the statement found it)
        SELECT p.person, p.grp, p.day, p.grp, p.day
        FROM persons p
        WHERE p.person = ANY (v_add_person) AND p.cert_id IS NOT NULL
          AND p.person <> ALL (v_new)
          AND NOT EXISTS (SELECT 1 FROM changed ch WHERE ch.person = p.person)),
    -- (One index probe per person, whatever the statistics say: a seq scan of the member
    -- lists per batch is what a generic plan on a freshly imported table would otherwise do.)
    mem AS (
        SELECT DISTINCT x.cohort, c.person
        FROM (SELECT DISTINCT person FROM cp) c
        CROSS JOIN LATERAL (
            SELECT m.cohort FROM cohort_members m WHERE m.person = c.person
            UNION ALL
            SELECT s.cohort FROM cohort_supported s WHERE s.person = c.person) x),
    cdelta AS (
        SELECT m.cohort, c.ng AS grp, c.nd AS day, 1 AS d
        FROM mem m JOIN cp c ON c.person = m.person
        WHERE c.ng IS NOT NULL
        UNION ALL
        SELECT m.cohort, c.og, c.od, -1
        FROM mem m JOIN cp c ON c.person = m.person
        WHERE c.og IS NOT NULL
          AND NOT EXISTS (
              SELECT 1 FROM unnest(v_add_cohort, v_add_person) AS a(cohort, person)
              WHERE a.cohort = m.cohort AND a.person = m.person)),
    cagg AS (
        SELECT cohort, grp, day, sum(d)::bigint AS d FROM cdelta
        GROUP BY 1, 2, 3 HAVING sum(d) <> 0),
    upd_cohorts AS (
        INSERT INTO cohort_counts AS k (cohort, grp, day, shard, certified)
        SELECT cohort, grp, day, p_shard, d FROM cagg ORDER BY cohort, grp, day
        ON CONFLICT (cohort, grp, day, shard) DO UPDATE
            SET certified = k.certified + EXCLUDED.certified
        RETURNING 1),
    cbump AS (
        INSERT INTO cohort_versions AS v (shard, version)
        SELECT p_shard, 1 WHERE EXISTS (SELECT 1 FROM upd_cohorts)
        ON CONFLICT (shard) DO UPDATE SET version = v.version + 1
        RETURNING 1)
    UPDATE persons p
    SET cert_id = n.cert_id, ward = n.ward, grp = n.grp, day = n.day, adult = n.adult
    FROM changed ch LEFT JOIN new n ON n.person = ch.person
    WHERE p.person = ch.person;
    END IF;

    RETURN QUERY
    SELECT g.n,
           (CASE WHEN v_conflict[g.n] THEN 2
                 WHEN v_issued[g.n] OR v_revoked[g.n] THEN 0
                 ELSE 1 END)::smallint
    FROM generate_series(1, v_n) AS g(n);
END
$$;
