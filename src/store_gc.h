/* store_gc.h - what the janitor asks of the store (internal). */
#ifndef COHORT_STORE_GC_H
#define COHORT_STORE_GC_H

#include <stdint.h>

#include "cohort/store.h"

/*
 * Under the store lock: write the index snapshot at the journal head, so
 * that the journal below it may go; '*rev' gets its revision.
 */
int cohort__store_snapshot_now(cohort_store *s, uint64_t *rev);

typedef void (*cohort__blob_fn)(void *arg, const char *path, uint64_t bytes);

/*
 * Under the store lock: remove blobs no installed package references whose
 * mtime is at least 'grace_ms' old by the file server's clock (a blob an
 * install is about to index is young).  'fn' is told of each.
 */
int cohort__store_gc(cohort_store *s, int64_t grace_ms, int dry_run,
		     cohort__blob_fn fn, void *arg);

#endif
