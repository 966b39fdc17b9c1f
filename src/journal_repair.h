/*
 * journal_repair.h - lost records written by 'cohort fsck --repair'
 * (internal; see journal_repair.c).  The caller holds the journal lock.
 */
#ifndef COHORT_JOURNAL_REPAIR_H
#define COHORT_JOURNAL_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "cohort/cluster.h"

/* Bytes [off, end) of a segment that held revisions [first, last]. */
struct cohort__lost_region {
	uint64_t off, end;
	uint64_t first, last;
};

/*
 * Write sealed segment 'no' again: its header (starting at 'first'), its
 * bytes up to 'end' with each of the 'n' regions (in offset order) replaced
 * by one lost record per revision, whose data names the region's range and
 * 'why'.  '*size' gets the new size.  Atomic: a temporary file renamed
 * over the segment.
 */
int cohort__seg_rewrite_lost(cohort_cluster *c, uint64_t no, uint64_t first,
			     uint64_t end, const struct cohort__lost_region *v,
			     size_t n, const char *why, uint64_t *size);

/* Make missing segment 'no' again: a header and lost records for
 * [first, last]. */
int cohort__seg_create_lost(cohort_cluster *c, uint64_t no, uint64_t first,
			    uint64_t last, const char *why);

#endif
