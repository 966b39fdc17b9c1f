/*
 * nodeclaim - a test helper that holds a node id like a long-running
 * 'cohort node' would, for the cluster tests (tests/cluster/init.sh).
 *
 *	nodeclaim --root R --node N --state S
 *
 * Claims the node id (cohort_node_claim), prints "claimed" on stdout, then
 * writes the heartbeat every 'heartbeat_interval' until SIGTERM or SIGINT,
 * releases the claim and exits 0.  Exit 1 when the claim is refused (the
 * library's message on stderr), 2 on a usage error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>

#include <cohort.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: nodeclaim --root R --node N --state S\n");
	exit(2);
}

int main(int argc, char **argv)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	struct sigaction sa;
	int64_t interval;
	int i, rc;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--root"))
			o.root = argv[i + 1];
		else if (!strcmp(argv[i], "--node"))
			o.node = argv[i + 1];
		else if (!strcmp(argv[i], "--state"))
			o.state = argv[i + 1];
		else
			usage();
	}
	if (i != argc || !o.root || !o.node || !o.state)
		usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: wake the sleep */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (cohort_cluster_open(&c, &o) != 0) {
		fprintf(stderr, "nodeclaim: %s\n", cohort_error_last());
		return 1;
	}
	rc = cohort_node_claim(c);
	if (rc != 0) {
		fprintf(stderr, "nodeclaim: %s\n", cohort_error_last());
		cohort_cluster_close(c);
		return 1;
	}
	printf("claimed\n");
	fflush(stdout);
	interval = cohort_config_get_int(c, "cluster", "heartbeat_interval");
	if (interval < 10)
		interval = 10;
	while (!stop) {
		struct timespec ts = { (time_t)(interval / 1000),
				       (long)(interval % 1000) * 1000000L };

		if (nanosleep(&ts, NULL) != 0 && errno != EINTR)
			break;
		if (!stop && cohort_node_heartbeat(c) != 0)
			fprintf(stderr, "nodeclaim: heartbeat: %s\n",
				cohort_error_last());
	}
	rc = cohort_node_release(c);
	if (rc != 0)
		fprintf(stderr, "nodeclaim: release: %s\n", cohort_error_last());
	cohort_cluster_close(c);
	return rc ? 1 : 0;
}
