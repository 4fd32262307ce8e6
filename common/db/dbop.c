/*
 * dbop.c — parsing and validation of DB operations (grammar in dbop.h).
 *
 * dbop_parse walks the cJSON tree once and fills a struct dbop whose every
 * table and column is an index into the schema of dbschema.h and whose
 * every value already has the column's type. Anything the grammar does not
 * allow is an error: unknown or misplaced keys, unknown names, values of
 * the wrong JSON type, duplicates. Being strict here is what lets the
 * worker build SQL without looking at client text, and what makes the
 * orchestrator (which validates before publishing) and the worker (which
 * validates again) agree on the meaning of every accepted operation.
 *
 * cJSON keeps every member of an object, duplicates included, and its
 * lookup returns the first one; another JSON reader would take the last.
 * So duplicates are rejected wherever they occur (top-level keys, columns
 * in values/set/where/columns/order, operators of one condition) rather
 * than silently picking one.
 *
 * Cost is linear in the size of the input: names are matched against small
 * fixed sets, duplicates found with bit masks, and the loops over client
 * arrays stop at the first error or once a bound (filters, columns) is
 * passed.
 *
 * Error messages are short and may be returned to the client as they are;
 * client text quoted in them is cut to QUOTE_MAX bytes and reduced to
 * printable ASCII, so a message never carries control bytes or a broken
 * UTF-8 sequence.
 */
#include "dbop.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

#define QUOTE_MAX 64

static const char *const kind_names[] = {
    [DBOP_INSERT] = "insert", [DBOP_UPDATE] = "update", [DBOP_DELETE] = "delete",
    [DBOP_SELECT] = "select", [DBOP_COUNT] = "count",   [DBOP_CLEAR] = "clear",
};
#define NKINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

static const char *const cmp_names[] = {
    [DBOP_EQ] = "eq", [DBOP_NE] = "ne", [DBOP_LT] = "lt",
    [DBOP_LE] = "le", [DBOP_GT] = "gt", [DBOP_GE] = "ge",
};
#define NCMPS ((int)(sizeof cmp_names / sizeof cmp_names[0]))

/* Top-level keys, and for each the kinds that accept it. */
enum { K_OP, K_TABLE, K_VALUES, K_SET, K_WHERE, K_COLUMNS, K_ORDER, K_LIMIT, K_AFTER, K_MAX_BYTES, NKEYS };
#define KB(k) (1u << (k))
static const struct { const char *name; unsigned kinds; } keys[NKEYS] = {
    [K_OP]      = { "op",      ~0u },
    [K_TABLE]   = { "table",   ~KB(DBOP_CLEAR) },
    [K_VALUES]  = { "values",  KB(DBOP_INSERT) },
    [K_SET]     = { "set",     KB(DBOP_UPDATE) },
    [K_WHERE]   = { "where",   KB(DBOP_UPDATE) | KB(DBOP_DELETE) | KB(DBOP_SELECT) | KB(DBOP_COUNT) },
    [K_COLUMNS] = { "columns", KB(DBOP_SELECT) },
    [K_ORDER]   = { "order",   KB(DBOP_SELECT) },
    [K_LIMIT]   = { "limit",   KB(DBOP_SELECT) },
    [K_AFTER]   = { "after",   KB(DBOP_SELECT) },
    [K_MAX_BYTES] = { "max_bytes", KB(DBOP_SELECT) },
};

struct check {
    struct dbop *op;
    unsigned flags;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct check *cx, const char *fmt, ...)
{
    if (cx->err && cx->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cx->err, cx->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Client text made fit for a message: printable ASCII only, at most
 * QUOTE_MAX bytes of it, "..." when cut. buf must hold QUOTE_MAX + 4. */
static const char *quote(char *buf, const char *s)
{
    size_t i = 0;
    if (!s) s = "";
    for (; s[i] && i < QUOTE_MAX; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i]) { memcpy(buf + i, "...", 3); i += 3; }
    buf[i] = '\0';
    return buf;
}
#define QBUF char qb[QUOTE_MAX + 4]
#define Q(s) quote(qb, (s))

static const char *name_of(const cJSON *m) { return m->string ? m->string : ""; }

static int find_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (s && strcmp(names[i], s) == 0) return i;
    return -1;
}

/* The column named by client text, or an error naming it. */
static int column(struct check *cx, const char *name, int *out)
{
    QBUF;
    const struct db_table *t = cx->op->table;
    *out = db_column_find(t, name);
    if (*out < 0) return fail(cx, "unknown column '%s' in table '%s'", Q(name), t->name);
    return 0;
}

/* v as a value of column col: a string for TEXT, an exact integer for
 * INTEGER, nothing else. */
