/*
 * sqlgen.c — SQL text and parameter binding for DB operations (see sqlgen.h).
 *
 * The text is appended piece by piece into the caller's buffer; a piece
 * that does not fit marks the build as failed instead of being cut, so a
 * truncated statement can never be prepared. Every identifier comes from
 * the schema tables of dbschema.c through the column indexes of the parsed
 * operation; values only ever appear as "?".
 *
 * sqlgen_bind walks the operation in the same order sqlgen_build wrote the
 * placeholders (values, then where, then after, then limit), and finally
 * compares the count with the statement's, which catches a statement
 * prepared from another operation's text.
 */
#include "sqlgen.h"

#include <string.h>

struct sqlbuf {
    char *buf;
    size_t n, len;
    int full;
};

static void put(struct sqlbuf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->full || l >= b->n - b->len) { b->full = 1; return; }
    memcpy(b->buf + b->len, s, l + 1);
    b->len += l;
}

/* A quoted identifier. The schema's names hold no '"', but doubling it
 * keeps the quoting right whatever a future name holds. */
static void put_ident(struct sqlbuf *b, const char *name)
{
    put(b, "\"");
    for (const char *p = name; *p && !b->full; p++) {
        char one[2] = { *p, '\0' };
        put(b, *p == '"' ? "\"\"" : one);
    }
    put(b, "\"");
}

static const char *col_name(const struct dbop *op, int c) { return op->table->cols[c].name; }

/* The where filters, then a select's "after" as one more condition: a row
 * value, ("c1", "c2") > (?, ?), which SQLite compares column by column in
 * order and can answer from an index on those columns (desc: <). */
static void put_where(struct sqlbuf *b, const struct dbop *op)
{
    static const char *const sql_cmp[] = {
        [DBOP_EQ] = " = ?", [DBOP_NE] = " <> ?", [DBOP_LT] = " < ?",
        [DBOP_LE] = " <= ?", [DBOP_GT] = " > ?", [DBOP_GE] = " >= ?",
    };
    for (int i = 0; i < op->nwhere; i++) {
        put(b, i ? " AND " : " WHERE ");
        put_ident(b, col_name(op, op->where[i].col));
        put(b, sql_cmp[op->where[i].cmp]);
    }
    if (op->kind != DBOP_SELECT || !op->nafter) return;
    put(b, op->nwhere ? " AND " : " WHERE ");
    if (op->nafter > 1) put(b, "(");
    for (int i = 0; i < op->nafter; i++) {
        if (i) put(b, ", ");
        put_ident(b, col_name(op, op->order[i].col));
    }
    put(b, op->nafter > 1 ? ") " : " ");
    put(b, op->order[0].desc ? "< " : "> ");
    if (op->nafter > 1) put(b, "(");
    for (int i = 0; i < op->nafter; i++) put(b, i ? ", ?" : "?");
    if (op->nafter > 1) put(b, ")");
}

int sqlgen_build(const struct dbop *op, char *sql, size_t n)
{
    struct sqlbuf b = { sql, n, 0, 0 };
    if (!sql || n == 0) return -1;
    sql[0] = '\0';
    if (!op->table) return -1;

    switch (op->kind) {
    case DBOP_SELECT:
        put(&b, "SELECT ");
        for (int i = 0; i < op->ncols; i++) {
            if (i) put(&b, ", ");
            put_ident(&b, col_name(op, op->cols[i]));
        }
        put(&b, " FROM ");
        put_ident(&b, op->table->name);
        put_where(&b, op);
        for (int i = 0; i < op->norder; i++) {
            put(&b, i ? ", " : " ORDER BY ");
            put_ident(&b, col_name(op, op->order[i].col));
            put(&b, op->order[i].desc ? " DESC" : " ASC");
        }
        if (op->limit >= 0) put(&b, " LIMIT ?");
        break;
    case DBOP_COUNT:
        put(&b, "SELECT COUNT(*) FROM ");
        put_ident(&b, op->table->name);
        put_where(&b, op);
        break;
    case DBOP_INSERT:
        put(&b, "INSERT INTO ");
        put_ident(&b, op->table->name);
        put(&b, " (");
        for (int i = 0; i < op->nset; i++) {
            if (i) put(&b, ", ");
            put_ident(&b, col_name(op, op->set[i].col));
        }
        put(&b, ") VALUES (");
        for (int i = 0; i < op->nset; i++) put(&b, i ? ", ?" : "?");
        put(&b, ")");
        break;
    case DBOP_UPDATE:
        put(&b, "UPDATE ");
        put_ident(&b, op->table->name);
        for (int i = 0; i < op->nset; i++) {
            put(&b, i ? ", " : " SET ");
            put_ident(&b, col_name(op, op->set[i].col));
            put(&b, " = ?");
        }
        put_where(&b, op);
        break;
    case DBOP_DELETE:
        put(&b, "DELETE FROM ");
        put_ident(&b, op->table->name);
        put_where(&b, op);
        break;
    default:
        return -1;
    }
    if (b.full) { sql[0] = '\0'; return -1; }
    return 0;
}

static int bind_value(sqlite3_stmt *st, int idx, const struct db_value *v)
{
    if (v->type == DB_INTEGER) return sqlite3_bind_int64(st, idx, (sqlite3_int64)v->i);
    return sqlite3_bind_text64(st, idx, v->s ? v->s : "", v->s ? (sqlite3_uint64)v->len : 0,
                               SQLITE_TRANSIENT, SQLITE_UTF8);
}

int sqlgen_bind(sqlite3_stmt *st, const struct dbop *op)
{
    int idx = 0, rc;
    if (op->kind == DBOP_INSERT || op->kind == DBOP_UPDATE)
        for (int i = 0; i < op->nset; i++)
            if ((rc = bind_value(st, ++idx, &op->set[i].v)) != SQLITE_OK) return rc;
    if (op->kind != DBOP_INSERT)
        for (int i = 0; i < op->nwhere; i++)
            if ((rc = bind_value(st, ++idx, &op->where[i].v)) != SQLITE_OK) return rc;
    if (op->kind == DBOP_SELECT)
        for (int i = 0; i < op->nafter; i++)
            if ((rc = bind_value(st, ++idx, &op->after[i])) != SQLITE_OK) return rc;
    if (op->kind == DBOP_SELECT && op->limit >= 0)
        if ((rc = sqlite3_bind_int64(st, ++idx, (sqlite3_int64)op->limit)) != SQLITE_OK) return rc;
    return idx == sqlite3_bind_parameter_count(st) ? SQLITE_OK : SQLITE_RANGE;
}

const char *sqlgen_clear_sql(void)
{
    return "DELETE FROM \"ride_members\"; DELETE FROM \"rides\"; DELETE FROM \"users\";";
}
