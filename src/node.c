/*
 * node.c - the node runtime: heartbeat and watchdog threads, read-only and
 * read-write transitions, priority decisions, and the catch-up, apply and
 * materialize loop.  The calling sequence and the rules are at the top of
 * cohort/node.h; NOTES.md ("cohort node, heartbeats and read-only mode")
 * says why.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cohort/name.h"
#include "cohort/node.h"
#include "cohort/snapshot.h"
#include "error.h"
#include "os/os.h"

/* Internal result of the record callback: cohort_node_interrupt() came. */
#define NODE_INTERRUPTED 1

struct cohort_node {
	cohort_cluster *c;
	cohort_journal *j;
	cohort_store *st;
	cohort_node_options o;
	const char *self;
	char *mdir, *ns;
	atomic_int interrupted;	    /* cohort_node_interrupt() */
	int need_mat;	    /* materialize at the next healthy step */
	int store_changed;  /* a 'store.*' record went by */
	uint64_t applied;   /* records applied by the current step */
	int cb_rc;	    /* what 'apply' returned to stop the step */
	int timeout_ms;	    /* what cohort_node_timeout_ms() says */
	int healthy;	    /* the last step found the root answering */

	/* Shared with the threads, under 'mu'. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t beat_thr, wd_thr;
	int beat_started, wd_started;
	int stop;
	int64_t interval_ms; /* heartbeat_interval */
	int64_t timeout;     /* heartbeat_timeout */
	int64_t last_ok;     /* monotonic ms of the last good beat */
	int64_t started;     /* monotonic ms the beat in progress began, or 0 */
	int failed;	     /* the last beat failed */
	char err[512];
	int ro;		     /* the mode as this runtime last set it */
};

/* ---- heartbeat and watchdog --------------------------------------------- */

