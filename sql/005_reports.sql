-- 005_reports.sql - frozen reports (CONTRACT §10): what was reported as of a day, kept as it
-- was sent up, with the evidence behind it. Written once by `hocvuctl report freeze`; nothing
-- changes or removes a row afterwards (reconcile and repair never touch these tables).
CREATE TABLE reports (
    id         text PRIMARY KEY CHECK (id ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9a-f]{8}$'),
    label      text NOT NULL CHECK (label <> ''),
    as_of      date NOT NULL,
    year       int NOT NULL,
    created_at timestamptz NOT NULL,
    digest     text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    body       text NOT NULL -- the report object exactly as GET returns it (RFC 8785, digest included)
);

-- One row per person counted in the report's certified_total: the certificate that counted
-- them. No citizen id and no pseudonym.
CREATE TABLE report_evidence (
    report_id text NOT NULL REFERENCES reports (id),
    ward      text NOT NULL,
    grp       smallint NOT NULL,
    day       date NOT NULL,
    adult     boolean NOT NULL,
    cert_id   text COLLATE "C" NOT NULL
);
CREATE INDEX report_evidence_report_idx ON report_evidence (report_id, ward, cert_id);

CREATE FUNCTION hv_report_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a frozen report is never changed or removed (%)', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER reports_frozen BEFORE UPDATE OR DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION hv_report_frozen();
CREATE TRIGGER reports_not_truncated BEFORE TRUNCATE ON reports
    FOR EACH STATEMENT EXECUTE FUNCTION hv_report_frozen();
CREATE TRIGGER report_evidence_frozen BEFORE UPDATE OR DELETE ON report_evidence
    FOR EACH ROW EXECUTE FUNCTION hv_report_frozen();
CREATE TRIGGER report_evidence_not_truncated BEFORE TRUNCATE ON report_evidence
    FOR EACH STATEMENT EXECUTE FUNCTION hv_report_frozen();
