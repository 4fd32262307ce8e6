/*
 * users_api.h — the users service's routes (docs/api.md, "Users"), on the orchestrator's
 * DB API. The service keeps no data of its own.
 */
#ifndef RS_USERS_API_H
#define RS_USERS_API_H

struct http_server;
struct http_request;
struct http_response;
struct dbclient;

/* Registers every users route on s, handlers reading db (which must outlive
 * the server). Returns 0, or -1 if a route could not be added. */
int users_api_register(struct http_server *s, const struct dbclient *db);

/* GET /api/v1/users (users_list.c); ctx is the dbclient. */
void users_on_list(const struct http_request *req, struct http_response *res, void *ctx);

#endif
