/*
 * cohort/janitor.h - cron-driven cleanup: retire nodes idle too long, then
 * remove the journal segments every live node has applied, and store
 * content nothing references.
 *
 * Safe to run from every node's cron at once: the janitor holds the cluster
 * lock 'janitor' (taken without waiting; a busy janitor is reported, not an
 * error).  The removal limit is the smallest revision of the live (not
 * retired) nodes, read under the journal lock, which a new node's join also
 * takes, and never above the latest application snapshot's revision; the
 * store's index snapshot is refreshed to the head first.  Whole sealed
 * segments at or below the limit go: the new tail is published (synced) in
 * the journal head, then the files are unlinked.  See NOTES.md ("Janitor").
 */
#ifndef COHORT_JANITOR_H
#define COHORT_JANITOR_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cohort_janitor_options {
	unsigned int version;
	int dry_run;		 /* say what would go; change nothing */
	int64_t retire_after_ms; /* <0: [janitor] retire_after (7d) */
} cohort_janitor_options;

#define COHORT_JANITOR_OPTIONS_VERSION 1
#define COHORT_JANITOR_OPTIONS_INIT { COHORT_JANITOR_OPTIONS_VERSION, 0, -1 }

typedef struct cohort_janitor_item {
	char path[4096];     /* a segment or blob file, or a node id */
	uint64_t first, last; /* revisions of a segment */
	uint64_t bytes;
} cohort_janitor_item;

typedef struct cohort_janitor_report {
	int busy;			/* another janitor runs: nothing done */
	char busy_holder[256];
	cohort_janitor_item *retired;	/* path = node id */
	size_t nretired;
	cohort_janitor_item *segments;
	size_t nsegments;
	cohort_janitor_item *blobs;
	size_t nblobs;
	uint64_t freed;			/* bytes removed (or that would be) */
	uint64_t limit;			/* highest revision removable */
	uint64_t tail_before, tail_after, head;
	char held_by[COHORT_NODE_ID_MAX + 1]; /* node at the limit, if any */
} cohort_janitor_report;

/* Run once.  '*r' is filled (free with cohort_janitor_report_free). */
int cohort_janitor_run(cohort_cluster *c, const cohort_janitor_options *o,
		       cohort_janitor_report *r);
void cohort_janitor_report_free(cohort_janitor_report *r);

#ifdef __cplusplus
}
#endif
#endif
