/*
 * discover.c — see discover.h.
 *
 * The answer comes from the network, so every string is checked before it
 * is used: present, a string, short enough for its buffer (never cut), and
 * free of control characters (they would reach the screen and the log). The
 * strings only ever go to the ZooKeeper client, to the AMQP URL (encoded)
 * and to the screen.
 */
#include "discover.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http_client.h"
#include "json.h"

/* Copies obj.key into out (n bytes): 0, or -1 with why. */
static int take_str(const cJSON *obj, const char *key, char *out, size_t n, char *why, size_t why_n)
{
    const char *v = json_get_str(obj, key);
    size_t len = v ? strlen(v) : 0;
    if (!v || !len || len >= n) {
        snprintf(why, why_n, "'%s' is %s", key, !v ? "missing or not a string" : !len ? "empty" : "too long");
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
            snprintf(why, why_n, "'%s' has control characters", key);
            return -1;
        }
    memcpy(out, v, len + 1);
    return 0;
}

int discover_parse(const char *body, size_t len, struct discovered *d, char *why, size_t why_n)
{
    memset(d, 0, sizeof *d);
    cJSON *j = json_parse(body, len);
    const cJSON *a = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "amqp") : NULL;
    int64_t port = 0;
    int rc = -1;
    if (!cJSON_IsObject(j))
        snprintf(why, why_n, "the answer is not a JSON object");
    else if (take_str(j, "zk_hosts", d->zk_hosts, sizeof d->zk_hosts, why, why_n) ||
             take_str(j, "zk_root", d->zk_root, sizeof d->zk_root, why, why_n))
        ;
    else if (d->zk_root[0] != '/')
        snprintf(why, why_n, "'zk_root' does not start with /");
    else if (!cJSON_IsObject(a))
        snprintf(why, why_n, "'amqp' is missing or not an object");
    else if (take_str(a, "host", d->amqp_host, sizeof d->amqp_host, why, why_n) ||
             take_str(a, "vhost", d->amqp_vhost, sizeof d->amqp_vhost, why, why_n))
        ;
    else if (json_get_int(a, "port", &port) != 0 || port < 1 || port > 65535)
        snprintf(why, why_n, "'amqp.port' is not a port number");
    else
        rc = 0;
    d->amqp_port = (int)port;
    cJSON_Delete(j);
    return rc;
}

int discover_fetch(const char *orch_url, const char *const *headers, int timeout_ms, struct discovered *d,
                   char *why, size_t why_n)
{
    char url[700];
    snprintf(url, sizeof url, "%s/api/v1/config", orch_url);
    struct http_result r;
    int rc = -1;
    if (http_call("GET", url, NULL, headers, timeout_ms, &r) != 0)
        snprintf(why, why_n, "%s", r.error[0] ? r.error : "no answer");
    else if (r.status != 200)
        snprintf(why, why_n, "GET /api/v1/config answered %ld", r.status);
    else
        rc = discover_parse(r.body, r.body_len, d, why, why_n);
    http_result_free(&r);
    return rc;
}

/* Whether the orchestrator at url says it is the active one. */
static int is_active(const char *url, const char *const *headers, int timeout_ms)
{
    char u[700];
    snprintf(u, sizeof u, "%s/api/v1/role", url);
    struct http_result r;
    int active = 0;
    if (http_call("GET", u, NULL, headers, timeout_ms, &r) == 0 && r.status == 200) {
        cJSON *j = json_parse(r.body, r.body_len);
        const char *role = json_get_str(j, "role");
        active = role && strcmp(role, "active") == 0;
        cJSON_Delete(j);
    }
    http_result_free(&r);
    return active;
}

int discover_active(const char *list, const char *const *headers, int timeout_ms, char *out, size_t n)
{
    char urls[8][600];
    int count = 0;
    for (const char *p = list; p && count < 8;) {
        size_t len = strcspn(p, ","), skip = len;
        while (len && (*p == ' ' || *p == '\t')) p++, len--, skip--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '/')) len--;
        if (len >= sizeof urls[0] || len >= n) return -1;
        if (len) snprintf(urls[count++], sizeof urls[0], "%.*s", (int)len, p);
        p += skip;
        if (!*p) break;
        p++;
    }
    if (!count) return -1;
    int pick = 0;
    for (int i = 0; count > 1 && i < count; i++)
        if (is_active(urls[i], headers, timeout_ms)) {
            pick = i;
            break;
        }
    snprintf(out, n, "%s", urls[pick]);
    return 0;
}

/* Appends s percent-encoded (all but RFC 3986's unreserved characters). */
static size_t encode(char *out, size_t n, size_t k, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s && k + 4 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c)) {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = 0;
    return k;
}

void discover_amqp_url(const struct discovered *d, const char *user, const char *password, char *out, size_t n)
{
    if (n < 16) {
        if (n) out[0] = 0;
        return;
    }
    size_t k = (size_t)snprintf(out, n, "amqp://");
    k = encode(out, n, k, user);
    if (k + 1 < n) out[k++] = ':';
    k = encode(out, n, k, password);
    int v6 = strchr(d->amqp_host, ':') != NULL;
    int w = snprintf(out + k, n - k, "@%s%s%s:%d/", v6 ? "[" : "", d->amqp_host, v6 ? "]" : "", d->amqp_port);
    k = w < 0 || (size_t)w >= n - k ? n - 1 : k + (size_t)w;
    if (strcmp(d->amqp_vhost, "/") != 0) encode(out, n, k, d->amqp_vhost);
}