static int value(struct check *cx, int col, const cJSON *v, struct db_value *out)
{
    const struct db_column *c = &cx->op->table->cols[col];
    memset(out, 0, sizeof *out);
    out->type = c->type;
    if (c->type == DB_TEXT) {
        if (!cJSON_IsString(v) || !v->valuestring)
            return fail(cx, "column '%s' expects a string", c->name);
        out->s = v->valuestring;
        out->len = strlen(v->valuestring);
        return 0;
    }
    if (!json_as_int(v, &out->i))
        return fail(cx, "column '%s' expects an integer", c->name);
    if (out->i > DBOP_MAX_INT || out->i < -DBOP_MAX_INT)
        return fail(cx, "column '%s' expects an integer of at most 15 digits", c->name);
    return 0;
}

/* "values" of an insert (insert != 0) or "set" of an update. Stored in
 * table order, whatever the client's order, so that the same operation
 * always gives the same SQL text (the worker can cache statements). */
static int assigns(struct check *cx, const cJSON *obj, int insert)
{
    struct dbop *op = cx->op;
    const struct db_table *t = op->table;
    const char *what = insert ? "values" : "set";
    struct db_value vals[DB_MAX_COLUMNS];
    unsigned seen = 0;

    if (!cJSON_IsObject(obj)) return fail(cx, "'%s' must be an object", what);
    for (const cJSON *m = obj->child; m; m = m->next) {
        int c;
        if (column(cx, name_of(m), &c)) return -1;
        if (seen & (1u << c)) return fail(cx, "duplicate column '%s' in '%s'", t->cols[c].name, what);
        if ((t->cols[c].flags & DBCOL_AUTO) && !(insert && (cx->flags & DBOP_ALLOW_AUTO)))
            return fail(cx, "column '%s' is chosen by the server and cannot be set", t->cols[c].name);
        if (value(cx, c, m, &vals[c])) return -1;
        seen |= 1u << c;
    }
    if (insert) {
        for (int c = 0; c < t->ncols; c++)
            if (!(seen & (1u << c)) && !(t->cols[c].flags & DBCOL_AUTO))
                return fail(cx, "missing column '%s' in 'values'", t->cols[c].name);
    } else if (!seen) {
        return fail(cx, "'set' must not be empty");
    }
    for (int c = 0; c < t->ncols; c++)
        if (seen & (1u << c)) {
            op->set[op->nset].col = c;
            op->set[op->nset].v = vals[c];
            op->nset++;
        }
    return 0;
}

static int filter(struct check *cx, int col, enum dbop_cmp cmp, const cJSON *v)
{
    struct dbop *op = cx->op;
    if (op->nwhere >= DBOP_MAX_FILTERS)
        return fail(cx, "too many conditions in 'where' (at most %d)", DBOP_MAX_FILTERS);
    struct dbop_filter *f = &op->where[op->nwhere];
    f->col = col;
    f->cmp = cmp;
    if (value(cx, col, v, &f->v)) return -1;
    op->nwhere++;
    return 0;
}

/* {col: v} is equality; {col: {"gt": v, ...}} one filter per operator. */
static int where(struct check *cx, const cJSON *w)
{
    QBUF;
    const struct db_table *t = cx->op->table;
    unsigned seen = 0;

    if (!cJSON_IsObject(w)) return fail(cx, "'where' must be an object");
    for (const cJSON *m = w->child; m; m = m->next) {
        int c;
        if (column(cx, name_of(m), &c)) return -1;
        if (seen & (1u << c)) return fail(cx, "duplicate column '%s' in 'where'", t->cols[c].name);
        seen |= 1u << c;
        if (!cJSON_IsObject(m)) {
            if (filter(cx, c, DBOP_EQ, m)) return -1;
            continue;
        }
        unsigned ops = 0;
        for (const cJSON *o = m->child; o; o = o->next) {
            int k = find_name(cmp_names, NCMPS, name_of(o));
            if (k < 0)
                return fail(cx, "unknown operator '%s' for column '%s' (eq ne lt le gt ge)",
                            Q(name_of(o)), t->cols[c].name);
            if (ops & (1u << k))
                return fail(cx, "duplicate operator '%s' for column '%s'", cmp_names[k], t->cols[c].name);
            ops |= 1u << k;
            if (filter(cx, c, (enum dbop_cmp)k, o)) return -1;
        }
        if (!ops) return fail(cx, "empty condition for column '%s'", t->cols[c].name);
    }
    return 0;
}

/* Update and delete: a "where" with at least one condition, so that no
 * single operation rewrites or empties a whole table by omission. */
