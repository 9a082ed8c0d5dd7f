/*
 * arena.h - command-scoped memory.
 *
 * A command's parse tree and the scratch it needs while executing are
 * allocated here and released together by arena_reset() when the command
 * completes, so error paths never leak and never double-free.
 * An arena may be given a ceiling; allocation beyond it returns NULL.
 */
#ifndef MK_ARENA_H
#define MK_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t              used;	/* total bytes handed out */
	size_t              max;	/* 0: unbounded */
};

void  arena_init(struct arena *a, size_t max);
void  arena_reset(struct arena *a);	/* free everything, keep first chunk */
/* The same, zeroing every byte handed out first: for memory that held
 * secrets (the login process's parsed commands hold passwords). */
void  arena_reset_wipe(struct arena *a);
void  arena_free(struct arena *a);
/* 16-byte aligned, zeroed; NULL only when the ceiling is reached. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_array(struct arena *a, size_t n, size_t size);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
