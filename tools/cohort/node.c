/*
 * cohort - a node's life: init, join, leave, the mount-and-go 'node'
 * (heartbeat, watchdog, read-only mode, catch-up, materialize) and
 * run-once.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- init / join / leave ------------------------------------------------ */

static const char init_help[] =
	"usage: cohort init\n"
	"Create the cluster at the root unless it exists and print its id (a\n"
	"UUID v4).  Safe to run from many nodes at once: all print one id.\n";

int cmd_init(int argc, char **argv)
{
	char id[COHORT_UUID_LEN + 1];
	int rc;

	if ((rc = no_options(argc, argv, "init", init_help)) >= 0)
		return rc;
	if (!g.root)
		return usage_error(NULL, "no cluster root: use --root DIR or set "
				   "COHORT_ROOT");
	rc = cohort_cluster_init(id, g.root);
	if (rc)
		return fail_lib(rc);
	printf("%s\n", id);
	return 0;
}

static const char join_help[] =
	"usage: cohort join [--priority N] [--from-head]\n"
	"Register this node.  A new node starts before the oldest retained\n"
	"record (it will replay all history); --from-head starts it at the\n"
	"current head.  Re-joining after a restart is fine; an id held by\n"
	"another live instance is refused.\n"
	"  --priority N   0-100 (default: [node] priority, 50)\n";

int cmd_join(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "priority", required_argument, NULL, 'p' },
		{ "from-head", no_argument, NULL, 'f' }, { 0, 0, 0, 0 } };
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	uint64_t rev = 0, prio;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(join_help, stdout); return 0;
		case 'p':
			if (parse_u64(&prio, optarg) || prio > 100)
				return usage_error("join", "--priority takes 0-100, "
						   "not '%s'", optarg);
			jo.priority = (int)prio;
			break;
		case 'f': jo.from_head = 1; break;
		default: return usage_error("join", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("join", "unexpected argument '%s'", argv[optind]);
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_node_join(c, &jo);
	if (!rc)
		rc = cohort_journal_open(&j, c);
	if (!rc)
		rc = cohort_journal_revision(j, &rev);
	if (rc)
		rc = fail_lib(rc);
	else
		printf("node %s joined cluster %s at revision %" PRIu64 "\n",
		       cohort_cluster_node(c), cohort_cluster_id(c), rev);
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc;
}

static const char leave_help[] =
	"usage: cohort leave\n"
	"Deregister this node (mark it retired) so cleanup no longer waits for\n"
	"it.  'cohort join' brings it back.\n";

int cmd_leave(int argc, char **argv)
{
	cohort_cluster *c = NULL;
	int rc;

	if ((rc = no_options(argc, argv, "leave", leave_help)) >= 0)
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_node_leave(c);
	if (rc)
		rc = fail_lib(rc);
	else
		printf("node %s left cluster %s\n", cohort_cluster_node(c),
		       cohort_cluster_id(c));
	cohort_cluster_close(c);
	return rc;
}

/* ---- node --------------------------------------------------------------- */

