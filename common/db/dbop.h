/*
 * dbop.h — DB operations: the structured JSON of the DB API, parsed and
 * validated.
 *
 * One operation, as a JSON object (full reference with examples: docs/db-api.md):
 *   {"op":"insert", "table":T, "values":{col: v, ...}}
 *   {"op":"update", "table":T, "set":{col: v, ...}, "where":W}
 *   {"op":"delete", "table":T, "where":W}
 *   {"op":"select", "table":T, "columns":[col,...], "where":W,
 *                   "order":[{"column":col, "dir":"asc"|"desc"}, ...], "limit":n,
 *                   "after":{col: v, ...}, "max_bytes":n}
 *   {"op":"count",  "table":T, "where":W}
 *   {"op":"clear"}   (empties every table; only from /api/v1/db/clear)
 * W is an object: {col: v} for equality, {col: {"gt": v, "le": v, ...}} for
 * comparisons (eq ne lt le gt ge); conditions are ANDed. "where" is optional
 * for select and count, required (non-empty) for update and delete.
 * A value is a JSON string for a TEXT column and an integer of at most
 * DBOP_MAX_INT in magnitude for an INTEGER column; nothing else (no null,
 * no floats, no coercion).
 *
 * Paging a select (keyset: each page costs the same, however deep): "after"
 * holds the "order" columns' values of the last row already seen, and only
 * rows strictly after it in that order come back; every "order" column must
 * be in it, nothing else, and all of "order" must go one way (asc or desc).
 * "max_bytes" bounds the answer's size: rows stop once their JSON text has
 * passed max_bytes (the row that passes it is the last one, so a page is
 * never empty while rows remain), and the answer then says "more": true.
 *
 * A parsed operation points into the cJSON tree it came from (strings are
 * not copied): keep the tree alive while the operation is used.
 */
#ifndef RS_DBOP_H
#define RS_DBOP_H

#include <stddef.h>
#include <stdint.h>
#include "dbschema.h"

struct cJSON;

enum dbop_kind { DBOP_INSERT, DBOP_UPDATE, DBOP_DELETE, DBOP_SELECT, DBOP_COUNT, DBOP_CLEAR };
enum dbop_cmp { DBOP_EQ, DBOP_NE, DBOP_LT, DBOP_LE, DBOP_GT, DBOP_GE };

struct db_value {
    enum db_type type;
    int64_t i;             /* DB_INTEGER */
    const char *s;         /* DB_TEXT: NUL-terminated, may hold any UTF-8 */
    size_t len;            /* DB_TEXT: length in bytes */
};

struct dbop_assign { int col; struct db_value v; };
struct dbop_filter { int col; enum dbop_cmp cmp; struct db_value v; };
struct dbop_order  { int col; int desc; };

/* 15 digits: cJSON prints a number with 15 significant digits whenever
 * that reads back "close enough", so a larger integer (up to 2^53) could
 * change between the operation a master applies and the copy it logs. */
#define DBOP_MAX_INT 999999999999999LL

#define DBOP_MAX_FILTERS 16
#define DBOP_MAX_LIMIT 100000
#define DBOP_MAX_BYTES (16 * 1024 * 1024)

struct dbop {
    enum dbop_kind kind;
    const struct db_table *table;          /* NULL for clear */
    int ncols; int cols[DB_MAX_COLUMNS];   /* select: columns to return (all when none given) */
    int nset;  struct dbop_assign set[DB_MAX_COLUMNS];       /* insert values / update set */
    int nwhere; struct dbop_filter where[DBOP_MAX_FILTERS];
    int norder; struct dbop_order order[DB_MAX_COLUMNS];
    int nafter; struct db_value after[DB_MAX_COLUMNS];  /* select: values of order[0..nafter) */
    int64_t limit;                          /* -1: none */
    int64_t max_bytes;                      /* select: 0 for none */
};

/* Flags of dbop_parse. */
#define DBOP_ALLOW_AUTO  1u  /* insert may set DBCOL_AUTO columns (log entries from the master) */
#define DBOP_ALLOW_CLEAR 2u  /* "clear" is accepted */

/* Parses and validates json into *op. Returns 0, or -1 with a message naming
 * the problem in err (e.g. "unknown column 'x' in table 'users'"). */
int dbop_parse(const struct cJSON *json, unsigned flags, struct dbop *op, char *err, size_t errlen);

/* Whether the operation changes data (insert, update, delete, clear). */
int dbop_is_write(const struct dbop *op);

/* Name of a kind / comparison, for messages and SQL. */
const char *dbop_kind_name(enum dbop_kind k);

#endif
