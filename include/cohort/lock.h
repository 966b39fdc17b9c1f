/*
 * cohort/lock.h - named cluster locks that hold on shared mounts, including
 * NFS mounts where fcntl locks silently do nothing ('nolock').
 *
 * Calling sequence:
 *
 *	cohort_lock *l;
 *	rc = cohort_lock_acquire(&l, c, "journal", timeout_ms);
 *	... prepare the change ...
 *	rc = cohort_lock_check(l);       immediately before the commit point;
 *	if (rc) abort;                   the lease may have been lost
 *	... commit (one write) ...
 *	cohort_lock_release(l);
 *
 * Layers, outermost first:
 *  1. flock() on 'locks/NAME.flock' in the node's local state folder: the
 *     processes of one node exclude each other without trusting the mount
 *     (a FUSE view forwards fcntl locks as its own process's, see NFS.md).
 *  2. An OFD fcntl lock on 'locks/NAME.lock' on the root, a file that is
 *     never deleted (modes 'fcntl' and 'both').
 *  3. A lease file 'locks/NAME.lease' on the root (modes 'lease' and
 *     'both'): created whole with link(), so exactly one creator wins;
 *     holds owner node, host, boot id, pid, nonce and a refresh counter
 *     that a background thread rewrites in place every 'lease_refresh'.
 *
 * Why the lease is safe alone: a waiter breaks a lease only after it has
 * seen no change of the lease file for 'lease_timeout' + 'skew_margin' on
 * its own monotonic clock (never comparing clocks of two hosts), one breaker
 * at a time (a 'NAME.break' file created with link()), after re-checking the
 * inode and contents it judged stale.  A live holder rewrites the lease
 * every 'lease_refresh' (much shorter than 'lease_timeout'), and before its
 * commit point cohort_lock_check() refuses if the last successful refresh is
 * older than 'lease_timeout' or the lease file no longer carries its nonce.
 * So a holder that paused (GC, SIGSTOP, a hung mount) past its lease learns
 * it before it commits; the remaining window is the time between
 * cohort_lock_check() and the single write that commits (see NOTES.md).
 * A lease left by a dead process of this very host and boot is broken at
 * once (its pid is gone), and so is one whose mtime is older than that
 * interval by the file server's clock (compared with the mtime of a file
 * the waiter just created: two readings of one clock), so that a waiter
 * with a short timeout (run-once) still gets past a dead holder.
 */
#ifndef COHORT_LOCK_H
#define COHORT_LOCK_H

#include "cluster.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cohort_lock cohort_lock;

/* Lock modes, from [cluster] lock_mode: auto picks from mount options. */
typedef enum cohort_lock_mode {
	COHORT_LOCK_AUTO = 0,
	COHORT_LOCK_FCNTL,
	COHORT_LOCK_LEASE,
	COHORT_LOCK_BOTH,
} cohort_lock_mode;

/*
 * Acquire the cluster lock NAME (1-64 of A-Za-z0-9._-), waiting up to
 * 'timeout_ms' (0: try once; negative: the configured lock_timeout).
 * '*out' is the caller's; cohort_lock_release() frees it.  Fails with
 * COHORT_ELOCKED naming the holder (node, host, pid) when it times out.
 * Needs a node id.
 */
int cohort_lock_acquire(cohort_lock **out, cohort_cluster *c,
			const char *name, int timeout_ms);

/*
 * Check that the lock is still ours: call right before the commit point.
 * COHORT_ELOCKED when the lease was not refreshed in time or was broken.
 */
int cohort_lock_check(cohort_lock *l);

/*
 * cohort_lock_check(), and ask the file server whether our lease file
 * still has a name (a forced GETATTR of the descriptor: a cached lookup
 * cannot hide a break).  Call after the commit point and before telling
 * anyone that the commit happened: COHORT_ELOCKED means a successor may
 * already have moved on without it (see the journal's fencing).
 */
int cohort_lock_confirm(cohort_lock *l);

/* Release and free; accepts NULL.  Returns an error if the lease was lost. */
int cohort_lock_release(cohort_lock *l);

/* The mode in force for this cluster (auto resolved). */
cohort_lock_mode cohort_lock_mode_effective(cohort_cluster *c);
const char *cohort_lock_mode_name(cohort_lock_mode m);

#ifdef __cplusplus
}
#endif
#endif
