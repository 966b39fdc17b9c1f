/*
 * lock_int.h - the lease file's text (internal; the fuzz target decodes it
 * too).  A lease is LEASE_SIZE bytes rewritten in place by its holder:
 *
 *   cohort-lease 1
 *   node NODE
 *   host HOST       (shortened when node and host are long)
 *   boot BOOT-ID
 *   pid PID
 *   nonce NONCE
 *   count N         (bumped by each refresh)
 *   sum XXH3-64     (16 lowercase hex digits, of every byte before this line)
 *
 * then spaces up to a final '\n'.  Only the lines before the sum count; a
 * waiter that sees the text change knows its holder lives, and judges an
 * unchanged one stale by time alone (cohort/lock.h).
 */
#ifndef COHORT_LOCK_INT_H
#define COHORT_LOCK_INT_H

#include <stddef.h>

#include "cohort/cluster.h"

#define LEASE_SIZE 256

/* What a waiter knows of a lease it saw. */
struct cohort__lease_view {
	int valid;
	char node[COHORT_NODE_ID_MAX + 1];
	char host[256];
	char boot[40];
	long pid;
	char nonce[33];
};

/*
 * Parse a lease's 'len' bytes at 'text' (NUL-terminated at 'len', as the
 * reader gets them): 'v->valid' only if its sum holds and every field is
 * there (the other fields mean nothing when it is 0).
 */
void cohort__lease_parse(struct cohort__lease_view *v, const char *text,
			 size_t len);

#endif
