/*
 * test_report.c - the evidence line of a frozen report (CONTRACT §10): identifiers written
 * exactly, quoted per RFC 4180 only when they must be, never defused like imported text.
 */
#include <string.h>

#include "check.h"
#include "hocvu/report.h"

static void line(const char *ward, hv_group_t g, bool adult, const char *cert, const char *want)
{
    hv_buf_t b;
    hv_buf_init(&b);
    hv_report_evidence_line(&b, ward, g, "2025-10-01", adult, cert);
    CHECK_MSG(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "got [%.*s] want [%s]",
              (int)b.len, b.data, want);
    hv_buf_free(&b);
}

int main(void)
{
    CHECK_STR(HV_EVIDENCE_HEAD, "\xEF\xBB\xBFward,group,day,adult,certificate_id\n");
    line("31117", HV_GROUP_CITIZEN, true, "BDHVS-2025-0001",
         "31117,citizen,2025-10-01,true,BDHVS-2025-0001\n");
    line("31117", HV_GROUP_OFFICIAL, true, "a", "31117,official,2025-10-01,true,a\n");
    line("31120", HV_GROUP_STUDENT, false, "x y", "31120,student,2025-10-01,false,x y\n");
    line("31120", HV_GROUP_WORKER, true, "c,1", "31120,worker,2025-10-01,true,\"c,1\"\n");
    line("31120", HV_GROUP_WORKER, true, "say \"hi\"",
         "31120,worker,2025-10-01,true,\"say \"\"hi\"\"\"\n");
    /* An identifier that looks like a formula is still written exactly. */
    line("31120", HV_GROUP_CITIZEN, true, "=1+1", "31120,citizen,2025-10-01,true,=1+1\n");
    line("31120", HV_GROUP_CITIZEN, true, "\\.", "31120,citizen,2025-10-01,true,\\.\n");
    CHECK_DONE();
}
