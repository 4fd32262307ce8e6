/*
 * test_users_valid.c — what an add-user request may hold
 * (services/users/users_valid.c) and the body checks both services run
 * before parsing (services/rest/apiutil.c): UTF-8 only, no \u0000, no key twice,
 * at most 16 keys and 64 values, usernames of at most 5000 characters.
 */
#include "users_valid.h"
#include "apiutil.h"
#include "test.h"

#include <stdlib.h>

#define PW "3d725109c7e7c0bfb9d709836735b56d943d263f"

TEST(passwords)
{
    CHECK(users_password_valid(PW));
    CHECK(users_password_valid("3D725109C7E7C0BFB9D709836735B56D943D263F"));
    CHECK(users_password_valid("3d725109C7E7c0bfb9d709836735b56d943d263F"));
    CHECK(!users_password_valid(""));
    CHECK(!users_password_valid(NULL));
    CHECK(!users_password_valid("3d725109c7e7c0bfb9d709836735b56d943d263"));    /* 39 */
    CHECK(!users_password_valid(PW "0"));                                         /* 41 */
    CHECK(!users_password_valid("gd725109c7e7c0bfb9d709836735b56d943d263f"));
    CHECK(!users_password_valid("3d725109c7e7c0bfb9d709836735b56d943d263 "));
    CHECK(!users_password_valid(" 3d725109c7e7c0bfb9d709836735b56d943d263"));
    CHECK(!users_password_valid("0x725109c7e7c0bfb9d709836735b56d943d263f"));
}

static int parse_new(const char *json, const char **name, char *pw, const char **why, cJSON **keep)
{
    *keep = cJSON_Parse(json);
    if (!*keep) return -2;
    return users_parse_new(*keep, name, pw, why);
}

