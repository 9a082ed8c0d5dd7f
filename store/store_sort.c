/*
 * store_sort.c - the sort keys of every body (schema version 5), kept
 * so that SORT and THREAD read rows and never parse a message.
 *
 * body_sort(id -> bodies, subject, reply, from_mbox, to_mbox, cc_mbox,
 *           disp_from, disp_to, msgid, refs)
 *     What mime_sortkeys() derives from the header (store/mime.h,
 *     struct sort_keys), computed at APPEND beside the structure and
 *     shared by copies like the body; it goes with the body (ON DELETE
 *     CASCADE).  The sent date is already in bodies (sent_t).
 *
 * Offers body_sort_put() to store_msg.c, the version 5 migration that
 * fills the table for bodies stored before it, and store_sort_load()
 * (sort.h) to the mailbox process.
 */
#include "store/store_int.h"
#include "store/sort.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/util.h"

const char store_schema_v5[] =
	"CREATE TABLE body_sort ("
	"  id INTEGER PRIMARY KEY REFERENCES bodies (id) ON DELETE CASCADE,"
	"  subject TEXT NOT NULL,"
	"  reply INTEGER NOT NULL,"
	"  from_mbox TEXT NOT NULL,"
	"  to_mbox TEXT NOT NULL,"
	"  cc_mbox TEXT NOT NULL,"
	"  disp_from TEXT NOT NULL,"
	"  disp_to TEXT NOT NULL,"
	"  msgid TEXT NOT NULL,"
	"  refs TEXT NOT NULL"
	");";

static const char SQL_PUT[] =
	"INSERT OR REPLACE INTO body_sort (id, subject, reply, from_mbox,"
	" to_mbox, cc_mbox, disp_from, disp_to, msgid, refs)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

int
body_sort_put(struct sqldb *db, int64_t body_id, const struct sort_keys *k)
{
	sqlite3_stmt *st = db_stmt(db, SQL_PUT);
	const char *text[] = { k->subject, NULL, k->from, k->to, k->cc,
	    k->dfrom, k->dto, k->msgid, k->refs };

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	for (int i = 0; i < (int)nitems(text); i++)
		if (text[i] != NULL)
			sqlite3_bind_text(st, i + 2, text[i], -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, k->reply);
	return db_run(db, st, "sort keys");
}

/* The keys of one stored body, from its header (located by the part
 * table of version 2). */
static int
migrate_one(struct sqldb *db, struct arena *a, sqlite3_stmt *st)
{
	int64_t id = sqlite3_column_int64(st, 0);
	const void *parts = sqlite3_column_blob(st, 1);
	size_t plen = (size_t)sqlite3_column_bytes(st, 1);
	const char *data = sqlite3_column_blob(st, 2);
	size_t len = (size_t)sqlite3_column_bytes(st, 2);
	struct mime_part root;
	struct sort_keys k;

	if (mime_parts_get(parts, plen, 0, &root) < 0 ||
	    root.hdr_off > len || root.hdr_len > len - root.hdr_off)
		return db_err(db, -1, "body %lld: damaged part table",
		    (long long)id);
	if (mime_sortkeys(a, data ? data + root.hdr_off : "",
	    (size_t)root.hdr_len, &k) < 0)
		return db_err(db, -1, "out of memory reading body %lld",
		    (long long)id);
	return body_sort_put(db, id, &k);
}

/* Version 5: sort keys for every body stored before it existed. */
int
store_migrate_sort(struct sqldb *db)
{
	return body_migrate_each(db, "SELECT s.id, s.parts, d.data"
	    " FROM body_struct s JOIN body_data d ON d.id = s.id", migrate_one,
	    "sort keys");
}

/* ---- loading ---- */

#define LOAD_COLS "m.uid, m.internaldate, m.size, b.has_sent, b.sent_t"
static const char SQL_LOAD_ROWS[] =
	"SELECT " LOAD_COLS " FROM messages m JOIN bodies b ON b.id = m.body_id"
	" WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid";
