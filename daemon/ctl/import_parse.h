/*
 * import_parse.h - the formats a migration import reads: Maildir++ as
 * Dovecot and Courier write it (file names, dovecot-uidlist,
 * dovecot-keywords, subscriptions) and mbox (From_ lines, mboxrd
 * escaping, Status/X-Status/X-Keywords/X-UID headers).
 *
 * Pure functions over bytes in memory: no file is opened here, so the
 * unit tests and the fuzz target drive them directly.  Used by the
 * source reader of mailkeepctl import (import_src.c).
 */
#ifndef MK_IMPORT_PARSE_H
#define MK_IMPORT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMP_KW_MAX      26	/* dovecot-keywords: letters a..z */
#define IMP_KW_NAME_MAX 128

/* ---- Maildir ---- */

/* The flags of a Maildir file name's info (":2,DFRST..."): MF_* system
 * flags, and in *kwmask bit i for each keyword letter 'a' + i.  'P'
 * (passed) has no IMAP flag and is ignored, as Dovecot does. */
unsigned maildir_info_flags(const char *name, uint32_t *kwmask);
/* Length of the base name (before the first ':'), which is what
 * dovecot-uidlist and courierimapuiddb record. */
size_t   maildir_base_len(const char *name);
/* A Maildir++ folder directory (".Work.Sub") to its IMAP name with '/'
 * ("Work/Sub"); false for anything that is not a folder ("." "..",
 * names not starting with '.', empty levels). */
bool     maildir_folder_name(const char *dirent, char *out, size_t len);

/* dovecot-uidlist (versions 1 and 3) and courierimapuiddb. */
struct uidlist_hdr {
	unsigned version;
	uint32_t uidvalidity;
	uint32_t nextuid;
};
/* The first line: "3 V<uidvalidity> N<nextuid> [G... ...]" or
 * "1 <uidvalidity> <nextuid>".  false if malformed. */
bool uidlist_header(const char *line, size_t len, struct uidlist_hdr *h);
/* One record: "<uid> [extensions] :<base>" (version 3) or "<uid> <base>"
 * (version 1).  The base is returned as a pointer into line and its
 * length.  false if malformed. */
bool uidlist_record(const char *line, size_t len, unsigned version,
	uint32_t *uid, const char **base, size_t *baselen);

/* dovecot-keywords: "<index> <name>" lines; names[i][0] == '\0' where
 * index i is not defined. */
struct maildir_keywords {
	char name[IMP_KW_MAX][IMP_KW_NAME_MAX];
};
void maildir_keywords_parse(const char *text, size_t len,
	struct maildir_keywords *kw);

/* Dovecot's subscriptions file ("V\t2\n\n" then names whose levels are
 * separated by tabs, or an older one name per line) and Courier's
 * courierimapsubscribed ("INBOX.Work.Sub"): each name is handed to cb
 * with '/' between levels where the format says which character
 * separates them; a name of the old format is given as written (the
 * caller matches it against the folders it found). */
void subscriptions_parse(const char *text, size_t len,
	void (*cb)(const char *name, void *arg), void *arg);

/* ---- mbox ---- */

struct mbox_msg {
	size_t  from;		/* offset of the From_ line */
	size_t  off;		/* the message after its From_ line */
	size_t  len;		/* up to the blank line before the next one */
	int64_t date;		/* From_ line date (seconds since the epoch) */
	int     tz;		/* minutes east of UTC */
};

/* Parses a From_ line ("From sender Www Mmm dd hh:mm:ss yyyy [zone]");
 * a date without a zone is local time.  false if it is not one. */
bool mbox_from_line(const char *line, size_t len, int64_t *t, int *tz);
/* The next message at or after *pos (a From_ line must start there, at
 * the start of a line); advances *pos.  false at the end. */
bool mbox_next(const char *buf, size_t n, size_t *pos, struct mbox_msg *m);

/* What an mbox message's bookkeeping headers say. */
struct mbox_meta {
	unsigned flags;			/* MF_* from Status and X-Status */
	char     keywords[1024];	/* X-Keywords, space-separated */
	uint32_t uid;			/* X-UID, 0 if none */
	uint32_t uidvalidity;		/* X-IMAPbase (first message) */
	uint32_t uidnext;
};
void mbox_meta_parse(const char *msg, size_t len, struct mbox_meta *meta);
/* The message as stored: the mbox's own headers (Status, X-Status,
 * X-Keywords, X-UID, X-IMAP, X-IMAPbase, Content-Length) removed, one
 * '>' taken from each line matching ^>+From  (mboxrd).  out must hold
 * len bytes; returns the length written. */
size_t mbox_unescape(const char *msg, size_t len, char *out);

#endif
