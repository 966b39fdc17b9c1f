/*
 * follow.c - embed the journal in an application's own event loop.
 *
 *	follow ROOT NODE STATE
 *
 * Joins as NODE, applies what the node missed, then waits on the journal's
 * descriptor (inotify: this host's commits) with the poll interval as the
 * timeout (other hosts' commits), and prints each record as it applies it.
 * Stops on SIGINT/SIGTERM.
 *
 *	cc follow.c $(pkg-config --cflags --libs cohort)
 */
#define _POSIX_C_SOURCE 200809L /* sigaction, also with -std=c11 */
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

static int apply(const cohort_record *r, void *arg)
{
	(void)arg;
	printf("%" PRIu64 " %s %s %.*s\n", r->rev, r->node, r->type,
	       (int)r->len, (const char *)r->data);
	fflush(stdout);
	return 0; /* non-zero would stop, and the record would come again */
}

int main(int argc, char **argv)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	struct sigaction sa;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: follow ROOT NODE STATE\n");
		return 2;
	}
	o.root = argv[1];
	o.node = argv[2];
	o.state = argv[3];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if ((rc = cohort_cluster_open(&c, &o)) ||
	    (rc = cohort_node_join(c, NULL)) ||
	    (rc = cohort_journal_open(&j, c)))
		goto out;
	while (!stop) {
		struct pollfd p = { cohort_journal_fd(j), POLLIN, 0 };

		/* Apply and advance: the revision file moves after each. */
		if ((rc = cohort_journal_apply(j, 1, apply, NULL, NULL)))
			break;
		if (poll(&p, p.fd >= 0 ? 1 : 0,
			 cohort_journal_poll_interval_ms(j)) > 0)
			cohort_journal_fd_drain(j);
	}
out:
	if (rc)
		fprintf(stderr, "follow: %s\n", cohort_error_last());
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc ? 1 : 0;
}