/* Only the columns asked for: a References list is long, and SORT
 * never needs it. */
static const char SQL_LOAD_KEYS[] =
	"SELECT " LOAD_COLS ", k.subject, k.reply, k.from_mbox, k.to_mbox,"
	" k.cc_mbox, k.disp_from, k.disp_to, NULL, NULL"
	" FROM messages m JOIN bodies b ON b.id = m.body_id"
	" LEFT JOIN body_sort k ON k.id = m.body_id"
	" WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid";
static const char SQL_LOAD_THREAD[] =
	"SELECT " LOAD_COLS ", k.subject, k.reply, NULL, NULL, NULL, NULL,"
	" NULL, k.msgid, k.refs"
	" FROM messages m JOIN bodies b ON b.id = m.body_id"
	" LEFT JOIN body_sort k ON k.id = m.body_id"
	" WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid";

static const char *
col_str(struct arena *a, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	if (t == NULL)
		return "";
	return arena_strndup(a, (const char *)t,
	    (size_t)sqlite3_column_bytes(st, col));
}

static bool
read_keys(sqlite3_stmt *st, struct arena *a, struct sort_keys *k)
{
	const char **text[] = { &k->subject, NULL, &k->from, &k->to, &k->cc,
	    &k->dfrom, &k->dto, &k->msgid, &k->refs };

	for (int i = 0; i < (int)nitems(text); i++)
		if (text[i] != NULL && sqlite3_column_type(st, 5 + i) !=
		    SQLITE_NULL && (*text[i] = col_str(a, st, 5 + i)) == NULL)
			return false;
	k->reply = sqlite3_column_int(st, 6) != 0;
	return true;
}

static void
read_row(sqlite3_stmt *st, struct sort_msg *m)
{
	m->uid = (uint32_t)sqlite3_column_int64(st, 0);
	m->num = m->uid;
	m->arrival = sqlite3_column_int64(st, 1);
	m->size = (uint64_t)sqlite3_column_int64(st, 2);
	m->date = sqlite3_column_int(st, 3) ? sqlite3_column_int64(st, 4) :
	    m->arrival;
	m->k.subject = m->k.from = m->k.to = m->k.cc = "";
	m->k.dfrom = m->k.dto = m->k.msgid = m->k.refs = "";
}

int
store_sort_load(struct store *s, const struct mbox *mb, const uint32_t *uids,
    size_t n, enum sort_need need, struct arena *a, struct sort_msg **out,
    size_t *nout)
{
	struct sort_msg *v;
	sqlite3_stmt *st;
	size_t i = 0, o = 0;
	int rc = 0, step = SQLITE_DONE;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return 0;
	if ((v = arena_array(a, n, sizeof(*v))) == NULL)
		return db_err(&s->db, MK_INVALID, "%zu messages are too many "
		    "to sort", n);
	st = db_stmt(&s->db, need == SORT_NEED_KEYS ? SQL_LOAD_KEYS :
	    need == SORT_NEED_THREAD ? SQL_LOAD_THREAD : SQL_LOAD_ROWS);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mb->id);
	sqlite3_bind_int64(st, 2, uids[0]);
	sqlite3_bind_int64(st, 3, uids[n - 1]);
	/* One pass over the mailbox's range, merged with the UID list.  A
	 * UID without a row (gone since the search) is left out. */
	while (i < n && (step = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);

		while (i < n && uids[i] < uid)
			i++;
		if (i == n || uids[i] != uid)
			continue;
		memset(&v[o], 0, sizeof(v[o]));
		read_row(st, &v[o]);
		v[o].seq = (uint32_t)(i + 1);
		if (need != SORT_NEED_ROWS && !read_keys(st, a, &v[o].k)) {
			rc = db_err(&s->db, MK_INVALID, "%zu messages are too "
			    "many to sort", n);
			break;
		}
		i++;
		o++;
	}
	if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = db_fail(&s->db, "sort");
	db_done(&s->db, st);
	if (rc == 0) {
		*out = v;
		*nout = o;
	}
	return rc;
}
