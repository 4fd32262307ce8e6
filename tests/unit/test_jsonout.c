/* test_jsonout.c — the worker's direct JSON writer must produce text that a
 * JSON parser reads back to exactly the bytes and numbers written. */
#include <stdlib.h>

#include "jsonout.h"
#include "json.h"
#include "test.h"

TEST(strings_round_trip)
{
    static const char *const samples[] = {
        "", "plain", "quote\" backslash\\ slash/", "x'); DROP TABLE users;--",
        "tab\t nl\n cr\r bs\b ff\f", "\x01\x1f control", "名前 ünïcödé 🚗",
    };
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        struct jsonout o = { 0 };
        jo_str(&o, samples[i], strlen(samples[i]));
        cJSON *j = json_parse(o.buf, o.len);
        int ok = cJSON_IsString(j) && strcmp(j->valuestring, samples[i]) == 0;
        cJSON_Delete(j);
        free(o.buf);
        CHECK(ok);
    }
}

TEST(integers_are_exact)
{
    static const int64_t samples[] = { 0, -1, 1, 999999999999999LL, -999999999999999LL, 1800000000 };
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        struct jsonout o = { 0 };
        jo_int(&o, samples[i]);
        cJSON *j = json_parse(o.buf, o.len);
        int64_t v = 0;
        int ok = json_as_int(j, &v) && v == samples[i];
        cJSON_Delete(j);
        free(o.buf);
        CHECK(ok);
    }
}

TEST(buffer_grows_and_stays_terminated)
{
    struct jsonout o = { 0 };
    jo_raw(&o, "[", 1);
    for (int i = 0; i < 10000; i++) {
        if (i) jo_raw(&o, ",", 1);
        jo_int(&o, i);
    }
    jo_raw(&o, "]", 1);
    CHECK_INT(strlen(o.buf), o.len);
    cJSON *j = json_parse(o.buf, o.len);
    CHECK(cJSON_GetArraySize(j) == 10000);
    cJSON_Delete(j);
    free(o.buf);
}

int main(void)
{
    RUN(strings_round_trip);
    RUN(integers_are_exact);
    RUN(buffer_grows_and_stays_terminated);
    return test_done();
}
