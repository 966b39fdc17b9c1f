/*
 * cohort/snapshot.h - the application's own snapshot of its state, for
 * nodes that come back behind the oldest retained journal record.
 *
 * Flow: an application periodically publishes its state as of its node's
 * revision (cohort_snapshot_put, 'cohort snapshot put FILE').  The janitor
 * never removes records newer than the latest snapshot.  A node whose
 * revision is older than the journal's tail (it was retired, or is new after
 * history was removed) gets COHORT_EBEHIND from apply/sync; it then loads
 * the snapshot (cohort_snapshot_get; 'sync/watch/node --exec-snapshot CMD'
 * hands it to CMD on standard input), sets its revision to the snapshot's
 * and replays from there.  The store's index needs nothing of this: it
 * has its own snapshot, refreshed by the janitor before it removes records.
 *
 * On disk: 'snapshots/app' (atomic replace): "cohort-snapshot 1", "rev N",
 * "node ID", "size S", "sum <xxh3-64 of the content>", an empty line, then
 * the content.
 */
#ifndef COHORT_SNAPSHOT_H
#define COHORT_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "journal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest snapshot accepted. */
#define COHORT_SNAPSHOT_MAX ((size_t)1 << 30)

/*
 * Publish 'data' as the application's state at this node's revision
 * ('*rev' gets it).  Refused (COHORT_EINVAL) when the node is behind the
 * tail or behind the snapshot already published.
 */
int cohort_snapshot_put(cohort_cluster *c, const void *data, size_t len,
			uint64_t *rev);

/*
 * The latest snapshot: '*data' (the caller's, free()) and its revision.
 * COHORT_ENOTFOUND when none was published; COHORT_ECORRUPT when damaged.
 */
int cohort_snapshot_get(cohort_cluster *c, void **data, size_t *len,
			uint64_t *rev);

/* Its revision only (COHORT_ENOTFOUND when none). */
int cohort_snapshot_rev(cohort_cluster *c, uint64_t *rev);

/* Load a snapshot into the application: 0, or anything else to refuse it. */
typedef int (*cohort_snapshot_fn)(const void *data, size_t len, uint64_t rev,
				  void *user);

/*
 * Bootstrap a node behind the journal's tail (COHORT_EBEHIND from apply),
 * or restore it past lost records (COHORT_ELOST): hand the latest
 * snapshot to 'fn', and when it returns 0 set this node's revision ('j'
 * is the node's journal on 'c') to the snapshot's; '*rev' (may be NULL)
 * gets it.  The snapshot must be at revision 'need' or later (past the
 * lost records; 0: any), else COHORT_ENOTFOUND.  Refused ("cannot
 * bootstrap: ...") when there is no snapshot or it is older than the
 * tail; what 'fn' returns otherwise is returned, the node's revision
 * unchanged.
 */
int cohort_snapshot_load(cohort_cluster *c, cohort_journal *j, uint64_t need,
			 cohort_snapshot_fn fn, void *user, uint64_t *rev);

#ifdef __cplusplus
}
#endif
#endif