TEST(add_user_bodies)
{
    const char *name = NULL, *why = NULL;
    char pw[USERS_PASSWORD_LEN + 1];
    cJSON *b;
    CHECK_INT(parse_new("{\"username\":\"userName\",\"password\":\"3D725109C7E7C0BFB9D709836735B56D943D263F\"}",
                        &name, pw, &why, &b), 0);
    CHECK_STR(name, "userName");
    CHECK_STR(pw, PW);   /* stored in lower case */
    cJSON_Delete(b);
    /* names are anything non-empty, kept byte for byte */
    CHECK_INT(parse_new("{\"username\":\" x'; DROP TABLE users;-- \\\"\\u00e9\\u4e2d\",\"password\":\"" PW "\",\"extra\":1}",
                        &name, pw, &why, &b), 0);
    CHECK_STR(name, " x'; DROP TABLE users;-- \"\xC3\xA9\xE4\xB8\xAD");
    cJSON_Delete(b);

    static const struct { const char *json, *why_has; } bad[] = {
        { "{}", "missing field 'username'" },
        { "{\"password\":\"" PW "\"}", "missing field 'username'" },
        { "{\"username\":\"u\"}", "missing field 'password'" },
        { "{\"username\":\"\",\"password\":\"" PW "\"}", "empty" },
        { "{\"username\":1,\"password\":\"" PW "\"}", "string" },
        { "{\"username\":null,\"password\":\"" PW "\"}", "string" },
        { "{\"username\":[\"u\"],\"password\":\"" PW "\"}", "string" },
        { "{\"username\":\"u\",\"password\":1234}", "'password' must be a string" },
        { "{\"username\":\"u\",\"password\":\"secret\"}", "40 hexadecimal" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        int rc = parse_new(bad[i].json, &name, pw, &why, &b);
        cJSON_Delete(b);
        if (rc != -1 || !why || !strstr(why, bad[i].why_has))
            printf("# %s -> %d %s\n", bad[i].json, rc, why ? why : "(none)");
        CHECK_INT(rc, -1);
        CHECK(strstr(why, bad[i].why_has) != NULL);
    }
}

TEST(utf8)
{
    CHECK(api_utf8_valid("", 0));
    CHECK(api_utf8_valid("plain", 5));
    CHECK(api_utf8_valid("\xC3\xA9", 2));              /* é */
    CHECK(api_utf8_valid("\xE4\xB8\xAD", 3));          /* 中 */
    CHECK(api_utf8_valid("\xF0\x9F\x98\x80", 4));      /* emoji */
    CHECK(api_utf8_valid("\xF4\x8F\xBF\xBF", 4));      /* U+10FFFF */
    CHECK(!api_utf8_valid("\xFF", 1));
    CHECK(!api_utf8_valid("\x80", 1));
    CHECK(!api_utf8_valid("\xC0\xAF", 2));             /* overlong '/' */
    CHECK(!api_utf8_valid("\xE0\x80\xAF", 3));         /* overlong */
    CHECK(!api_utf8_valid("\xED\xA0\x80", 3));         /* surrogate */
    CHECK(!api_utf8_valid("\xF4\x90\x80\x80", 4));     /* above U+10FFFF */
    CHECK(!api_utf8_valid("\xC3", 1));                 /* cut short */
    CHECK(!api_utf8_valid("\xE4\xB8", 2));
    CHECK(!api_utf8_valid("a\0b", 3));                 /* raw NUL */
}

TEST(nul_escapes)
{
#define HAS(s) json_has_nul_escape(s, strlen(s))
    CHECK(HAS("{\"u\":\"a\\u0000b\"}"));
    CHECK(HAS("{\"a\\u0000\":1}"));
    CHECK(!HAS("{\"u\":\"a\\\\u0000b\"}"));      /* an escaped backslash, then text */
    CHECK(HAS("{\"u\":\"a\\\\\\u0000b\"}"));     /* \\ then \u0000 */
    CHECK(!HAS("{\"u\":\"a\\u0001b\"}"));
    CHECK(!HAS("{\"u\":\"\\\"u0000\"}"));
    CHECK(!HAS("{\"u\":\"x\"} \\u0000"));        /* outside strings JSON fails anyway */
#undef HAS
}

static const char *why_of(const char *text)
{
    const char *why = NULL;
    cJSON *j = api_parse_object_text(text, strlen(text), &why);
    if (j) {
        cJSON_Delete(j);
        return NULL;
    }
    return why;
}

TEST(object_bodies)
{
    CHECK(why_of("{\"a\":1}") == NULL);
    CHECK(why_of(" {} \n") == NULL);
    CHECK(why_of("{\"a\":{\"b\":1,\"b\":2}}") == NULL);   /* only the top level is checked */
    CHECK(strstr(why_of(""), "JSON object") != NULL);
    CHECK(strstr(why_of("[1]"), "JSON object") != NULL);
    CHECK(strstr(why_of("\"s\""), "JSON object") != NULL);
    CHECK(strstr(why_of("null"), "JSON object") != NULL);
    CHECK(strstr(why_of("{"), "not valid JSON") != NULL);
    CHECK(strstr(why_of("{} {}"), "not valid JSON") != NULL);
    CHECK(strstr(why_of("{\"a\":1,\"a\":2}"), "more than once") != NULL);
    CHECK(strstr(why_of("{\"a\":\"\\u0000\"}"), "u0000") != NULL);
    CHECK(strstr(why_of("{\"a\":\"\xFF\"}"), "UTF-8") != NULL);
    CHECK(strstr(why_of("{\"a\":\"\\ud800\"}"), "not valid JSON") != NULL);   /* lone surrogate */
}

/* A body of n members "kNNNNN":1 (and the password and username when
 * user != 0), as malloc'd text. */
static char *many_keys(int n, int user)
{
    size_t cap = (size_t)n * 16 + 200, len = 0;
    char *t = malloc(cap);
    len += (size_t)snprintf(t + len, cap - len, "{%s", user ? "\"username\":\"u\",\"password\":\"" PW "\"" : "");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(t + len, cap - len, "%s\"k%06d\":1", i || user ? "," : "", i);
    snprintf(t + len, cap - len, "}");
    return t;
}

TEST(bodies_are_bounded_before_parsing)
{
    char *t = many_keys(16, 0);
    CHECK(why_of(t) == NULL);
    free(t);
    t = many_keys(17, 0);
    CHECK(strstr(why_of(t), "too many keys") != NULL);
    free(t);
    t = many_keys(75000, 1);   /* an 814 KB body: refused from the count */
    CHECK(strstr(why_of(t), "too many keys") != NULL);
    free(t);
    /* commas inside strings are text; nested values count toward 64 */
    CHECK(why_of("{\"a\":\",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\"}") == NULL);
    CHECK(why_of("{\"a\\\",,,,,,,,,,,,,,,,,,,,\":1}") == NULL);
    char arr[300] = "{\"a\":[";
    for (int i = 0; i < 62; i++) strcat(arr, i ? ",1" : "1");
    strcat(arr, "]}");
    CHECK(why_of(arr) == NULL);                      /* 1 object + 1 array + 62 numbers */
    arr[strlen(arr) - 2] = '\0';
    strcat(arr, ",1]}");
    CHECK(strstr(why_of(arr), "too many values") != NULL);
    char deep[200] = "{\"a\":";
    for (int i = 0; i < 64; i++) strcat(deep, "[");
    CHECK(strstr(why_of(deep), "too many values") != NULL);
    CHECK(strstr(why_of("[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18]"), "JSON object") != NULL);
    /* duplicate keys of any length are found, distinct ones are not taken for them */
    size_t n = 300000, len = 0;
    char *big = malloc(2 * n + 64);
    big[len++] = '{';
    for (int k = 0; k < 2; k++) {
        len += (size_t)sprintf(big + len, "%s\"", k ? "," : "");
        memset(big + len, 'k', n);
        len += n;
        len += (size_t)sprintf(big + len, "\":%d", k);
    }
    sprintf(big + len, "}");
    CHECK(strstr(why_of(big), "more than once") != NULL);
    big[len - 4] = 'j';   /* the second key's last byte */
    CHECK(why_of(big) == NULL);
    free(big);
}

TEST(username_length)
{
    const char *name = NULL, *why = NULL;
    char pw[USERS_PASSWORD_LEN + 1];
    static char body[4 * 5001 + 200];
    static const char *const chars[] = { "x", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x9A\x97" };
    for (size_t c = 0; c < sizeof chars / sizeof *chars; c++) {
        for (int n = 4999; n <= 5001; n++) {
            size_t len = (size_t)snprintf(body, sizeof body, "{\"username\":\"");
            for (int i = 0; i < n; i++) len += (size_t)snprintf(body + len, sizeof body - len, "%s", chars[c]);
            snprintf(body + len, sizeof body - len, "\",\"password\":\"" PW "\"}");
            cJSON *b;
            int rc = parse_new(body, &name, pw, &why, &b);
            cJSON_Delete(b);
            CHECK_INT(rc, n <= 5000 ? 0 : -1);
            if (rc) CHECK(strstr(why, "at most 5000 characters") != NULL);
        }
    }
    CHECK_INT(api_utf8_chars("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x9A\x97"), 4);
    CHECK(!api_username_fits(""));
    CHECK(!api_username_fits(NULL));
    CHECK(api_username_fits("a"));
}

TEST(limits)
{
    int64_t n = 0;
    CHECK(api_parse_limit("1", &n) == 0 && n == 1);
    CHECK(api_parse_limit("100000", &n) == 0 && n == 100000);
    static const char *const bad[] = { "0", "100001", "-1", "", "01", "1.5", "1e3", " 1", "99999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(api_parse_limit(bad[i], &n) != 0);
    CHECK(api_parse_limit(NULL, &n) != 0);
}

TEST(log_quotes)
{
    char q[API_QUOTE_SIZE];
    api_quote(q, sizeof q, "alice");
    CHECK_STR(q, "alice");
    api_quote(q, sizeof q, "a\nb\\\xC3\xA9");
    CHECK_STR(q, "a\\x0Ab\\x5C\\xC3\\xA9");
    char longer[200];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    api_quote(q, sizeof q, longer);
    CHECK_INT(strlen(q), 67);
    CHECK(strcmp(q + 64, "...") == 0);
    memset(longer, '\x01', sizeof longer - 1);
    api_quote(q, sizeof q, longer);   /* every byte escaped: still fits */
    CHECK_INT(strlen(q), 64 * 4 + 3);
    char tiny[6];
    api_quote(tiny, sizeof tiny, "abcdefgh");
    CHECK(strlen(tiny) < sizeof tiny);
    api_quote(q, sizeof q, NULL);
    CHECK_STR(q, "");
}

int main(void)
{
    test_suite = __FILE__;
    RUN(passwords);
    RUN(add_user_bodies);
    RUN(utf8);
    RUN(nul_escapes);
    RUN(object_bodies);
    RUN(bodies_are_bounded_before_parsing);
    RUN(username_length);
    RUN(limits);
    RUN(log_quotes);
    return test_done();
}
