/*
 * imap_frame.h - assembling complete commands from a byte stream.
 *
 * The framer takes whatever bytes have arrived (one at a time, or many
 * commands at once) and assembles exactly one command at a time: its line
 * and the literals it announces, inline, in one buffer that imap_parse()
 * then reads.  It enforces the size limits, knows when a synchronizing
 * literal needs a "+" continuation, and resynchronizes after a rejected
 * line whenever the stream allows it.
 *
 *   FRAME_MORE          feed more input
 *   FRAME_COMMAND       imap_frame_data() holds one command; call
 *                       imap_frame_done() when finished with it
 *   FRAME_LITERAL_WAIT  a synchronizing literal {n} was announced: call
 *                       imap_frame_accept() and send "+ ...", or
 *                       imap_frame_reject() and answer the tag yourself
 *   FRAME_BAD           this command was rejected and skipped; answer
 *                       "<f->err_tag> <f->err_resp> <f->err_text>"
 *   FRAME_FATAL         cannot resynchronize: "* BYE <f->err_text>", close
 *
 * Line endings: CRLF, and bare LF is tolerated.  Literals: {n}, {n+}
 * (RFC 7888 LITERAL+), ~{n} and ~{n+} (RFC 3516 literal8).
 *
 * Spooling (the mailbox process): with imap_framer_set_spool(), a large
 * literal of an APPEND goes to a temporary file instead of the command
 * buffer, so a 60 MB message costs a file, not 60 MB of memory.  The
 * command buffer then holds the literal's announcement and CRLF but not
 * its bytes; imap_frame_spooled() says where each spooled literal would
 * have been (its offset in imap_frame_data()) and where it is in the
 * file, and imap_parse_spooled() takes that table.
 */
#ifndef MK_IMAP_FRAME_H
#define MK_IMAP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum frame_result {
	FRAME_MORE,
	FRAME_COMMAND,
	FRAME_LITERAL_WAIT,
	FRAME_BAD,
	FRAME_FATAL,
};

struct imap_frame_limits {
	size_t max_line;		/* one line, without literals */
	size_t max_literal;		/* a literal in any command but APPEND */
	size_t max_append;		/* a literal in APPEND (the message) */
	size_t max_command;		/* whole command, literals included */
	bool   literal_plus;		/* accept {n+} (else BAD) */
};

/* Where large APPEND literals go (see above).  open(arg) returns a new
 * unnamed temporary file for this command's literals, or -1 (the APPEND
 * is refused with "NO [SERVERBUG]").  check(arg, cmd, len, total), if
 * set, is asked before each spooled literal is read, with the command
 * assembled so far and the bytes it would then have spooled: -1 refuses
 * the literal with "NO [OVERQUOTA]" before the client sends it (for a
 * synchronizing {n}). */
struct imap_frame_spool {
	int   (*open)(void *arg);
	int   (*check)(void *arg, const char *cmd, size_t len,
		uint64_t total);
	void   *arg;
	size_t  min;		/* spool literals of at least this size, */
	size_t  cmd_max;	/* or that would grow the buffer past this */
};

/* One spooled literal: its bytes would start at offset at of the
 * assembled command; they are in the spool file at off. */
struct imap_spooled {
	size_t   at;
	uint64_t off;
	size_t   len;
};

struct imap_framer {
	struct imap_frame_limits lim;
	struct imap_frame_spool spool;	/* open == NULL: never spool */
	int        spool_fd;		/* this command's spool file, or -1 */
	uint64_t   spool_len;
	struct imap_spooled *spooled;	/* nspooled entries, ascending */
	size_t     nspooled, capspooled;
	bool       spooling;		/* private: the literal goes to the file */
	struct buf cmd;			/* the command being assembled */
	int        state;		/* private */
	size_t     line_start;		/* private: offset of current line */
	size_t     literal_left;	/* private */
	size_t     skip_left;		/* private */
	bool       is_append;		/* private */
	bool       nonsync;		/* private */
	char       tail[32];		/* private: end of a line being skipped */
	size_t     ntail;
	/* Filled in for FRAME_BAD / FRAME_FATAL / FRAME_LITERAL_WAIT: */
	char       err_tag[128];	/* the command's tag, or "*" */
	const char *err_resp;		/* "BAD" or "NO [TOOBIG]" */
	char       err_text[160];
	size_t     literal_size;	/* for FRAME_LITERAL_WAIT */
};

void imap_framer_init(struct imap_framer *f, const struct imap_frame_limits *lim);
void imap_framer_free(struct imap_framer *f);
/* Between commands: frees the command buffer (allocated again by the
 * next line), so a resting connection holds none. */
void imap_framer_rest(struct imap_framer *f);
void imap_framer_set_spool(struct imap_framer *f,
	const struct imap_frame_spool *sp);
/* Consumes from in as far as it can. */
enum frame_result imap_frame(struct imap_framer *f, struct buf *in);
/* One bare line (IDLE's DONE, an AUTHENTICATE response): no literal
 * processing.  FRAME_COMMAND when a line is complete, FRAME_BAD if it
 * exceeded max_line (the line is skipped). */
enum frame_result imap_frame_line(struct imap_framer *f, struct buf *in);
void imap_frame_accept(struct imap_framer *f);
void imap_frame_reject(struct imap_framer *f);
/* The assembled command without its final line ending. */
const char *imap_frame_data(const struct imap_framer *f, size_t *len);
/* The spooled literals of the assembled command (none: n == 0). */
const struct imap_spooled *imap_frame_spooled(const struct imap_framer *f,
	size_t *n);
/* Hands the command's spool file to the caller, who closes it; -1 if
 * there is none.  Otherwise imap_frame_done() closes it. */
int  imap_frame_take_spool(struct imap_framer *f);
/* Ends the command; a command buffer grown past a few lines is freed,
 * so that one big command does not pin its memory. */
void imap_frame_done(struct imap_framer *f);
/* True if a command is partly assembled (for clean shutdown decisions). */
bool imap_frame_busy(const struct imap_framer *f);

#endif
