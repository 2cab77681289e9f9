-- 001_schema.sql - tables of hocvu: administrative units, the accepted-event ledger,
-- certificates, revocation tombstones, per-person attribution and per-ward counters.
-- Citizen ids never appear here: a person is HMAC-SHA256(pepper, citizen_id), 32 bytes.

-- Current commune-level units (from 1 July 2025).
CREATE TABLE wards (
    code            text PRIMARY KEY CHECK (code ~ '^[0-9]{5}$'),
    name            text NOT NULL CHECK (name <> ''),
    type            text NOT NULL CHECK (type <> ''),
    population      bigint CHECK (population IS NULL OR population >= 0),
    -- non-empty when the population figure is known to be implausible; such a ward gets no
    -- estimated target
    population_flag text,
    target          bigint CHECK (target IS NULL OR target >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Pre-1 July 2025 units and the current units they became. A unit split between several
-- current units (split = true) cannot be attributed and is answered with ambiguous_ward.
CREATE TABLE legacy_wards (
    old_code  text PRIMARY KEY CHECK (old_code ~ '^[0-9]{5}$'),
    old_name  text NOT NULL,
    new_codes text[] NOT NULL CHECK (cardinality(new_codes) >= 1),
    split     boolean NOT NULL
);

-- Every accepted message id (webhook-id, or a batch line's id). The idempotency key: a
-- redelivery finds its id here and is answered "duplicate" without changing anything.
CREATE TABLE event_ledger (
    id          text PRIMARY KEY,
    kind        smallint NOT NULL CHECK (kind IN (1, 2)), -- 1 issued, 2 revoked
    cert_id     text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Issued certificates: the first accepted certificate.issued per certificate_id stands.
CREATE TABLE certificates (
    cert_id   text COLLATE "C" PRIMARY KEY,
    person    bytea NOT NULL CHECK (octet_length(person) = 32),
    ward      text NOT NULL,
    grp       smallint NOT NULL CHECK (grp BETWEEN 1 AND 4),
    issued_at timestamptz NOT NULL,
    day       date NOT NULL,       -- calendar day of issued_at in Vietnam time (UTC+07:00)
    adult     boolean NOT NULL,    -- 18 or older on that day
    course_id text,
    score     real,
    event_id  text NOT NULL
);
CREATE INDEX certificates_person_idx ON certificates (person);

-- Revocation tombstones: final for the certificate id, whether or not (yet) issued.
CREATE TABLE revocations (
    cert_id    text COLLATE "C" PRIMARY KEY,
    person     bytea NOT NULL CHECK (octet_length(person) = 32), -- as stated by the revocation
    revoked_at timestamptz,
    event_id   text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Attribution: one row per person ever seen. cert_id is the earliest active certificate
-- (by issued_at, then cert_id) or NULL when the person holds no active certificate.
CREATE TABLE persons (
    person  bytea PRIMARY KEY CHECK (octet_length(person) = 32),
    cert_id text COLLATE "C",
    ward    text,
    grp     smallint,
    day     date,
    adult   boolean,
    CHECK ((cert_id IS NULL) = (ward IS NULL))
);

-- Certified persons per ward x group x Vietnam-time day. A counter is split into shards so
-- that concurrent writers (one shard per database session) do not queue on the same hot rows;
-- readers sum the shards.
CREATE TABLE counters (
    ward   text NOT NULL,
    grp    smallint NOT NULL,
    day    date NOT NULL,
    shard  smallint NOT NULL,
    adults bigint NOT NULL DEFAULT 0,
    total  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (ward, grp, day, shard)
);

-- One row per counter shard, bumped in the same transaction as any change to that shard's
-- counters. Readers compare the sum of versions to skip re-reading counters that did not move.
CREATE TABLE counter_versions (
    shard   smallint PRIMARY KEY,
    version bigint NOT NULL
);
