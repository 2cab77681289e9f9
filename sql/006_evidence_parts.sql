-- 006_evidence_parts.sql - a frozen report's evidence stored as the CSV it is served as, in
-- parts of up to 10,000 lines, instead of one indexed row per person: a freeze over a million
-- certificates writes about a hundred compressed values instead of a million rows and their
-- index entries. The report row records how many lines the evidence holds and the SHA-256 of
-- evidence.csv exactly as served (BOM and header included), so `report verify` and the service
-- can tell whether the parts are still what was frozen.
CREATE TABLE report_evidence_parts (
    report_id text NOT NULL REFERENCES reports (id) DEFERRABLE INITIALLY DEFERRED,
    part      int NOT NULL CHECK (part >= 0),
    lines     int NOT NULL CHECK (lines > 0),
    csv       text NOT NULL, -- `lines` CSV lines, each ending in \n, in (ward, certificate) order
    PRIMARY KEY (report_id, part)
);
DO $$
BEGIN
    ALTER TABLE report_evidence_parts ALTER COLUMN csv SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL; -- a server built without lz4 keeps the default (pglz)
END
$$;

-- The evidence of reports frozen before this migration, line for line as it was served.
INSERT INTO report_evidence_parts (report_id, part, lines, csv)
SELECT report_id, (n - 1) / 10000, count(*), string_agg(line, '' ORDER BY n)
FROM (SELECT report_id,
             row_number() OVER (PARTITION BY report_id ORDER BY ward, cert_id) AS n,
             ward || ','
                 || CASE grp WHEN 1 THEN 'citizen' WHEN 2 THEN 'official' WHEN 3 THEN 'student'
                             ELSE 'worker' END || ','
                 || to_char(day, 'YYYY-MM-DD') || ','
                 || CASE WHEN adult THEN 'true' ELSE 'false' END || ','
                 || CASE WHEN cert_id ~ '[,"\r\n]' THEN '"' || replace(cert_id, '"', '""') || '"'
                         ELSE cert_id END
                 || E'\n' AS line
      FROM report_evidence) e
GROUP BY report_id, (n - 1) / 10000;

ALTER TABLE reports ADD COLUMN evidence_lines bigint, ADD COLUMN evidence_sha256 text;
ALTER TABLE reports DISABLE TRIGGER reports_frozen;
UPDATE reports r
SET evidence_lines = coalesce((SELECT sum(lines) FROM report_evidence_parts p
                               WHERE p.report_id = r.id), 0),
    evidence_sha256 = encode(sha256(convert_to(
        E'\uFEFFward,group,day,adult,certificate_id\n'
            || coalesce((SELECT string_agg(csv, '' ORDER BY part) FROM report_evidence_parts p
                         WHERE p.report_id = r.id), ''), 'UTF8')), 'hex');
ALTER TABLE reports ENABLE TRIGGER reports_frozen;
ALTER TABLE reports
    ALTER COLUMN evidence_lines SET NOT NULL,
    ALTER COLUMN evidence_sha256 SET NOT NULL,
    ADD CHECK (evidence_lines >= 0),
    ADD CHECK (evidence_sha256 ~ '^[0-9a-f]{64}$');
DROP TABLE report_evidence;

CREATE TRIGGER report_evidence_parts_frozen BEFORE UPDATE OR DELETE ON report_evidence_parts
    FOR EACH ROW EXECUTE FUNCTION hv_report_frozen();
CREATE TRIGGER report_evidence_parts_not_truncated BEFORE TRUNCATE ON report_evidence_parts
    FOR EACH STATEMENT EXECUTE FUNCTION hv_report_frozen();
