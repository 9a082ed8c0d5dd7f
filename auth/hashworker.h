/*
 * hashworker.h - the hash worker process.
 *
 * The master keeps a small pool of these (config hash_workers).  Each one
 * answers IPC_HASH_CHECK (stored hash, presented password) with
 * IPC_HASH_RESULT (match or not), one request at a time, holding no file
 * at all: the costly, attacker-fed crypt_rn() runs without privilege and
 * without blocking the master.
 */
#ifndef MK_HASHWORKER_H
#define MK_HASHWORKER_H

/* Runs after spawn.c has dropped privileges; master_fd is the channel. */
__attribute__((noreturn))
void hashworker_main(int master_fd);

#endif
