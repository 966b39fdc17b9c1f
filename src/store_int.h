/*
 * store_int.h - the store's installed index, for fsck (internal): load
 * and write the snapshot, replay store.* records, compare.  The index is
 * opaque; its packages are read through cohort__store_index_packages().
 */
#ifndef COHORT_STORE_INT_H
#define COHORT_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cohort/journal.h"
#include "cohort/store.h"

struct cohort__index;

/* An empty index (revision 0); free with cohort__store_index_free(). */
int cohort__store_index_new(struct cohort__index **out);
void cohort__store_index_free(struct cohort__index *x);

/*
 * Replace 'x' with the snapshot 'store/index' (empty at revision 0 when
 * the file is missing).  COHORT_ECORRUPT when it is damaged.
 */
int cohort__store_snapshot_load(struct cohort__index *x, cohort_store *s);
/* Replace the snapshot with 'x' (atomic replace; needs a node id). */
int cohort__store_snapshot_write(cohort_store *s,
				 const struct cohort__index *x);

/*
 * The snapshot's bytes without the file (the fuzz target): replace 'x'
 * with the snapshot in the 'len' bytes at 'text', which must be
 * NUL-terminated at 'len' (COHORT_ECORRUPT when damaged; 'x' may then hold
 * part of it); and the bytes the snapshot of 'x' is written as, in '*out'
 * (the caller frees it).
 */
int cohort__index_parse(struct cohort__index *x, const char *text, size_t len);
int cohort__index_format(char **out, size_t *len,
			 const struct cohort__index *x);

/*
 * Apply one journal record to 'x' (store.install, store.uninstall; other
 * types only move its revision).  COHORT_ECORRUPT for a store record whose
 * payload is not valid.
 */
int cohort__store_index_apply(struct cohort__index *x, const cohort_record *r);
/* Make 'dst' a deep copy of 'src'. */
int cohort__store_index_copy(struct cohort__index *dst,
			     const struct cohort__index *src);
/* The packages (borrowed) and revision of 'x'. */
const cohort_package *cohort__store_index_packages(
	const struct cohort__index *x, size_t *n, uint64_t *rev);
void cohort__store_index_set_rev(struct cohort__index *x, uint64_t rev);

#endif
