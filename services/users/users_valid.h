/*
 * users_valid.h — what a valid add-user request is (docs/api.md, "Users"), as pure
 * functions the unit tests call directly.
 *
 *   username  a non-empty JSON string of at most API_USERNAME_MAX (5000)
 *             characters, any content (quotes, SQL-looking text, any
 *             Unicode), stored byte for byte as sent;
 *   password  a JSON string of exactly 40 hex digits, either case (a SHA-1
 *             digest); stored in lower case, its canonical spelling.
 * Other keys in the body are ignored.
 */
#ifndef RS_USERS_VALID_H
#define RS_USERS_VALID_H

#include "json.h"

#define USERS_PASSWORD_LEN 40

/* Whether s is exactly 40 hex digits. */
int users_password_valid(const char *s);

/* Whether s is a non-empty string of at most API_USERNAME_MAX characters. */
int users_username_valid(const char *s);

/* Checks an add-user body (already known to be an object). On success
 * returns 0 with *username pointing into body and password[] holding the
 * lower-case digest; otherwise -1 with *why (a static message). */
int users_parse_new(const cJSON *body, const char **username,
                    char password[USERS_PASSWORD_LEN + 1], const char **why);

#endif
