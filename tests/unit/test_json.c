/*
 * test_json.c — the cJSON helpers of common/base/json.h.
 *
 * json_parse must take exactly the bytes given (no NUL needed, nothing
 * after the value but whitespace), and json_as_int must accept exactly the
 * numbers a double holds as integers (|n| <= 2^53), since every integer the
 * DB API stores goes through it.
 */
#include "json.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

static int parses(const char *text)
{
    cJSON *v = json_parse(text, strlen(text));
    cJSON_Delete(v);
    return v != NULL;
}

/* Parses text and asks json_as_int about the value; 1 if it is an integer. */
static int as_int(const char *text, int64_t *out)
{
    cJSON *v = json_parse(text, strlen(text));
    if (!v) return -1;
    int r = json_as_int(v, out);
    cJSON_Delete(v);
    return r;
}

TEST(parse_accepts_values_with_surrounding_whitespace)
{
    CHECK(parses("{}"));
    CHECK(parses(" {\"a\": [1, 2, \"x\"]} \n\t\r "));
    CHECK(parses("1"));
    CHECK(parses("\"s\""));
    CHECK(parses("null"));
}

TEST(parse_rejects_trailing_garbage)
{
    CHECK(!parses("{} x"));
    CHECK(!parses("{}{}"));
    CHECK(!parses("{},"));
    CHECK(!parses("1 2"));
    CHECK(!parses("[1]]"));
    CHECK(!parses("{}\v"));
    /* a NUL inside the given length is garbage too */
    cJSON *v = json_parse("{}\0", 3);
    CHECK(v == NULL);
}

TEST(parse_rejects_empty_and_broken_input)
{
    CHECK(json_parse("", 0) == NULL);
    CHECK(!parses("   "));
    CHECK(!parses("{"));
    CHECK(!parses("{\"a\":}"));
    CHECK(!parses("[1,]"));
    CHECK(!parses("'x'"));
    CHECK(!parses("\"unterminated"));
}

TEST(parse_uses_only_len_bytes)
{
    /* The text continues past len with garbage; only "[1]" is read. */
    const char text[] = "[1]garbage";
    cJSON *v = json_parse(text, 3);
    CHECK(v != NULL);
    CHECK(cJSON_IsArray(v));
    cJSON_Delete(v);
    /* A value cut short by len is not JSON. */
    CHECK(json_parse("[1,2]", 4) == NULL);
}

TEST(as_int_accepts_exact_integers)
{
    int64_t i = 7;
    CHECK_INT(as_int("0", &i), 1);        CHECK_INT(i, 0);
    CHECK_INT(as_int("-0", &i), 1);       CHECK_INT(i, 0);
    CHECK_INT(as_int("-1", &i), 1);       CHECK_INT(i, -1);
    CHECK_INT(as_int("1e3", &i), 1);      CHECK_INT(i, 1000);
    CHECK_INT(as_int("2.0", &i), 1);      CHECK_INT(i, 2);
    CHECK_INT(as_int("1585747800", &i), 1); CHECK_INT(i, 1585747800);
    CHECK_INT(as_int("9007199254740992", &i), 1);  CHECK_INT(i, JSON_MAX_SAFE_INT);
    CHECK_INT(as_int("-9007199254740992", &i), 1); CHECK_INT(i, -JSON_MAX_SAFE_INT);
    CHECK_INT(as_int("9007199254740991", &i), 1);  CHECK_INT(i, JSON_MAX_SAFE_INT - 1);
}

TEST(as_int_rejects_everything_else)
{
    int64_t i = 7;
    CHECK_INT(as_int("1.5", &i), 0);
    CHECK_INT(as_int("-0.5", &i), 0);
    CHECK_INT(as_int("1e-1", &i), 0);
    CHECK_INT(as_int("1e300", &i), 0);
    CHECK_INT(as_int("-1e300", &i), 0);
    CHECK_INT(as_int("1e400", &i), 0);    /* strtod gives infinity */
    CHECK_INT(as_int("9007199254740994", &i), 0);  /* 2^53 + 2, exact as a double, too big */
    CHECK_INT(as_int("-9007199254740994", &i), 0);
    CHECK_INT(as_int("\"1\"", &i), 0);
    CHECK_INT(as_int("true", &i), 0);
    CHECK_INT(as_int("null", &i), 0);
    CHECK_INT(as_int("[1]", &i), 0);
    CHECK_INT(as_int("{}", &i), 0);
    CHECK_INT(i, 7);                      /* untouched on failure */
    CHECK_INT(json_as_int(NULL, &i), 0);
}

TEST(get_str_and_get_int)
{
    const char *text = "{\"s\":\"v\",\"n\":12,\"f\":1.5,\"t\":true,\"ns\":\"3\"}";
    cJSON *o = json_parse(text, strlen(text));
    CHECK(o != NULL);
    int64_t i = 0;
    CHECK_STR(json_get_str(o, "s"), "v");
    CHECK(json_get_str(o, "n") == NULL);
    CHECK(json_get_str(o, "missing") == NULL);
    CHECK_INT(json_get_int(o, "n", &i), 0); CHECK_INT(i, 12);
    CHECK_INT(json_get_int(o, "f", &i), -1);
    CHECK_INT(json_get_int(o, "t", &i), -1);
    CHECK_INT(json_get_int(o, "ns", &i), -1);
    CHECK_INT(json_get_int(o, "missing", &i), -1);
    CHECK(json_get_str(o, "S") == NULL);  /* keys are case-sensitive */
    cJSON_Delete(o);
}

TEST(error_text_escapes_the_message)
{
    char *s = json_error_text("bad \"x\"\n");
    CHECK_STR(s, "{\"error\":\"bad \\\"x\\\"\\n\"}");
    free(s);
}

/* Integers of up to 15 digits (DBOP_MAX_INT, the DB API's bound) print and
 * read back exactly. Larger ones may not: cJSON prints 15 significant
 * digits when that reads back "close enough", so 2^53 - 1 comes out as
 * 9.00719925474099e+15. That is why dbop.h caps INTEGER values at 15 digits. */
TEST(add_int_round_trips_up_to_15_digits)
{
    static const int64_t vals[] = {
        0, 1, -1, 2147483647, 2147483648LL, -2147483649LL, 1585747800,
        99999999999999LL, 100000000000000LL, 123456789012345LL,
        999999999999999LL, -999999999999999LL, 999999999999998LL, 555555555555555LL,
    };
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        cJSON *o = cJSON_CreateObject();
        json_add_int(o, "a", vals[k]);
        char *s = json_print(o);
        char want[64];
        snprintf(want, sizeof want, "{\"a\":%lld}", (long long)vals[k]);
        cJSON *back = json_parse(s, strlen(s));
        int64_t a = 0;
        int same_text = strcmp(s, want) == 0;
        int ok = back && json_get_int(back, "a", &a) == 0;
        cJSON_Delete(back);
        cJSON_Delete(o);
        free(s);
        CHECK(same_text);
        CHECK(ok);
        CHECK_INT(a, vals[k]);
    }
}

int main(void)
{
    test_suite = "test_json";
    RUN(parse_accepts_values_with_surrounding_whitespace);
    RUN(parse_rejects_trailing_garbage);
    RUN(parse_rejects_empty_and_broken_input);
    RUN(parse_uses_only_len_bytes);
    RUN(as_int_accepts_exact_integers);
    RUN(as_int_rejects_everything_else);
    RUN(get_str_and_get_int);
    RUN(error_text_escapes_the_message);
    RUN(add_int_round_trips_up_to_15_digits);
    return test_done();
}
