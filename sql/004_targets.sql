-- 004_targets.sql - targets (chỉ tiêu) by year, scope and group (CONTRACT §9), as imported by
-- `hocvuctl targets import`. A row is either a count (target) or a share of a base (percent,
-- with base, or for a cohort scope without base the cohort's member count at read time). An
-- import replaces every row of the years present in its file.
CREATE TABLE targets (
    year     int NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    scope    text COLLATE "C" NOT NULL
             CHECK (scope = 'city' OR scope ~ '^[0-9]{5}$' OR scope ~ '^cohort:[A-Za-z0-9._-]{1,64}$'),
    grp      text NOT NULL CHECK (grp IN ('all', 'citizen', 'official', 'student', 'worker')),
    measure  text NOT NULL CHECK (measure IN ('adults', 'all')),
    target   bigint CHECK (target >= 0),
    percent  numeric CHECK (percent >= 0 AND percent <= 100),
    base     bigint CHECK (base >= 0),
    line     int NOT NULL, -- of the imported file, for messages
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (year, scope, grp, measure),
    CHECK ((target IS NULL) <> (percent IS NULL)),
    CHECK (scope LIKE 'cohort:%' OR percent IS NULL OR base IS NOT NULL),
    CHECK (scope NOT LIKE 'cohort:%' OR measure = 'all')
);

-- The effective target of each row: the count, or ceil(percent/100 x base) in exact decimal;
-- NULL for a cohort share whose base is its member count (computed at read time).
CREATE VIEW hv_targets AS
SELECT year, scope, grp, measure,
       coalesce(target, ceil(percent * base / 100)::bigint) AS effective,
       percent, base
FROM targets;