static int required_where(struct check *cx, const cJSON *w)
{
    const char *kind = kind_names[cx->op->kind];
    if (!w) return fail(cx, "missing 'where' (%s needs at least one condition)", kind);
    if (where(cx, w)) return -1;
    if (!cx->op->nwhere) return fail(cx, "'where' must not be empty for %s", kind);
    return 0;
}

static int columns(struct check *cx, const cJSON *a)
{
    struct dbop *op = cx->op;
    unsigned seen = 0;

    if (!cJSON_IsArray(a)) return fail(cx, "'columns' must be an array of column names");
    for (const cJSON *e = a->child; e; e = e->next) {
        int c;
        if (!cJSON_IsString(e) || !e->valuestring)
            return fail(cx, "'columns' must be an array of column names");
        if (column(cx, e->valuestring, &c)) return -1;
        if (seen & (1u << c))
            return fail(cx, "duplicate column '%s' in 'columns'", op->table->cols[c].name);
        seen |= 1u << c;
        op->cols[op->ncols++] = c;
    }
    if (!op->ncols) return fail(cx, "'columns' must not be empty");
    return 0;
}

static int order(struct check *cx, const cJSON *a)
{
    QBUF;
    struct dbop *op = cx->op;
    unsigned seen = 0;
    static const char shape[] = "'order' must be an array of {\"column\": name, \"dir\": \"asc\"|\"desc\"}";

    if (!cJSON_IsArray(a)) return fail(cx, "%s", shape);
    for (const cJSON *e = a->child; e; e = e->next) {
        const cJSON *col = NULL, *dir = NULL;
        int c;
        if (!cJSON_IsObject(e)) return fail(cx, "%s", shape);
        for (const cJSON *k = e->child; k; k = k->next) {
            const cJSON **slot = strcmp(name_of(k), "column") == 0 ? &col
                               : strcmp(name_of(k), "dir") == 0 ? &dir : NULL;
            if (!slot) return fail(cx, "unknown key '%s' in 'order'", Q(name_of(k)));
            if (*slot) return fail(cx, "duplicate key '%s' in 'order'", name_of(k));
            *slot = k;
        }
        if (!col) return fail(cx, "missing 'column' in 'order'");
        if (!cJSON_IsString(col) || !col->valuestring) return fail(cx, "'column' in 'order' must be a string");
        if (column(cx, col->valuestring, &c)) return -1;
        if (seen & (1u << c))
            return fail(cx, "duplicate column '%s' in 'order'", op->table->cols[c].name);
        seen |= 1u << c;
        int desc = 0;
        if (dir) {
            if (cJSON_IsString(dir) && dir->valuestring && strcmp(dir->valuestring, "desc") == 0) desc = 1;
            else if (!cJSON_IsString(dir) || !dir->valuestring || strcmp(dir->valuestring, "asc") != 0)
                return fail(cx, "'dir' in 'order' must be \"asc\" or \"desc\"");
        }
        op->order[op->norder].col = c;
        op->order[op->norder].desc = desc;
        op->norder++;
    }
    return 0;
}

/* "after": one value for each "order" column, stored in the order's order,
 * so that the SQL's row value and its parameters line up. */
static int after(struct check *cx, const cJSON *obj)
{
    struct dbop *op = cx->op;
    const struct db_table *t = op->table;
    int pos[DB_MAX_COLUMNS];   /* column -> its place in "order", or -1 */
    unsigned seen = 0;

    if (!op->norder) return fail(cx, "'after' needs 'order'");
    if (!cJSON_IsObject(obj)) return fail(cx, "'after' must be an object");
    for (int c = 0; c < t->ncols; c++) pos[c] = -1;
    for (int i = 0; i < op->norder; i++) {
        if (op->order[i].desc != op->order[0].desc)
            return fail(cx, "'after' needs every 'order' column in the same direction");
        pos[op->order[i].col] = i;
    }
    for (const cJSON *m = obj->child; m; m = m->next) {
        int c;
        if (column(cx, name_of(m), &c)) return -1;
        if (pos[c] < 0) return fail(cx, "column '%s' in 'after' is not in 'order'", t->cols[c].name);
        if (seen & (1u << c)) return fail(cx, "duplicate column '%s' in 'after'", t->cols[c].name);
        seen |= 1u << c;
        if (value(cx, c, m, &op->after[pos[c]])) return -1;
    }
    for (int i = 0; i < op->norder; i++)
        if (!(seen & (1u << op->order[i].col)))
            return fail(cx, "missing column '%s' in 'after'", t->cols[op->order[i].col].name);
    op->nafter = op->norder;
    return 0;
}

/* A select's "limit" or "max_bytes": an integer in [1, max]. */
static int bound(struct check *cx, const cJSON *v, const char *name, int64_t max, int64_t *out)
{
    int64_t n;
    if (!json_as_int(v, &n) || n < 1 || n > max)
        return fail(cx, "'%s' must be an integer from 1 to %lld", name, (long long)max);
    *out = n;
    return 0;
}

