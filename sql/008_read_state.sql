-- 008_read_state.sql - when the figures last changed, kept in the database so that `as_of` (the
-- time the counts last changed) survives a restart and is the same on every instance. One row
-- per read model (1 the snapshot, 2 the cohort figures): the hash of what it was built from
-- (counters, wards, targets, year; cohort versions) and the time an instance first built it
-- with that hash. An instance whose rebuild gives the stored hash takes the stored time; one
-- that sees new figures writes them with its own clock.
CREATE TABLE read_state (
    id        smallint PRIMARY KEY CHECK (id IN (1, 2)),
    data_hash bigint NOT NULL,
    as_of     bigint NOT NULL -- Unix seconds
);
