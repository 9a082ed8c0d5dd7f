/*
 * store_struct.c - a message's structure, computed once when its body is
 * stored (schema version 2).
 *
 * body_struct holds, per body, what store/mime.c derives from the bytes:
 * the ENVELOPE, BODY and BODYSTRUCTURE values ready to send, and the part
 * table that locates every section.  FETCH reads this row and, for
 * sections, a byte range of the body: it never parses MIME.  Copies share
 * the body, hence the row; it goes with the body (ON DELETE CASCADE).
 *
 * Offers body_struct_add() to store_msg.c, the version 2 migration that
 * fills the table for bodies stored before it existed, and
 * store_body_struct() to the mailbox process.
 */
#include "store/store_int.h"
#include "store/mime.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/log.h"

const char store_schema_v2[] =
	"CREATE TABLE body_struct ("
	"  id INTEGER PRIMARY KEY REFERENCES bodies (id) ON DELETE CASCADE,"
	"  version INTEGER NOT NULL,"
	"  envelope BLOB NOT NULL,"
	"  body BLOB NOT NULL,"
	"  bodystructure BLOB NOT NULL,"
	"  parts BLOB NOT NULL"
	");";

static const char SQL_PUT[] =
	"INSERT OR REPLACE INTO body_struct"
	" (id, version, envelope, body, bodystructure, parts)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

int
body_struct_put(struct sqldb *db, int64_t body_id, const struct mime_result *r)
{
	sqlite3_stmt *st = db_stmt(db, SQL_PUT);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	sqlite3_bind_int(st, 2, MIME_PARTS_VERSION);
	sqlite3_bind_blob64(st, 3, r->envelope, r->envelope_len, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 4, r->body, r->body_len, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 5, r->bodystructure, r->bodystructure_len,
	    SQLITE_STATIC);
	sqlite3_bind_blob64(st, 6, r->parts, r->parts_len, SQLITE_STATIC);
	return db_run(db, st, "body structure");
}

int
body_migrate_each(struct sqldb *db, const char *sql, body_row_fn fn,
    const char *what)
{
	sqlite3_stmt *st = db_stmt(db, sql);
	struct arena a;
	int rc = 0, step = SQLITE_DONE;
	size_t n = 0;

	if (st == NULL)
		return -1;
	arena_init(&a, 0);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		arena_reset(&a);
		rc = fn(db, &a, st);
		n++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(db, what);
	db_done(db, st);
	arena_free(&a);
	if (rc == 0 && n > 0)
		log_info("computed the %s of %zu stored messages", what, n);
	return rc;
}

static int
struct_of_row(struct sqldb *db, struct arena *a, sqlite3_stmt *st)
{
	struct mime_result r;
	const char *data = sqlite3_column_blob(st, 1);
	size_t len = (size_t)sqlite3_column_bytes(st, 1);

	if (mime_analyze(a, data ? data : "", len, &r) != 0)
		return db_err(db, -1, "out of memory analyzing body %lld",
		    (long long)sqlite3_column_int64(st, 0));
	return body_struct_put(db, sqlite3_column_int64(st, 0), &r);
}

/* Version 2: structure for every body stored before it existed. */
int
store_migrate_struct(struct sqldb *db)
{
	return body_migrate_each(db, "SELECT b.id, d.data FROM bodies b"
	    " JOIN body_data d ON d.id = b.id", struct_of_row, "structure");
}

static const void *
copy_col(struct arena *a, sqlite3_stmt *st, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(st, col);
	char *out;

	*len = (size_t)sqlite3_column_bytes(st, col);
	if ((out = arena_alloc(a, *len + 1)) == NULL)
		return NULL;
	if (*len)
		memcpy(out, p, *len);
	return out;
}

int
store_body_struct(struct store *s, int64_t body_id, struct arena *a,
    struct body_struct *out)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT envelope, body,"
	    " bodystructure, parts FROM body_struct WHERE id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->envelope = copy_col(a, st, 0, &out->envelope_len);
		out->body = copy_col(a, st, 1, &out->body_len);
		out->bodystructure = copy_col(a, st, 2, &out->bodystructure_len);
		out->parts = copy_col(a, st, 3, &out->parts_len);
		rc = (out->envelope && out->body && out->bodystructure &&
		    out->parts) ? 0 : db_err(&s->db, -1, "out of memory");
	} else if (rc == SQLITE_DONE)
		rc = db_err(&s->db, MK_NOTFOUND, "no structure for body %lld",
		    (long long)body_id);
	else
		rc = db_fail(&s->db, "body structure");
	db_done(&s->db, st);
	return rc;
}