static void logf_(const char *node, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void logf_(const char *node, const char *fmt, ...)
{
	char when[32];
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	fmt_time(when, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	fprintf(stderr, "%s cohort node %s: ", when, node);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* What the node runtime's callbacks share (cohort/node.h). */
struct node_ctx {
	struct apply_ctx a;
	const char *snap_cmd;
	cohort_cluster *c;
};

/* The runtime to interrupt on SIGINT and SIGTERM. */
static cohort_node *running;

static void node_on_stop(int sig)
{
	on_stop(sig);
	if (running)
		cohort_node_interrupt(running);
}

static int node_apply(const cohort_record *r, void *user)
{
	struct node_ctx *nc = user;
	int rc = apply_cb(r, &nc->a);

	if (rc == COHORT_ERROR)
		return EXIT_FAIL; /* the hook could not run: said */
	if (!rc)
		logf_(nc->a.p.self, "applied revision %" PRIu64 " (%s from %s)",
		      r->rev, r->type, r->node);
	return rc;
}

static int node_restore(const void *data, size_t len, uint64_t rev,
			void *user)
{
	struct node_ctx *nc = user;
	int rc = restore_hook(nc->c, nc->snap_cmd, data, len, rev);

	if (!rc)
		fprintf(stderr, "cohort: node %s bootstrapped from the application "
			"snapshot at revision %" PRIu64 "\n", nc->a.p.self, rev);
	return rc;
}

static void node_materialized(const char *dir, int rc,
			      const cohort_materialize_stats *ms, void *user)
{
	struct node_ctx *nc = user;

	if (rc)
		logf_(nc->a.p.self, "materialize failed: %s", cohort_error_last());
	else if (ms->added || ms->updated || ms->removed)
		logf_(nc->a.p.self, "materialized %s: %lu added, %lu updated, %lu "
		      "removed, %lu unchanged", dir, ms->added, ms->updated,
		      ms->removed, ms->unchanged);
}

static void node_mode(int readonly, const char *reason, void *user)
{
	struct node_ctx *nc = user;

	if (readonly)
		logf_(nc->a.p.self, "read-only: %s", reason);
	else
		logf_(nc->a.p.self, "read-write again (%s)", reason);
}

static const char node_help[] =
	"usage: cohort node [--exec CMD] [--materialize DIR] [--namespace NS]\n"
	"                   [--poll-ms N] [--priority N] [--skip-own]\n"
	"                   [--exec-snapshot CMD] [--skip-lost] [--no-committer]\n"
	"Mount-and-go: join (or rejoin) this node, replay every record it missed\n"
	"through CMD (as 'sync --exec'), materialize the installed packages into\n"
	"DIR, then watch: new records go through CMD in order, store changes are\n"
	"materialized as they land, and the node's heartbeat is written every\n"
	"[cluster] heartbeat_interval.  When the root stops answering the node\n"
	"turns read-only (appends and installs on it are refused) and back to\n"
	"read-write once it has caught up again.  At lost records (revisions\n"
	"'cohort fsck --repair' could not save) it stops with exit 1 naming\n"
	"them, unless --exec-snapshot restores it past them or --skip-lost\n"
	"accepts the loss (as 'sync').  The node also hosts its committer on\n"
	"STATE/committer.sock (owner only): 'cohort append' of this node's\n"
	"processes commits through it, several processes' records in one\n"
	"commit; --no-committer leaves them to commit each for itself.  One\n"
	"line per action on stderr; exits 0 on SIGTERM or SIGINT after the\n"
	"action in hand.\n"
	"  --no-committer   do not host the node's committer\n";

int cmd_node(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "exec", required_argument, NULL, 'e' },
		{ "materialize", required_argument, NULL, 'm' },
		{ "namespace", required_argument, NULL, 'N' },
		{ "poll-ms", required_argument, NULL, 'p' },
		{ "priority", required_argument, NULL, 'P' },
		{ "skip-own", no_argument, NULL, 's' },
		{ "exec-snapshot", required_argument, NULL, 'S' },
		{ "skip-lost", no_argument, NULL, 'L' },
		{ "no-committer", no_argument, NULL, 'C' }, { 0, 0, 0, 0 } };
	cohort_node_options no = COHORT_NODE_OPTIONS_INIT;
	cohort_committer *k = NULL;
	int committer = 1;
	struct node_ctx nc;
	cohort_cluster *c = NULL;
	cohort_node *n = NULL;
	uint64_t poll_ms = 0, prio, rev = 0;
	struct sigaction sa;
	int ch, rc;

	memset(&nc, 0, sizeof(nc));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(node_help, stdout); return 0;
		case 'e': nc.a.p.exec = optarg; break;
		case 'm': no.materialize = optarg; break;
		case 'N': no.ns = optarg; break;
		case 's': no.skip_own = 1; break;
		case 'S': nc.snap_cmd = optarg; break;
		case 'L': no.skip_lost = 1; break;
		case 'C': committer = 0; break;
		case 'p':
			if (parse_u64(&poll_ms, optarg) || poll_ms < 1 ||
			    poll_ms > 3600000)
				return usage_error("node", "--poll-ms takes 1-3600000");
			no.poll_ms = (int)poll_ms;
			break;
		case 'P':
			if (parse_u64(&prio, optarg) || prio > 100)
				return usage_error("node", "--priority takes 0-100");
			no.priority = (int)prio;
			break;
		default: return usage_error("node", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("node", "unexpected argument '%s'", argv[optind]);
	if ((rc = bad_name("node", COHORT_NAME_NAMESPACE, no.ns)))
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	nc.c = c;
	nc.a.p.self = cohort_cluster_node(c);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = node_on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	no.apply = nc.a.p.exec ? node_apply : NULL;
	no.restore = nc.snap_cmd ? node_restore : NULL;
	no.materialized = node_materialized;
	no.mode_changed = node_mode;
	no.user = &nc;
	if ((rc = cohort_node_start(&n, c, &no))) {
		rc = fail_lib(rc);
		goto out;
	}
	(void)cohort_journal_revision(cohort_node_journal(n), &rev);
	logf_(nc.a.p.self, "joined cluster %s at revision %" PRIu64,
	      cohort_cluster_id(c), rev);
	/* Without a committer the node's processes commit for themselves:
	 * slower, never wrong, so a failure to start one is only said. */
	if (committer && cohort_committer_start(&k, c))
		logf_(nc.a.p.self, "no committer: %s", cohort_error_last());
	else if (k)
		logf_(nc.a.p.self, "committer listening");
	running = n;
	if (stop_requested)
		cohort_node_interrupt(n);
	rc = cohort_node_run(n);
	running = NULL;
	if (rc == STOPPED)
		rc = 0; /* a signal came while a record was in hand */
	if (rc == COHORT_EBEHIND)
		rc = behind_without_snapshot();
	else if (rc == COHORT_ELOST)
		/* With --exec-snapshot the runtime restored past lost records
		 * when it could name them: say which, and the ways on. */
		rc = lost_stop(c, cohort_node_journal(n), NULL);
	else if (rc == HOOK_FAILED)
		rc = apply_result(rc, &nc.a);
	else if (rc < 0)
		rc = fail_lib(rc);
	else if (rc == 0)
		logf_(nc.a.p.self, "stopping");
	/* else: a hook could not run, or the snapshot hook failed: said */
out:
	if (k) {
		uint64_t served = cohort_committer_served(k);

		cohort_committer_stop(k);
		logf_(nc.a.p.self, "committer stopped: %" PRIu64 " commit "
		      "request(s) served", served);
	}
	cohort_node_stop(n);
	cohort_cluster_close(c);
	return rc;
}

static const char run_once_help[] =
	"usage: cohort run-once NAME [--every DURATION] -- CMD [ARGS...]\n"
	"(the '--' is needed when CMD has options of its own)\n"
	"Run CMD on exactly one node of the cluster per period (DURATION like\n"
	"15m, 1h, 1d; without --every: on one node at a time).  On the other\n"
	"nodes print 'skipped: ...' and exit 0.  The job holds the cluster lock\n"
	"'job.NAME' while it runs; a node killed while running it stops\n"
	"holding it once its lease lapses.  The last run is recorded on the\n"
	"root and shown by 'status --json'.  Exits with CMD's exit status.\n";

int cmd_run_once(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "every", required_argument, NULL, 'e' },
		{ 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	cohort_job *job = NULL;
	int64_t every = 0;
	const char *name;
	int ch, rc, status = 0;
	pid_t pid;

	/* Options may come before or after NAME; everything after '--' is
	 * the command. */
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(run_once_help, stdout); return 0;
		case 'e':
			if (cohort_parse_duration_ms(&every, optarg) || every <= 0)
				return usage_error("run-once", "--every takes a "
						   "duration like 30s, 15m, 2h, "
						   "7d, not '%s'", optarg);
			break;
		default: return usage_error("run-once", "bad option");
		}
	}
	if (argc - optind < 2)
		return usage_error("run-once", "give a job NAME and, after --, "
				   "the command");
	name = argv[optind++];
	if ((rc = bad_name("run-once", COHORT_NAME_JOB, name)))
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_job_begin(&job, c, name, every);
	if (rc == COHORT_EEXISTS) {
		printf("skipped: %s\n", cohort_error_last());
		cohort_cluster_close(c);
		return 0;
	}
	if (rc) {
		rc = fail_lib(rc);
		cohort_cluster_close(c);
		return rc;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "cohort: cannot run '%s': %s\n", argv[optind],
			strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		status = 127 << 8;
		rc = fail("cannot fork: %s", strerror(errno));
	} else {
		/* Let the job finish even if we are asked to stop. */
		signal(SIGINT, SIG_IGN);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	{
		int code = WIFEXITED(status) ? WEXITSTATUS(status) :
			   128 + WTERMSIG(status);

		if (cohort_job_end(job, code))
			fprintf(stderr, "cohort: cannot record the end of job '%s': "
				"%s\n", name, cohort_error_last());
		if (!rc)
			rc = code;
	}
	cohort_cluster_close(c);
	return rc;
}
