/*
 * pop3.h - the POP3 grammar (RFC 1939, RFC 2449, RFC 2595, RFC 5034),
 * shared by the login process (the AUTHORIZATION state, auth/
 * login_pop3.c) and the mailbox process (the TRANSACTION state,
 * daemon/mailbox/pop3.c), as common/imap_parse.c is for IMAP.
 *
 *   pop3_parse()   one command line (framed by imap_frame_line(), without
 *                  its CRLF) into a struct pop3_cmd, or -1 with a reason
 *                  for the "-ERR" that keeps the session going;
 *   pop3_stuff()   a message's bytes as a multi-line response body: lines
 *                  starting with "." get another "." (RFC 1939 3), and for
 *                  TOP the copy stops after the header and n body lines;
 *   pop3_stuff_end() the terminating ".CRLF" (and a CRLF first if the
 *                  message did not end with one).
 */
#ifndef MK_POP3_H
#define MK_POP3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"

/* RFC 2449 4: a command line is at most 255 octets with its CRLF.  The
 * AUTHORIZATION state allows longer ones for SASL responses (RFC 5034
 * 4: the limit does not apply to AUTH): the login process frames with
 * max_preauth_line. */
#define POP3_MAX_LINE 255
/* The longest argument we take (RFC 1939 says 40; user names acting as
 * someone else, "target*admin", may be longer). */
#define POP3_ARG_MAX  255

enum pop3_cmd_id {
	POP3_UNKNOWN = 0,
	POP3_APOP,
	POP3_AUTH,
	POP3_CAPA,
	POP3_DELE,
	POP3_LIST,
	POP3_NOOP,
	POP3_PASS,
	POP3_QUIT,
	POP3_RETR,
	POP3_RSET,
	POP3_STAT,
	POP3_STLS,
	POP3_TOP,
	POP3_UIDL,
	POP3_USER,
};

struct pop3_cmd {
	enum pop3_cmd_id id;
	const char *name;	/* keyword, upper case (unknown ones: printable,
				 * at most 16 characters) */
	const char *arg;	/* USER name, PASS password, AUTH mechanism,
				 * APOP name; NULL if absent */
	size_t      arglen;
	const char *arg2;	/* AUTH initial response ("=" is empty) */
	bool        has_msg;	/* LIST/UIDL with an argument; always for
				 * RETR, DELE, TOP */
	uint32_t    msg;	/* message number, >= 1 */
	uint64_t    lines;	/* TOP: body lines */
};

/* Parses line[0..len) into cmd (strings in a).  0, or -1 with *err set
 * to the reason (cmd->id and cmd->name are set whenever the keyword was
 * read, so the answer can name it). */
int pop3_parse(struct arena *a, const char *line, size_t len,
	struct pop3_cmd *cmd, const char **err);

/* State of one dot-stuffed copy (RETR: lines_limited false). */
struct pop3_stuffer {
	bool     bol;		/* the next byte starts a line */
	bool     in_header;	/* before the first empty line */
	bool     limited;	/* TOP: stop after body_left body lines */
	uint64_t body_left;
	uint64_t linelen;	/* bytes of the current line so far */
	char     first;		/* its first byte */
	bool     ended_nl;	/* the last byte copied was LF */
	bool     done;		/* TOP's limit was reached */
};

void   pop3_stuff_init(struct pop3_stuffer *st, bool top, uint64_t lines);
/* Appends in[0..n) to out, stuffed; returns the bytes consumed, fewer
 * than n only when TOP's limit was reached (st->done).  -1 if out is
 * full. */
int    pop3_stuff(struct pop3_stuffer *st, const char *in, size_t n,
	struct buf *out, size_t *consumed);
/* ".CRLF", after a CRLF if the copy did not end a line.  -1 if full. */
int    pop3_stuff_end(struct pop3_stuffer *st, struct buf *out);

#endif
