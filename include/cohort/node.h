/*
 * cohort/node.h - the node runtime: what 'cohort node' does, for any
 * program that embeds the library (a C daemon, the Java binding).
 *
 * Calling sequence:
 *
 *	cohort_node_options o = COHORT_NODE_OPTIONS_INIT;
 *	o.apply = my_apply;                  one record, in order
 *	o.restore = my_restore;              the application snapshot, for a
 *	                                     node behind the oldest record
 *	o.mode_changed = my_mode;            read-only (with the reason) or back
 *	o.materialize = "/opt/app/plugins";  kept identical to the installed
 *	o.materialized = my_plugins;         packages; told after each pass
 *	o.user = app;                        handed to every callback
 *	cohort_node *n;
 *	rc = cohort_node_start(&n, c, &o);   claim the id, join, start the
 *	                                     heartbeat and watchdog threads
 *	rc = cohort_node_run(n);             blocks until cohort_node_interrupt()
 *  or, in the application's own event loop:
 *	while (running) {
 *		poll cohort_node_fd(n) for reading, with a timeout of
 *		cohort_node_timeout_ms(n) milliseconds;
 *		rc = cohort_node_step(n);    apply, materialize, decide the mode
 *	}
 *	cohort_node_stop(n);                 stop and join the threads, release
 *	                                     the id; then cohort_cluster_close(c)
 *
 * What a step does: when the root answers, apply every record after this
 * node's revision through 'apply' (the revision file advances after each,
 * so a crash replays at most the record in hand: at least once); a node
 * behind the journal's tail is first handed the application snapshot
 * through 'restore'; materialize when a 'store.*' record went by (and once
 * at start); then decide the mode.
 *
 * Read-only mode.  A heartbeat thread rewrites nodes/ID/heartbeat every
 * [cluster] heartbeat_interval.  The root counts as cut off when a beat
 * failed (ENOTCONN, EIO, ...), one has been in progress longer than [node]
 * heartbeat_timeout (a hung mount), a journal read failed, or a
 * materialize failed for a reason other than damage.  With [cluster]
 * priority_mode = static, a node that is not the main node (the live
 * registered node of highest priority) also turns read-only while the main
 * node's heartbeat is older than stale_after by the file server's clock.
 * The mode is written to STATE/mode, on local disk, so every process of the
 * node refuses appends, installs and uninstalls (COHORT_EREADONLY) even
 * while the root hangs.  A watchdog thread that never touches the root
 * makes that switch when the thread calling cohort_node_step() hangs with
 * the mount.  Back to read-write only after beats succeed again and a step
 * has caught up.
 *
 * Threads: the runtime owns two threads (heartbeat, watchdog) from start
 * to stop.  'apply', 'restore' and 'materialized' run in the thread that
 * calls cohort_node_run() or cohort_node_step(); 'mode_changed' may also
 * run in the watchdog thread, never two at once, with the runtime's lock
 * held: it must return quickly and must not call this runtime's functions.
 * The cluster handle 'c' must stay open until cohort_node_stop(); other
 * threads may use it meanwhile (cohort_journal_append() and the like).
 * Errors are returned as COHORT_E* codes with cohort_error_last() in the
 * thread that got them, as everywhere in the library.
 */
#ifndef COHORT_NODE_H
#define COHORT_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "journal.h"
#include "snapshot.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cohort_node cohort_node;

/*
 * Apply one record.  0: applied (the node's revision moves to r->rev).
 * Anything else stops the step, which returns it, with the revision at the
 * record before: use positive values for the application's own failures so
 * they cannot be taken for a COHORT_E* code.
 */
typedef int (*cohort_node_apply_fn)(const cohort_record *r, void *user);

/*
 * A materialize pass over 'dir' ended: rc 0 with what changed in 'st', or
 * the error (message in cohort_error_last(), 'st' zero).
 */
typedef void (*cohort_node_materialized_fn)(const char *dir, int rc,
					    const cohort_materialize_stats *st,
					    void *user);

/*
 * The node turned read-only ('readonly' 1, 'reason' says why) or back to
 * read-write ('readonly' 0, 'reason' like "caught up at revision N").
 * 'reason' is borrowed for the call.
 */