/* An absolute CLOCK_MONOTONIC time 'ms' from now, for the condition. */
static struct timespec deadline_in(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/*
 * The heartbeat runs in its own thread: a hung mount blocks it, and the
 * watchdog sees that no beat finished in time.
 */
static void *beat_thread(void *arg)
{
	cohort_node *n = arg;

	pthread_mutex_lock(&n->mu);
	while (!n->stop) {
		struct timespec ts;
		int rc;

		n->started = cohort__os_mono_ms();
		pthread_mutex_unlock(&n->mu);
		rc = cohort_node_heartbeat(n->c);
		pthread_mutex_lock(&n->mu);
		n->started = 0;
		n->failed = rc != 0;
		if (rc)
			snprintf(n->err, sizeof(n->err), "%s", cohort_error_last());
		else
			n->last_ok = cohort__os_mono_ms();
		ts = deadline_in(n->interval_ms);
		if (!n->stop)
			pthread_cond_timedwait(&n->cv, &n->mu, &ts);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

/* Is the root answering?  Fills 'why' when not.  n->mu held. */
static int healthy_locked(cohort_node *n, char *why, size_t size)
{
	int64_t now = cohort__os_mono_ms();

	if (n->failed) {
		snprintf(why, size, "the shared root does not answer: %s", n->err);
		return 0;
	}
	if (n->started && now - n->started > n->timeout) {
		snprintf(why, size, "the shared root does not answer: a heartbeat "
			 "write has taken over %lld ms", (long long)n->timeout);
		return 0;
	}
	if (now - n->last_ok > n->timeout + n->interval_ms) {
		snprintf(why, size, "the shared root does not answer: no heartbeat "
			 "for %lld ms", (long long)(now - n->last_ok));
		return 0;
	}
	return 1;
}

static int beat_healthy(cohort_node *n, char *why, size_t size)
{
	int ok;

	pthread_mutex_lock(&n->mu);
	ok = healthy_locked(n, why, size);
	pthread_mutex_unlock(&n->mu);
	return ok;
}

static int mode_ro(cohort_node *n)
{
	int ro;

	pthread_mutex_lock(&n->mu);
	ro = n->ro;
	pthread_mutex_unlock(&n->mu);
	return ro;
}

/* Switch to read-only (once) with 'why'.  n->mu held. */
static void go_readonly_locked(cohort_node *n, const char *why)
{
	if (n->ro)
		return;
	n->ro = 1;
	(void)cohort_node_set_mode(n->c, 1, why);
	if (n->o.mode_changed)
		n->o.mode_changed(1, why, n->o.user);
}

/*
 * The watchdog never touches the root: when the mount hangs, the stepping
 * thread and the heartbeat thread hang with it, and this thread alone can
 * still turn the node read-only (the mode lives in the local state folder).
 */
static void *watchdog_thread(void *arg)
{
	cohort_node *n = arg;
	char why[600];

	pthread_mutex_lock(&n->mu);
	while (!n->stop) {
		struct timespec ts = deadline_in(n->interval_ms / 2 + 1);

		pthread_cond_timedwait(&n->cv, &n->mu, &ts);
		if (n->stop)
			break;
		if (!healthy_locked(n, why, sizeof(why)))
			go_readonly_locked(n, why);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

/* ---- priorities --------------------------------------------------------- */

/*
 * Priorities (eXo JCR): the main node is the registered, not retired node
 * with the highest priority (ties: the smallest id).  In static mode the
 * other nodes are read-only while it is stale.
 */
static int main_node_stale(cohort_cluster *c, char *why, size_t size)
{
	cohort_node_info *v = NULL;
	int64_t stale = cohort_config_get_int(c, "cluster", "stale_after");
	size_t cnt = 0, i, best = (size_t)-1;
	int rc = 0;

	if (strcmp(cohort_config_get(c, "cluster", "priority_mode"), "static"))
		return 0;
	if (cohort_node_list(&v, &cnt, c))
		return 0; /* the cut-off check speaks for this */
	for (i = 0; i < cnt; i++)
		if (!v[i].retired &&
		    (best == (size_t)-1 || v[i].priority > v[best].priority))
			best = i;
	if (best != (size_t)-1 && strcmp(v[best].id, cohort_cluster_node(c)) &&
	    (v[best].heartbeat_age_ms < 0 || v[best].heartbeat_age_ms > stale)) {
		snprintf(why, size, "the main node '%s' (priority %d) is stale "
			 "(static priority mode)", v[best].id, v[best].priority);
		rc = 1;
	}
	free(v);
	return rc;
}

/* ---- applying ----------------------------------------------------------- */

static int record_cb(const cohort_record *r, void *arg)
{
	cohort_node *n = arg;
	int rc;

	if (!strncmp(r->type, "store.", 6))
		n->store_changed = 1;
	if (atomic_load(&n->interrupted))
		return NODE_INTERRUPTED; /* the revision stays at the one before */
	if (n->o.apply && !(n->o.skip_own && !strcmp(r->node, n->self))) {
		rc = n->o.apply(r, n->o.user);
		if (rc) {
			n->cb_rc = 1;
			return rc;
		}
	}
	n->applied++;
	return 0;
}

static int lost_cb(const cohort_record *r, void *arg)
{
	uint64_t *last = arg, first;

	if (cohort_record_lost_range(r, &first, last))
		*last = r->rev;
	return 0;
}

/*
 * The last revision lost with the lost record this node stopped at, or 0
 * when it cannot be read.  The COHORT_ELOST message stays.
 */
static uint64_t lost_until(cohort_node *n)
{
	uint64_t rev = 0, last = 0;
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", cohort_error_last());
	if (cohort_journal_revision(n->j, &rev) ||
	    cohort_journal_read(n->j, rev + 1, 1, lost_cb, &last))
		last = 0;
	(void)cohort__error(COHORT_ELOST, "%s", msg);
	return last;
}

/*
 * Catch up.  0, with '*healthy' = 0 and 'why' when the root did not answer;
 * or what stops the node: the callback's return, damage, being behind or
 * at lost records without a snapshot that gets past.
 */
static int catch_up(cohort_node *n, int *healthy, char *why, size_t size)
{
	cohort_apply_options ao = COHORT_APPLY_OPTIONS_INIT;

	ao.skip_lost = n->o.skip_lost;
	for (;;) {
		uint64_t need = 0;
		int rc;

		n->cb_rc = 0;
		rc = cohort_journal_apply_with(n->j, &ao, record_cb, n, NULL);
		if (n->cb_rc || rc == COHORT_ECORRUPT)
			return rc;
		if (rc == 0 || rc == NODE_INTERRUPTED)
			return 0;
		if (rc == COHORT_ELOST) {
			/* Restore past the lost records, if a snapshot does. */
			if (!n->o.restore || !(need = lost_until(n)))
				return rc;
		} else if (rc != COHORT_EBEHIND) {
			*healthy = 0;
			snprintf(why, size, "the shared root does not answer: %s",
				 cohort_error_last());
			return 0;
		} else if (!n->o.restore) {
			return rc;
		}
		if ((rc = cohort_snapshot_load(n->c, n->j, need, n->o.restore,
					       n->o.user, NULL)))
			return rc;
	}
}

static void materialize(cohort_node *n, int *healthy, char *why, size_t size)
{
	cohort_materialize_stats ms;
	int rc;

	n->store_changed = 0;
	rc = cohort_store_materialize(n->st, n->mdir, n->ns, &ms);
	if (rc)
		memset(&ms, 0, sizeof(ms));
	if (n->o.materialized)
		n->o.materialized(n->mdir, rc, &ms, n->o.user);
	if (!rc) {
		n->need_mat = 0;
	} else if (rc != COHORT_ECORRUPT) {
		*healthy = 0;
		snprintf(why, size, "the shared root does not answer: %s",
			 cohort_error_last());
	}
}

/* Decide the mode after a step saw the root 'healthy' or not ('why'). */
static void decide_mode(cohort_node *n, int healthy, const char *why)
{
	char reason[1024], dummy[8];
	uint64_t rev = 0;
	int ro = 0;

	/* Read from the root before taking the lock: the watchdog needs the
	 * lock, and the root may hang right now. */
	if (healthy)
		(void)cohort_journal_revision(n->j, &rev);
	pthread_mutex_lock(&n->mu);
	if (!healthy && !n->ro) {
		go_readonly_locked(n, why);
	} else if (healthy && n->ro && healthy_locked(n, dummy, sizeof(dummy))) {
		/* Caught up, and the beats succeed again. */
		n->ro = 0;
		(void)cohort_node_set_mode(n->c, 0, NULL);
		snprintf(reason, sizeof(reason), "caught up at revision %llu",
			 (unsigned long long)rev);
		if (n->o.mode_changed)
			n->o.mode_changed(0, reason, n->o.user);
	} else if (!healthy && n->ro) {
		/* Keep the newest reason for status. */
		if (cohort_node_mode(n->c, &ro, reason, sizeof(reason)) == 0 &&
		    strcmp(reason, why))
			(void)cohort_node_set_mode(n->c, 1, why);
	}
	pthread_mutex_unlock(&n->mu);
}

int cohort_node_step(cohort_node *n)
{
	char why[600] = "";
	int healthy, rc;

	cohort_journal_fd_drain(n->j);
	n->applied = 0;
	healthy = beat_healthy(n, why, sizeof(why));
	if (healthy && (rc = catch_up(n, &healthy, why, sizeof(why))))
		return rc;
	if (healthy && n->mdir && (n->need_mat || n->store_changed))
		materialize(n, &healthy, why, sizeof(why));
	if (healthy && main_node_stale(n->c, why, sizeof(why)))
		healthy = 0;
	decide_mode(n, healthy, why);
	n->healthy = healthy;
	n->timeout_ms = n->applied && !atomic_load(&n->interrupted) ? 0 :
			cohort_journal_poll_interval_ms(n->j);
	return 0;
}

int cohort_node_run(cohort_node *n)
{
	while (!atomic_load(&n->interrupted)) {
		uint64_t rev = 0;
		int rc = cohort_node_step(n);

		if (rc)
			return rc;
		if (atomic_load(&n->interrupted))
			break;
		if (n->applied)
			continue;
		if (cohort_journal_revision(n->j, &rev))
			rev = 0;
		if (!n->healthy)
			/* Cut off: wait a poll interval, then try again. */
			cohort__os_sleep_ms(cohort_journal_poll_interval_ms(n->j));
		else
			(void)cohort_journal_wait(n->j, rev,
						  cohort_journal_poll_interval_ms(n->j));
	}
	return 0;
}

/* ---- start and stop ----------------------------------------------------- */

int cohort_node_start(cohort_node **out, cohort_cluster *c,
		      const cohort_node_options *opts)
{
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	pthread_condattr_t ca;
	cohort_node *n;
	int rc;

	*out = NULL;
	if (!opts || opts->version != COHORT_NODE_OPTIONS_VERSION)
		return cohort__error(COHORT_EINVAL, "node options: version %u is "
				     "not %u", opts ? opts->version : 0u,
				     COHORT_NODE_OPTIONS_VERSION);
	if (!cohort_cluster_node(c))
		return cohort__error(COHORT_EINVAL, "a node runtime needs a node id");
	if (opts->priority < -1 || opts->priority > 100 || opts->poll_ms < 0)
		return cohort__error(COHORT_EINVAL, "node options: priority %d "
				     "(0-100, or -1) or poll_ms %d out of range",
				     opts->priority, opts->poll_ms);
	if (opts->ns && (rc = cohort_name_check(COHORT_NAME_NAMESPACE, opts->ns)))
		return rc;
	n = calloc(1, sizeof(*n));
	if (!n)
		return cohort__error(COHORT_ERROR, "out of memory");
	n->c = c;
	n->o = *opts;
	atomic_init(&n->interrupted, 0);
	n->self = cohort_cluster_node(c);
	n->need_mat = 1;
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((opts->materialize && !(n->mdir = strdup(opts->materialize))) ||
	    (opts->ns && !(n->ns = strdup(opts->ns)))) {
		rc = cohort__error(COHORT_ERROR, "out of memory");
		goto fail;
	}
	jo.priority = opts->priority;
	/* Hold the id for as long as we run. */
	if ((rc = cohort_node_claim(c)) || (rc = cohort_node_join(c, &jo)) ||
	    (rc = cohort_journal_open(&n->j, c)) ||
	    (n->mdir && (rc = cohort_store_open(&n->st, c))))
		goto fail;
	if (opts->poll_ms)
		cohort_journal_set_poll_interval_ms(n->j, opts->poll_ms);
	n->timeout_ms = 0;
	/* A node starts read-write: the mode of a previous run is stale. */
	(void)cohort_node_set_mode(c, 0, NULL);
	n->timeout = cohort_config_get_int(c, "node", "heartbeat_timeout");
	n->interval_ms = cohort_config_get_int(c, "cluster", "heartbeat_interval");
	n->last_ok = cohort__os_mono_ms();
	if ((errno = pthread_create(&n->beat_thr, NULL, beat_thread, n))) {
		rc = cohort__error_sys(COHORT_ERROR, errno, "cannot start the "
				       "heartbeat thread");
		goto fail;
	}
	n->beat_started = 1;
	if ((errno = pthread_create(&n->wd_thr, NULL, watchdog_thread, n))) {
		rc = cohort__error_sys(COHORT_ERROR, errno, "cannot start the "
				       "watchdog thread");
		goto fail;
	}
	n->wd_started = 1;
	*out = n;
	return 0;
fail:
	cohort_node_stop(n);
	return rc;
}

void cohort_node_stop(cohort_node *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->stop = 1;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	if (n->beat_started)
		pthread_join(n->beat_thr, NULL);
	if (n->wd_started)
		pthread_join(n->wd_thr, NULL);
	cohort_store_close(n->st);
	cohort_journal_close(n->j);
	(void)cohort_node_release(n->c);
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n->mdir);
	free(n->ns);
	free(n);
}

/* ---- for event loops and callers ---------------------------------------- */

void cohort_node_interrupt(cohort_node *n)
{
	atomic_store(&n->interrupted, 1);
}

int cohort_node_fd(const cohort_node *n)
{
	return cohort_journal_fd(n->j);
}

int cohort_node_timeout_ms(const cohort_node *n)
{
	return n->timeout_ms;
}

int cohort_node_readonly(cohort_node *n, char *reason, size_t size)
{
	int ro = 0;

	if (reason && size)
		reason[0] = '\0';
	if (cohort_node_mode(n->c, &ro, reason, size))
		ro = mode_ro(n);
	return ro;
}

cohort_journal *cohort_node_journal(cohort_node *n)
{
	return n->j;
}
