/* users_valid.c — see users_valid.h. */
#include "users_valid.h"

#include <ctype.h>
#include <string.h>

#include "apiutil.h"

int users_password_valid(const char *s)
{
    if (!s) return 0;
    size_t i = 0;
    for (; s[i]; i++)
        if (i >= USERS_PASSWORD_LEN || !isxdigit((unsigned char)s[i])) return 0;
    return i == USERS_PASSWORD_LEN;
}

int users_username_valid(const char *s) { return api_username_fits(s); }

int users_parse_new(const cJSON *body, const char **username,
                    char password[USERS_PASSWORD_LEN + 1], const char **why)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(body, "username");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "password");
    if (!u) { *why = "missing field 'username'"; return -1; }
    if (!cJSON_IsString(u) || !u->valuestring) { *why = "'username' must be a string"; return -1; }
    if (!u->valuestring[0]) { *why = "'username' must not be empty"; return -1; }
    if (!users_username_valid(u->valuestring)) { *why = "'username' must be at most 5000 characters"; return -1; }
    if (!p) { *why = "missing field 'password'"; return -1; }
    if (!cJSON_IsString(p) || !p->valuestring) { *why = "'password' must be a string"; return -1; }
    if (!users_password_valid(p->valuestring)) {
        *why = "'password' must be exactly 40 hexadecimal digits (a SHA-1 digest)";
        return -1;
    }
    for (int i = 0; i < USERS_PASSWORD_LEN; i++)
        password[i] = (char)tolower((unsigned char)p->valuestring[i]);
    password[USERS_PASSWORD_LEN] = '\0';
    *username = u->valuestring;
    return 0;
}
