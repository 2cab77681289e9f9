-- 007_cohorts.sql - cohorts (CONTRACT §11): agencies, enterprises, schools, villages, teams and
-- mentors, the people in them, and how many of those are certified.
--
-- A person is a member of cohort C if an imported list of C names them (cohort_members) or if
-- an accepted certificate.issued of theirs named C as its supporter (cohort_supported, kept by
-- hv_ingest from the certificates whether or not C has been imported, and never removed: a
-- revoked certificate still made the person a member). Codes need not be cohorts yet; reads
-- show the imported ones.
--
-- Counting: cohort_counts holds certified members per cohort x group x attribution day, in
-- counter shards like counters (one writer session per shard); cohort_sizes the members per
-- cohort. hv_ingest moves both for the persons whose attribution or memberships it changes.
-- Replacing a member list recounts that cohort from scratch (hv_cohort_recount). Writers hold
-- the membership lock (advisory 1752590340/0) shared for their whole transaction, recounts hold
-- it exclusive, so a recount never interleaves with a writer's deltas and both stay exact.

CREATE TABLE cohorts (
    code       text COLLATE "C" PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
    name       text NOT NULL CHECK (name <> ''),
    kind       text NOT NULL
               CHECK (kind IN ('agency', 'enterprise', 'school', 'village', 'team', 'mentor')),
    ward       text CHECK (ward ~ '^[0-9]{5}$'),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Imported member lists: member_ref is the cohort's own reference for the person.
CREATE TABLE cohort_members (
    cohort     text COLLATE "C" NOT NULL CHECK (cohort ~ '^[A-Za-z0-9._-]{1,64}$'),
    member_ref text COLLATE "C" NOT NULL CHECK (member_ref <> ''),
    person     bytea NOT NULL CHECK (octet_length(person) = 32),
    PRIMARY KEY (cohort, member_ref),
    UNIQUE (cohort, person)
);
CREATE INDEX cohort_members_person_idx ON cohort_members (person);

-- Members through data.supporter: first_cert is the smallest certificate id (byte order) of
-- the person's accepted certificates naming the cohort; their member_ref is 'cert:' || it.
CREATE TABLE cohort_supported (
    cohort     text COLLATE "C" NOT NULL,
    person     bytea NOT NULL CHECK (octet_length(person) = 32),
    first_cert text COLLATE "C" NOT NULL,
    PRIMARY KEY (cohort, person)
);
CREATE INDEX cohort_supported_person_idx ON cohort_supported (person);

ALTER TABLE certificates ADD COLUMN supporter text COLLATE "C";
CREATE INDEX certificates_supporter_idx ON certificates (supporter, person)
    WHERE supporter IS NOT NULL;

CREATE TABLE cohort_counts (
    cohort    text COLLATE "C" NOT NULL,
    grp       smallint NOT NULL,
    day       date NOT NULL,
    shard     smallint NOT NULL,
    certified bigint NOT NULL,
    PRIMARY KEY (cohort, grp, day, shard)
);

CREATE TABLE cohort_sizes (
    cohort  text COLLATE "C" NOT NULL,
    shard   smallint NOT NULL,
    members bigint NOT NULL,
    PRIMARY KEY (cohort, shard)
);

-- Bumped with every change to cohorts, member lists, cohort_counts or cohort_sizes (writers in
-- their own shard, imports and repairs in shard 0): readers re-read the cohort figures only
-- when the sum moved.
CREATE TABLE cohort_versions (
    shard   smallint PRIMARY KEY,
    version bigint NOT NULL
);

-- Members of each cohort (imported or through a supporter), once each, with the reference a
-- pending list shows: the imported member_ref, else 'cert:' || the first certificate.
CREATE VIEW hv_cohort_membership AS
SELECT coalesce(m.cohort, s.cohort) AS cohort, coalesce(m.person, s.person) AS person,
       coalesce(m.member_ref, 'cert:' || s.first_cert) AS member_ref
FROM cohort_members m
FULL JOIN cohort_supported s ON s.cohort = m.cohort AND s.person = m.person;

-- What cohort_supported must hold, from the certificates alone.
CREATE VIEW hv_expected_supported AS
SELECT supporter AS cohort, person, min(cert_id COLLATE "C") AS first_cert
FROM certificates
WHERE supporter IS NOT NULL
GROUP BY 1, 2;

-- What cohort_counts and cohort_sizes must sum to, from the memberships and the attribution.
CREATE VIEW hv_expected_cohort_counts AS
SELECT m.cohort, p.grp, p.day, count(*) AS certified
FROM hv_cohort_membership m
JOIN persons p ON p.person = m.person
WHERE p.cert_id IS NOT NULL
GROUP BY 1, 2, 3;

CREATE VIEW hv_cohort_drift AS
SELECT coalesce(s.cohort, e.cohort) AS cohort, coalesce(s.grp, e.grp) AS grp,
       coalesce(s.day, e.day) AS day,
       coalesce(s.certified, 0) AS stored, coalesce(e.certified, 0) AS expected
FROM (SELECT cohort, grp, day, sum(certified)::bigint AS certified FROM cohort_counts
      GROUP BY 1, 2, 3 HAVING sum(certified) <> 0) s
FULL JOIN hv_expected_cohort_counts e
    ON e.cohort = s.cohort AND e.grp = s.grp AND e.day = s.day
WHERE coalesce(s.certified, 0) <> coalesce(e.certified, 0)
UNION ALL
SELECT coalesce(s.cohort, e.cohort), NULL, NULL, coalesce(s.members, 0), coalesce(e.members, 0)
FROM (SELECT cohort, sum(members)::bigint AS members FROM cohort_sizes
      GROUP BY 1 HAVING sum(members) <> 0) s
FULL JOIN (SELECT cohort, count(*) AS members FROM hv_cohort_membership GROUP BY 1) e
    ON e.cohort = s.cohort
WHERE coalesce(s.members, 0) <> coalesce(e.members, 0)
UNION ALL
SELECT coalesce(s.cohort, e.cohort), NULL, NULL, -1, -1
FROM cohort_supported s
FULL JOIN hv_expected_supported e ON e.cohort = s.cohort AND e.person = s.person
WHERE s.first_cert IS DISTINCT FROM e.first_cert;

-- Recounts one cohort's members and certified members from scratch, into shard 0. Takes the
-- membership lock exclusive (waits for writers in flight; new writers wait for the commit).
CREATE FUNCTION hv_cohort_recount(p_cohort text) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1752590340, 0);
    DELETE FROM cohort_counts WHERE cohort = p_cohort;
    DELETE FROM cohort_sizes WHERE cohort = p_cohort;
    INSERT INTO cohort_counts (cohort, grp, day, shard, certified)
    SELECT cohort, grp, day, 0, certified FROM hv_expected_cohort_counts
    WHERE cohort = p_cohort;
    INSERT INTO cohort_sizes (cohort, shard, members)
    SELECT p_cohort, 0, count(*) FROM hv_cohort_membership WHERE cohort = p_cohort
    HAVING count(*) > 0;
    INSERT INTO cohort_versions AS v (shard, version) VALUES (0, 1)
    ON CONFLICT (shard) DO UPDATE SET version = v.version + 1;
