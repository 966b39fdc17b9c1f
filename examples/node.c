/*
 * node.c - be a cluster node from an application's own event loop: what
 * 'cohort node' does, through the library's node runtime (cohort/node.h).
 *
 *	node ROOT NODE STATE [PLUGIN_DIR]
 *
 * Claims NODE, joins, then applies every record it missed and each new one
 * (printing it), keeps PLUGIN_DIR identical to the installed packages, and
 * says when the node turns read-only (the shared root stopped answering)
 * and back.  The heartbeat and the watchdog run in the runtime's threads;
 * this loop only polls the runtime's descriptor and steps.  Stops on
 * SIGINT/SIGTERM.
 */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <cohort.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int apply(const cohort_record *r, void *user)
{
	(void)user;
	printf("%" PRIu64 " %s %s %.*s\n", r->rev, r->node, r->type,
	       (int)r->len, (const char *)r->data);
	fflush(stdout);
	return 0; /* non-zero would stop, and the record would come again */
}

static void materialized(const char *dir, int rc,
			 const cohort_materialize_stats *st, void *user)
{
	(void)user;
	if (rc)
		fprintf(stderr, "node: materialize %s: %s\n", dir,
			cohort_error_last());
	else if (st->added || st->updated || st->removed)
		fprintf(stderr, "node: %s: %lu added, %lu updated, %lu removed\n",
			dir, st->added, st->updated, st->removed);
}

/* May run in the runtime's watchdog thread: just say it. */
static void mode_changed(int readonly, const char *reason, void *user)
{
	(void)user;
	fprintf(stderr, "node: %s (%s)\n", readonly ? "read-only" : "read-write",
		reason);
}

int main(int argc, char **argv)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_node_options no = COHORT_NODE_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	cohort_node *n = NULL;
	struct sigaction sa;
	int rc;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: node ROOT NODE STATE [PLUGIN_DIR]\n");
		return 2;
	}
	o.root = argv[1];
	o.node = argv[2];
	o.state = argv[3];
	no.materialize = argc == 5 ? argv[4] : NULL;
	no.apply = apply;
	no.materialized = materialized;
	no.mode_changed = mode_changed;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if ((rc = cohort_cluster_open(&c, &o)) ||
	    (rc = cohort_node_start(&n, c, &no)))
		goto out;
	fprintf(stderr, "node: %s runs in cluster %s\n", argv[2],
		cohort_cluster_id(c));
	while (!stop) {
		struct pollfd p = { cohort_node_fd(n), POLLIN, 0 };

		/* Apply, materialize, decide the mode. */
		if ((rc = cohort_node_step(n)))
			break;
		/* This host's commits wake us at once; other hosts' within
		 * the timeout (NFS never notifies them). */
		(void)poll(&p, p.fd >= 0 ? 1 : 0, cohort_node_timeout_ms(n));
	}
out:
	if (rc)
		fprintf(stderr, "node: %s\n", cohort_error_last());
	cohort_node_stop(n);
	cohort_cluster_close(c);
	return rc ? 1 : 0;
}
