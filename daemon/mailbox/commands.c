/*
 * commands.c - the command table of the mailbox process: for each
 * command, the states it is valid in, whether untagged EXPUNGE may follow
 * it, and its handler (in cmd_*.c).  LOGIN, AUTHENTICATE and STARTTLS
 * are not here: they belong to the login process.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/util.h"

static const struct cmd_def table[] = {
	{ CMD_CAPABILITY,  ST_ANY,      0,             cmd_capability },
	{ CMD_NOOP,        ST_ANY,      0,             cmd_noop },
	{ CMD_LOGOUT,      ST_ANY,      0,             cmd_logout },
	{ CMD_ID,          ST_ANY,      0,             cmd_id },
	{ CMD_ENABLE,      ST_AUTH,     0,             cmd_enable },
	{ CMD_NAMESPACE,   ST_ANY,      0,             cmd_namespace },
	{ CMD_SELECT,      ST_ANY,      0,             cmd_select },
	{ CMD_EXAMINE,     ST_ANY,      0,             cmd_select },
	{ CMD_CREATE,      ST_ANY,      CF_WRITES,     cmd_create },
	{ CMD_DELETE,      ST_ANY,      CF_WRITES,     cmd_delete },
	{ CMD_RENAME,      ST_ANY,      CF_WRITES,     cmd_rename },
	{ CMD_SUBSCRIBE,   ST_ANY,      CF_WRITES,     cmd_subscribe },
	{ CMD_UNSUBSCRIBE, ST_ANY,      CF_WRITES,     cmd_subscribe },
	{ CMD_LIST,        ST_ANY,      0,             cmd_list },
	{ CMD_LSUB,        ST_ANY,      0,             cmd_list },
	{ CMD_STATUS,      ST_ANY,      0,             cmd_status },
	{ CMD_APPEND,      ST_ANY,      CF_WRITES,     cmd_append },
	{ CMD_IDLE,        ST_ANY,      0,             cmd_idle },
	{ CMD_CHECK,       ST_SELECTED, 0,             cmd_check },
	{ CMD_CLOSE,       ST_SELECTED, CF_WRITES,     cmd_close },
	{ CMD_UNSELECT,    ST_SELECTED, 0,             cmd_unselect },
	{ CMD_EXPUNGE,     ST_SELECTED, CF_WRITES,     cmd_expunge },
	{ CMD_SEARCH,      ST_SELECTED, CF_NO_EXPUNGE, cmd_search },
	{ CMD_FETCH,       ST_SELECTED, CF_NO_EXPUNGE, cmd_fetch },
	{ CMD_STORE,       ST_SELECTED, CF_NO_EXPUNGE | CF_WRITES, cmd_store },
	{ CMD_COPY,        ST_SELECTED, CF_WRITES,     cmd_copy },
	{ CMD_MOVE,        ST_SELECTED, CF_WRITES,     cmd_copy },
	{ CMD_SORT,        ST_SELECTED, CF_NO_EXPUNGE, cmd_sort },
	{ CMD_THREAD,      ST_SELECTED, CF_NO_EXPUNGE, cmd_thread },
	{ CMD_CANCELUPDATE, ST_SELECTED, 0,            cmd_cancelupdate },
	{ CMD_PROXYAUTH,   ST_AUTH,     0,             cmd_proxyauth },
	{ CMD_GETACL,      ST_ANY,      0,             cmd_getacl },
	{ CMD_SETACL,      ST_ANY,      CF_WRITES,     cmd_setacl },
	{ CMD_DELETEACL,   ST_ANY,      CF_WRITES,     cmd_deleteacl },
	{ CMD_LISTRIGHTS,  ST_ANY,      0,             cmd_listrights },
	{ CMD_MYRIGHTS,    ST_ANY,      0,             cmd_myrights },
	{ CMD_GETQUOTA,    ST_ANY,      0,             cmd_getquota },
	{ CMD_GETQUOTAROOT, ST_ANY,     0,             cmd_getquotaroot },
	{ CMD_SETQUOTA,    ST_ANY,      0,             cmd_setquota },
	{ CMD_COMPRESS,    ST_ANY,      0,             cmd_compress },
	{ CMD_GETMETADATA, ST_ANY,      0,             cmd_getmetadata },
	{ CMD_SETMETADATA, ST_ANY,      CF_WRITES,     cmd_setmetadata },
	{ CMD_NOTIFY,      ST_ANY,      0,             cmd_notify },
	{ CMD_RESETKEY,    ST_ANY,      CF_WRITES,     cmd_resetkey },
	{ CMD_GENURLAUTH,  ST_ANY,      CF_WRITES,     cmd_genurlauth },
	{ CMD_URLFETCH,    ST_ANY,      0,             cmd_urlfetch },
	{ CMD_UNAUTHENTICATE, ST_ANY,   CF_NO_EXPUNGE, cmd_unauthenticate },
};

const struct cmd_def *
cmd_find(enum imap_cmd_id id)
{
	for (size_t i = 0; i < nitems(table); i++)
		if (table[i].id == id)
			return &table[i];
	return NULL;
}
