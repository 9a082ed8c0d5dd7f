/*
 * ldapclient.h - the LDAP process: the one process that talks to the
 * LDAP server (directory = ldap; doc/ldap.md).
 *
 * The master (daemon/master/ldapdir.c) asks it, one request at a time,
 * for a user's entry (IPC_LDAP_LOOKUP -> IPC_LDAP_ENTRY: DN, {CRYPT}
 * hash, admin group membership, quotas, backend) or to verify a
 * password by binding as a DN (IPC_LDAP_BIND -> IPC_LDAP_BIND_RESULT).
 * LDAP replies are network input: they are parsed here, as hash_user,
 * not dumpable, under the SANDBOX_LDAP seccomp filter; the master reads
 * typed answers only.
 */
#ifndef MK_LDAPCLIENT_H
#define MK_LDAPCLIENT_H

#include "common/config.h"

/* Runs after the spawner's privilege drop; master_fd is the channel.
 * Reads IPC_LDAP_CONFIG (the bind password) first. */
__attribute__((noreturn))
void ldapclient_main(const struct mk_config *cfg, int master_fd);

#endif
