/*
 * adminapi.h — the orchestrator's crash endpoints (spec §8.4):
 * POST /api/v1/crash/master and POST /api/v1/crash/slave.
 */
#ifndef RS_ADMINAPI_H
#define RS_ADMINAPI_H

struct http_server;
struct workers;

void adminapi_register(struct http_server *srv, struct workers *ws);

#endif
