-- 009_lean_ingest.sql - superseded: the hv_ingest this migration defined moved, with one
-- change, to 010_lean_ingest.sql. A database that applied 009 gets 010's version from 010; one
-- that did not applies this no-op and then 010. The file stays so the version numbers a
-- database records keep their names.
SELECT 1;
