/*
 * freeze.c - users being moved to another backend (doc/move.md): while
 * mailkeepctl move copies a user's store for the last time, nothing may
 * change it.  A frozen user gets no new session of any kind: a login
 * is answered NO [UNAVAILABLE], an LMTP recipient 451 4.3.0 (the MTA
 * keeps the message and retries), a shared-folder or URLAUTH channel is
 * refused; freezing ends the user's client sessions with BYE.
 *
 * A freeze lasts at most the seconds it was asked for, so a move that
 * dies (mailkeepctl killed, the machine of the target gone) never
 * leaves a user locked out: the next attempt freezes again.  The table
 * is small and bounded (FREEZE_MAX users at once): moves are an
 * operator's action, one user at a time.
 *
 *   freeze_user()    control.c's "freeze USER SECONDS"
 *   thaw_user()      control.c's "thaw USER"
 *   freeze_active()  asked by authz.c (logins) and sessions.c (every
 *                    other session)
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

#define FREEZE_MAX 16

static struct frozen {
	char     name[MK_USER_MAX];
	uint64_t until;		/* monotonic ms; 0: free slot */
} frozen[FREEZE_MAX];

static struct frozen *
find(const char *name)
{
	uint64_t now = now_ms();

	for (size_t i = 0; i < FREEZE_MAX; i++)
		if (frozen[i].until > now && strcmp(frozen[i].name, name) == 0)
			return &frozen[i];
	return NULL;
}

bool
freeze_active(const char *name)
{
	return find(name) != NULL;
}

int
freeze_user(const char *name, unsigned seconds, unsigned *kicked)
{
	struct frozen *f = find(name);
	uint64_t now = now_ms();

	for (size_t i = 0; f == NULL && i < FREEZE_MAX; i++)
		if (frozen[i].until <= now)
			f = &frozen[i];
	if (f == NULL)
		return -1;
	mk_strlcpy(f->name, name, sizeof(f->name));
	f->until = now + (uint64_t)seconds * 1000;
	*kicked = sessions_kick(name, "Moving to another server, please "
	    "reconnect");
	log_info("%s frozen for %u s (being moved): %u session%s ended",
	    name, seconds, *kicked, *kicked == 1 ? "" : "s");
	return 0;
}

void
thaw_user(const char *name)
{
	struct frozen *f = find(name);

	if (f != NULL) {
		f->until = 0;
		log_info("%s thawed", name);
	}
}
