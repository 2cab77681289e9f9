/*
 * test_imports.c - the wards and legacy files of hocvuctl, parsed without the database: every
 * bad row reported with its line and column, the ward type checked, --province filtering.
 */
#include <string.h>

#include "check.h"
#include "hocvu/ctl.h"

static bool has_error(const hv_errlist_t *e, const char *want)
{
    for (size_t i = 0; i < e->n; i++)
        if (strstr(e->items[i].msg, want))
            return true;
    return false;
}

static void test_wards(void)
{
    hv_ctl_import_t imp;
    hv_errlist_t e = {0};
    const char *bad = "code,name,type,population\n"
                      "31001,Phường A,phuong,100\n"
                      "3100,Phường B,phuong,100\n"
                      "31003,Thành phố C,thanh_pho,100\n"
                      "31004,,xa,100\n"
                      "31005,Xã E,xa,many\n"
                      "31001,Phường A again,phuong,1\n";

    CHECK(hv_ctl_wards_parse("w.csv", bad, strlen(bad), NULL, &imp, &e) == -1);
    CHECK_MSG(e.total == 5, "%zu", e.total);
    CHECK(has_error(&e, "w.csv:3: code must be exactly 5 digits"));
    CHECK(has_error(
        &e, "w.csv:4: type must be phuong, xa or dac_khu, got \"thanh_pho\" (column type)"));
    CHECK(has_error(&e, "w.csv:5: name is empty (column name)"));
    CHECK(has_error(&e, "w.csv:6: population must be empty or a non-negative integer"));
    CHECK(has_error(&e, "w.csv:7: duplicate code 31001, first on line 2"));
    CHECK(imp.rows == 0 && imp.json.data == NULL);
    hv_errlist_free(&e);

    const char *national = "code,name,type,province_code\n"
                           "11560,Phường Thủy Nguyên,phuong,31\n"
                           "31135,Phường Ninh Kiều,phuong,92\n"
                           "11999,Đặc khu X,dac_khu,31\n";
    CHECK(hv_ctl_wards_parse("n.csv", national, strlen(national), "31", &imp, &e) == 0);
    CHECK(imp.rows == 2 && e.total == 0);
    CHECK(strstr(imp.json.data, "\"11560\"") && strstr(imp.json.data, "\"11999\"") &&
          !strstr(imp.json.data, "31135"));
    hv_ctl_import_free(&imp);
    CHECK(hv_ctl_wards_parse("n.csv", national, strlen(national), "07", &imp, &e) == -1);
    CHECK(has_error(&e, "no units of province 07"));
    hv_errlist_free(&e);
    const char *nocol = "code,name,type\n31135,A,phuong\n";
    CHECK(hv_ctl_wards_parse("c.csv", nocol, strlen(nocol), "92", &imp, &e) == -1);
    CHECK(has_error(&e, "province_code"));
    hv_errlist_free(&e);
}

static void test_legacy(void)
{
    hv_ctl_import_t imp;
    hv_errlist_t e = {0};
    const char *bad = "old_code,old_name,new_codes,split\n"
                      "31117,A,31135,full\n"
                      "3111,X,31135,full\n"
                      "31118,Y,31135|31120,full\n"
                      "31119,Z,31135,maybe\n"
                      "31120,,31135|31135,partial\n";

    CHECK(hv_ctl_legacy_parse("l.csv", bad, strlen(bad), &imp, &e) == -1);
    CHECK_MSG(e.total == 5, "%zu", e.total);
    CHECK(has_error(&e, "l.csv:3: old_code must be exactly 5 digits"));
    CHECK(has_error(&e, "l.csv:4: a unit that was not split must map to exactly one new code"));
    CHECK(has_error(&e, "l.csv:5: split must be full, partial, true or false"));
    CHECK(has_error(&e, "l.csv:6: old_name is empty"));
    CHECK(has_error(&e, "l.csv:6: new code 31135 is listed twice"));
    hv_errlist_free(&e);
}

int main(void)
{
    test_wards();
    test_legacy();
    CHECK_DONE();
}