typedef void (*cohort_node_mode_fn)(int readonly, const char *reason,
				    void *user);

typedef struct cohort_node_options {
	unsigned int version;
	int priority;		  /* 0-100 to register; -1: keep (default 50) */
	int poll_ms;		  /* 0: [journal] poll_interval */
	int skip_own;		  /* this node's own records advance the
				     revision without 'apply' */
	int skip_lost;		  /* lost records (COHORT_LOST_TYPE) are passed,
				     the loss accepted (cohort_apply_options);
				     else a step stops there (COHORT_ELOST)
				     unless 'restore' loads a snapshot past
				     them */
	const char *materialize;  /* folder to keep identical to the installed
				     packages; NULL: none */
	const char *ns;		  /* with 'materialize': this namespace's and the
				     root namespace's packages (NULL: root) */
	cohort_node_apply_fn apply;	      /* NULL: records just advance */
	cohort_snapshot_fn restore;	      /* load the application snapshot
						 (cohort/snapshot.h) for a node
						 behind the oldest record;
						 NULL: stay behind */
	cohort_node_materialized_fn materialized; /* may be NULL */
	cohort_node_mode_fn mode_changed;	  /* may be NULL */
	void *user;
} cohort_node_options;

#define COHORT_NODE_OPTIONS_VERSION 1
#define COHORT_NODE_OPTIONS_INIT \
	{ COHORT_NODE_OPTIONS_VERSION, -1, 0, 0, 0, NULL, NULL, NULL, NULL, \
	  NULL, NULL, NULL }

/*
 * Start a node runtime on the open cluster 'c' (which needs a node id):
 * claim the id for this process (COHORT_EEXISTS when another live instance
 * holds it), join, open the journal (and the store with 'materialize'),
 * write the mode read-write (a previous run's mode is stale), and start
 * the heartbeat and watchdog threads.  Nothing is applied yet: the first
 * step catches up.  '*out' is the caller's, ended with cohort_node_stop().
 */
int cohort_node_start(cohort_node **out, cohort_cluster *c,
		      const cohort_node_options *opts);

/*
 * One round: apply what is new, materialize if needed, decide the mode.
 * Returns 0 (also while read-only: that is a mode, not an error), or what
 * stops the node: a callback's non-zero return, COHORT_ECORRUPT (a
 * committed record failed verification), COHORT_EBEHIND without a
 * 'restore' callback, COHORT_ELOST at lost records (without 'skip_lost',
 * and without a 'restore' that could load a snapshot past them), or a
 * failed bootstrap.
 */
int cohort_node_step(cohort_node *n);

/*
 * Step and wait (on the journal for new commits while the root answers,
 * a poll interval between tries while it does not) until
 * cohort_node_interrupt(); returns 0 then, or what stopped a step.
 */
int cohort_node_run(cohort_node *n);

/*
 * Ask cohort_node_run() to return (and a step to stop before the next
 * record) within a poll interval.  Safe from any thread and from a signal
 * handler.
 */
void cohort_node_interrupt(cohort_node *n);

/*
 * For an event loop: a descriptor that becomes readable when this host
 * commits to the journal (other hosts' commits are seen by polling), and
 * how long to wait on it before the next step: 0 when the last step
 * applied something (there may be more), else the poll interval.
 */
int cohort_node_fd(const cohort_node *n);
int cohort_node_timeout_ms(const cohort_node *n);

/* Is the node read-only now?  'reason' (may be NULL) gets why. */
int cohort_node_readonly(cohort_node *n, char *reason, size_t size);

/* The journal the runtime applies from (borrowed; owned by the runtime),
 * e.g. for cohort_journal_revision() between steps in the same thread. */
cohort_journal *cohort_node_journal(cohort_node *n);

/*
 * Stop the threads and wait for them, release the node id (nodes/ID/
 * instance says "released"), close what the runtime opened and free it.
 * Accepts NULL.  The mode stays as it was.  A heartbeat blocked in a hung
 * mount is waited for: on a 'hard' NFS mount, until the server answers.
 */
void cohort_node_stop(cohort_node *n);

#ifdef __cplusplus
}
#endif
#endif
