/*
 * lock_state.h - what a cluster handle keeps for its locks (internal): the
 * resolved lock mode, the lock files it keeps open, when it yields a lock
 * to waiters, and its lease refresher.  It is the handle's slot
 * COHORT__SLOT_LOCK (cluster.h): made with the first lock, freed at
 * cohort_cluster_close().
 */
#ifndef COHORT_LOCK_STATE_H
#define COHORT_LOCK_STATE_H

#include <pthread.h>
#include <stdint.h>

#include "cohort/lock.h"

struct cohort__lock_state {
	cohort_cluster *c;
	cohort_lock_mode mode;	/* resolved, never AUTO */
	/* Descriptors of 'locks/NAME.lock' kept open for the handle's life:
	 * a FUSE view handles close() late and a late close drops the
	 * view's locks on the file, a new holder's among them; so a lock is
	 * released with F_UNLCK and its file closed only at handle close. */
	pthread_mutex_t ofd_mu;
	struct {
		char name[COHORT_NODE_ID_MAX + 1];
		int fd;
	} ofd[16];
	unsigned int nofd;
	/* fairness: when this handle should let waiters take a lock first */
	struct {
		char name[COHORT_NODE_ID_MAX + 1];
		int64_t until;
	} yield[16];
	unsigned int nyield;
	/* the lease refresher (lock.c): one thread for the handle's leases */
	pthread_mutex_t ref_mu;
	pthread_cond_t ref_cv;
	pthread_t ref_thread;
	int ref_started, ref_stop;
	struct cohort_lock *held[64];
	unsigned int nheld;
	struct cohort_lock *ref_busy;
};

/* The handle's lock state (made on first use); NULL and an error when
 * out of memory. */
struct cohort__lock_state *cohort__lock_state(cohort_cluster *c);

/*
 * The handle's descriptor of 'locks/NAME.lock' (opened on first use, kept
 * until cohort_cluster_close); -1 and an error on failure.  '*owned' is
 * set when the table is full: the lock closes it itself.
 */
int cohort__lock_file_fd(struct cohort__lock_state *s, const char *name,
			 const char *path, int *owned);

/*
 * Until when (monotonic ms) this handle yields lock 'name' to waiters.
 * With 'set' non-zero it records 'set' and returns it.
 */
int64_t cohort__lock_yield_until(struct cohort__lock_state *s,
				 const char *name, int64_t set);

/* Stop the refresher thread, if it runs (lock.c). */
void cohort__lock_refresher_stop(struct cohort__lock_state *s);

/*
 * The lock's break token: a hash of 'locks/NAME.fence', which every
 * breaker of a stale lease of NAME rewrites before it moves the lease
 * aside (0 when the file is empty or the lock has no lease layer).  A
 * holder that sees a token other than the one it recorded knows that a
 * holder before it lost the lock while it may still have had writes on
 * their way.
 */
struct cohort_lock;
int cohort__lock_break_token(struct cohort_lock *l, uint64_t *token);

#endif