END
$$;

-- Rebuilds everything about cohorts that is derived: cohort_supported from the certificates,
-- then every cohort's counts. For `hocvuctl reconcile --repair`.
CREATE FUNCTION hv_cohort_repair() RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_fixed bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1752590340, 0);
    SELECT count(*) INTO v_fixed FROM hv_cohort_drift;
    DELETE FROM cohort_supported;
    INSERT INTO cohort_supported (cohort, person, first_cert)
    SELECT cohort, person, first_cert FROM hv_expected_supported;
    DELETE FROM cohort_counts;
    DELETE FROM cohort_sizes;
    INSERT INTO cohort_counts (cohort, grp, day, shard, certified)
    SELECT cohort, grp, day, 0, certified FROM hv_expected_cohort_counts;
    INSERT INTO cohort_sizes (cohort, shard, members)
    SELECT cohort, 0, count(*) FROM hv_cohort_membership GROUP BY 1;
    INSERT INTO cohort_versions AS v (shard, version) VALUES (0, 1)
    ON CONFLICT (shard) DO UPDATE SET version = v.version + 1;
    RETURN v_fixed;
END
$$;

-- hv_ingest with data.supporter (p_supporter, before p_shard): stores it with the certificate,
-- keeps the supporter memberships and moves the cohort figures with the attribution. The
-- stages of 002 keep their order; the membership lock comes first, cohort_supported rows are
-- locked (sorted) after the certificates, cohort_counts rows (sorted) after the counters.
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
    p_supporter text[],   -- data.supporter (issued), NULL when absent
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
    v_new_att   bytea[];    -- the persons of v_new holding an active certificate (v_new_ward order)
    v_add_cohort text[];    -- memberships this batch created through data.supporter
    v_add_person bytea[];
    v_cohorts   boolean;    -- any membership exists: cohort figures may move
BEGIN
    -- Stage 0: the membership lock, shared (see 007_cohorts.sql): no member list is replaced
    -- while this batch moves cohort figures.
    PERFORM pg_advisory_xact_lock_shared(1752590340, 0);

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

    RETURN QUERY
    SELECT g.n,
           (CASE WHEN v_conflict[g.n] THEN 2
                 WHEN v_issued[g.n] OR v_revoked[g.n] THEN 0
                 ELSE 1 END)::smallint
    FROM generate_series(1, v_n) AS g(n);
END
$$;


-- The signature of 002, for a service of an earlier version still running during an upgrade:
-- its events carry no supporter.
DROP FUNCTION hv_ingest(text[], smallint[], text[], text[], text[], smallint[], bigint[], int[],
                        boolean[], text[], real[], smallint);
CREATE FUNCTION hv_ingest(
    p_id text[], p_kind smallint[], p_cert text[], p_person text[], p_ward text[],
    p_grp smallint[], p_ts bigint[], p_day int[], p_adult boolean[], p_course text[],
    p_score real[], p_shard smallint)
RETURNS TABLE (n int, outcome smallint)
LANGUAGE sql
AS $$
    SELECT * FROM hv_ingest(p_id, p_kind, p_cert, p_person, p_ward, p_grp, p_ts, p_day,
                            p_adult, p_course, p_score, NULL::text[], p_shard)
$$;