int dbop_parse(const cJSON *json, unsigned flags, struct dbop *op, char *err, size_t errlen)
{
    QBUF;
    struct check cx = { op, flags, err, errlen };
    const cJSON *k[NKEYS] = { 0 };
    const cJSON *dup = NULL, *unknown = NULL;

    memset(op, 0, sizeof *op);
    op->limit = -1;
    if (err && errlen) err[0] = '\0';
    if (!cJSON_IsObject(json)) return fail(&cx, "operation must be a JSON object");

    /* One pass over the members: known keys by slot, and the first
     * duplicate and first unknown key, reported once "op" is known. */
    for (const cJSON *m = json->child; m; m = m->next) {
        int i;
        for (i = 0; i < NKEYS && strcmp(keys[i].name, name_of(m)) != 0; i++) {}
        if (i == NKEYS) { if (!unknown) unknown = m; }
        else if (k[i]) { if (!dup) dup = m; }
        else k[i] = m;
    }

    if (!k[K_OP]) return fail(&cx, "missing 'op'");
    if (!cJSON_IsString(k[K_OP]) || !k[K_OP]->valuestring) return fail(&cx, "'op' must be a string");
    int kind = find_name(kind_names, NKINDS, k[K_OP]->valuestring);
    if (kind < 0)
        return fail(&cx, "unknown op '%s' (insert update delete select count)", Q(k[K_OP]->valuestring));
    if (kind == DBOP_CLEAR && !(flags & DBOP_ALLOW_CLEAR))
        return fail(&cx, "op 'clear' is not allowed here");
    op->kind = (enum dbop_kind)kind;
    if (dup) return fail(&cx, "duplicate key '%s'", name_of(dup));
    if (unknown) return fail(&cx, "unknown key '%s'", Q(name_of(unknown)));
    for (int i = 0; i < NKEYS; i++)
        if (k[i] && !(keys[i].kinds & KB(kind))) {
            if (kind == DBOP_CLEAR) return fail(&cx, "'clear' takes no other keys");
            return fail(&cx, "key '%s' is not allowed for %s", keys[i].name, kind_names[kind]);
        }
    if (kind == DBOP_CLEAR) return 0;

    if (!k[K_TABLE]) return fail(&cx, "missing 'table'");
    if (!cJSON_IsString(k[K_TABLE]) || !k[K_TABLE]->valuestring) return fail(&cx, "'table' must be a string");
    op->table = db_table_find(k[K_TABLE]->valuestring);
    if (!op->table) return fail(&cx, "unknown table '%s'", Q(k[K_TABLE]->valuestring));

    switch (op->kind) {
    case DBOP_INSERT:
        if (!k[K_VALUES]) return fail(&cx, "missing 'values'");
        return assigns(&cx, k[K_VALUES], 1);
    case DBOP_UPDATE:
        if (!k[K_SET]) return fail(&cx, "missing 'set'");
        if (assigns(&cx, k[K_SET], 0)) return -1;
        return required_where(&cx, k[K_WHERE]);
    case DBOP_DELETE:
        return required_where(&cx, k[K_WHERE]);
    case DBOP_SELECT:
        if (k[K_COLUMNS]) {
            if (columns(&cx, k[K_COLUMNS])) return -1;
        } else {
            for (int c = 0; c < op->table->ncols; c++) op->cols[op->ncols++] = c;
        }
        if (k[K_WHERE] && where(&cx, k[K_WHERE])) return -1;
        if (k[K_ORDER] && order(&cx, k[K_ORDER])) return -1;
        if (k[K_AFTER] && after(&cx, k[K_AFTER])) return -1;
        if (k[K_LIMIT] && bound(&cx, k[K_LIMIT], "limit", DBOP_MAX_LIMIT, &op->limit)) return -1;
        if (k[K_MAX_BYTES] && bound(&cx, k[K_MAX_BYTES], "max_bytes", DBOP_MAX_BYTES, &op->max_bytes))
            return -1;
        return 0;
    case DBOP_COUNT:
        if (k[K_WHERE] && where(&cx, k[K_WHERE])) return -1;
        return 0;
    case DBOP_CLEAR:
        break;
    }
    return 0;
}

int dbop_is_write(const struct dbop *op)
{
    return op->kind == DBOP_INSERT || op->kind == DBOP_UPDATE ||
           op->kind == DBOP_DELETE || op->kind == DBOP_CLEAR;
}

const char *dbop_kind_name(enum dbop_kind k)
{
    return ((int)k >= 0 && (int)k < NKINDS) ? kind_names[k] : "unknown";
}
