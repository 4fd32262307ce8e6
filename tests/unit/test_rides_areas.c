/*
 * test_rides_areas.c — the area list loader and the spelling of area
 * numbers in requests (services/rides/areas.c), including the CSV the
 * service ships.
 */
#include "areas.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static struct rides_areas a;   /* ~10 KB: not on the stack */
static char err[256];

static int load(const char *text)
{
    err[0] = '\0';
    return rides_areas_parse(&a, text, strlen(text), err, sizeof err);
}

TEST(crlf_with_header_and_no_final_newline)
{
    CHECK_INT(load("Area No,Area Name\r\n1,Kempegowda Ward\r\n2,Chowdeswari Ward\r\n3,Atturu"), 0);
    CHECK_INT(a.count, 3);
    CHECK_INT(a.min, 1);
    CHECK_INT(a.max, 3);
    CHECK(rides_areas_has(&a, 3));
    CHECK(!rides_areas_has(&a, 4));
    CHECK(!rides_areas_has(&a, 0));
}

TEST(lf_trailing_newlines_and_blank_lines)
{
    CHECK_INT(load("Area_No,Area_Name\n1,A\n\n2,B\n\r\n\r\n"), 0);
    CHECK_INT(a.count, 2);
    CHECK(rides_areas_has(&a, 2));
}

TEST(no_header_and_byte_order_mark)
{
    CHECK_INT(load("5,Five\n7,Seven"), 0);
    CHECK_INT(a.count, 2);
    CHECK_INT(a.min, 5);
    CHECK(!rides_areas_has(&a, 6));
    CHECK_INT(load("\xEF\xBB\xBF" "Area No,Area Name\r\n9,Nine\r\n"), 0);
    CHECK(rides_areas_has(&a, 9));
}

TEST(names_may_hold_commas)
{
    CHECK_INT(load("1,\"Name, with comma\"\n"), 0);
    CHECK(rides_areas_has(&a, 1));
}

TEST(bad_lists_are_refused_with_the_line)
{
    CHECK_INT(load(""), -1);
    CHECK_INT(load("Area No,Area Name\r\n"), -1);
    CHECK(strstr(err, "no areas") != NULL);
    CHECK_INT(load("h\n1,A\nx,B\n"), -1);
    CHECK(strstr(err, "line 3") != NULL);
    CHECK_INT(load("1,A\n1,B\n"), -1);
    CHECK(strstr(err, "twice") != NULL);
    CHECK_INT(load("1,A\n2\n"), -1);
    CHECK(strstr(err, "no name") != NULL);
    CHECK_INT(load("1,A\n3,\n"), -1);
    CHECK_INT(load("0,Zero\n"), -1);
    CHECK_INT(load("1,A\n10000,Big\n"), -1);
    CHECK_INT(load("01,A\n"), -1);
    CHECK_INT(load("h1\nh2\n1,A\n"), -1);   /* only the first line may be a header */
    CHECK_INT(a.count, 0);                   /* a failed load leaves nothing behind */
}

TEST(the_shipped_csv)
{
    const char *path = "services/rides/AreaNameEnum.csv";
    if (access(path, R_OK) != 0) path = "../../services/rides/AreaNameEnum.csv";
    CHECK_INT(rides_areas_load(&a, path, err, sizeof err), 0);
    CHECK_INT(a.count, 198);
    CHECK_INT(a.min, 1);
    CHECK_INT(a.max, 198);
    for (int n = 1; n <= 198; n++) CHECK(rides_areas_has(&a, n));
    CHECK(!rides_areas_has(&a, 199));
    CHECK_INT(rides_areas_load(&a, "/nonexistent/areas.csv", err, sizeof err), -1);
    CHECK(strstr(err, "cannot open") != NULL);
}

TEST(text_spelling)
{
    CHECK_INT(load("1,A\n2,B\n34,C\n198,D\n"), 0);
    CHECK_INT(rides_area_from_text(&a, "1"), 1);
    CHECK_INT(rides_area_from_text(&a, "198"), 198);
    CHECK_INT(rides_area_from_text(&a, "34"), 34);
    static const char *const bad[] = {
        "", "0", "3", "199", "01", "001", "+1", "-1", " 1", "1 ", "1.0", "1e0", "0x1", "one",
        "99999999999999999999", "١",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (rides_area_from_text(&a, bad[i]) != -1) printf("# accepted: \"%s\"\n", bad[i]);
        CHECK_INT(rides_area_from_text(&a, bad[i]), -1);
    }
    CHECK_INT(rides_area_from_text(&a, NULL), -1);
}

TEST(json_spelling)
{
    CHECK_INT(load("1,A\n2,B\n198,D\n"), 0);
    static const struct { const char *json; int want; } cases[] = {
        { "1", 1 }, { "\"1\"", 1 }, { "198", 198 }, { "\"198\"", 198 },
        { "1.0", 1 }, { "1e0", 1 },             /* JSON numbers: the same number */
        { "\"1.0\"", -1 }, { "\"01\"", -1 }, { "0", -1 }, { "199", -1 }, { "-1", -1 },
        { "1.5", -1 }, { "true", -1 }, { "null", -1 }, { "[1]", -1 }, { "{\"a\":1}", -1 },
        { "\"\"", -1 }, { "1e300", -1 }, { "4294967297", -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *v = cJSON_Parse(cases[i].json);
        CHECK(v != NULL);
        int got = rides_area_from_json(&a, v);
        cJSON_Delete(v);
        if (got != cases[i].want) printf("# %s -> %d\n", cases[i].json, got);
        CHECK_INT(got, cases[i].want);
    }
    CHECK_INT(rides_area_from_json(&a, NULL), -1);
}

TEST(plain_decimal)
{
    int64_t v = -1;
    CHECK_INT(rides_parse_decimal("0", 15, &v), 0);
    CHECK_INT(v, 0);
    CHECK_INT(rides_parse_decimal("999999999999999", 15, &v), 0);
    CHECK_INT(v, 999999999999999LL);
    CHECK_INT(rides_parse_decimal("1000000000000000", 15, &v), -1);
    CHECK_INT(rides_parse_decimal("007", 15, &v), -1);
    CHECK_INT(rides_parse_decimal("", 15, &v), -1);
    CHECK_INT(rides_parse_decimal("12a", 15, &v), -1);
}

int main(void)
{
    test_suite = __FILE__;
    RUN(crlf_with_header_and_no_final_newline);
    RUN(lf_trailing_newlines_and_blank_lines);
    RUN(no_header_and_byte_order_mark);
    RUN(names_may_hold_commas);
    RUN(bad_lists_are_refused_with_the_line);
    RUN(the_shipped_csv);
    RUN(text_spelling);
    RUN(json_spelling);
    RUN(plain_decimal);
    return test_done();
}
