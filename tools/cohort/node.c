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

/* ---- operations: node, run-once ----------------------------------------- */

static void logf_(const char *node, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void logf_(const char *node, const char *fmt, ...)
{
	char when[32];
	va_list ap;

	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		fmt_time(when, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	}
	fprintf(stderr, "%s cohort node %s: ", when, node);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* The heartbeat runs in its own thread: a hung mount blocks it, and the
 * watchdog (the main loop) sees that no beat finished in time. */
struct beat {
	cohort_cluster *c;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int64_t interval_ms;
	int64_t last_ok;     /* monotonic ms of the last good beat */
	int64_t started;     /* monotonic ms the beat in progress began, or 0 */
	int failed;	     /* the last beat failed */
	char err[512];
	/* the mode, shared by the main loop and the watchdog */
	int ro;
	int64_t timeout_ms;
	const char *self;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *beat_thread(void *arg)
{
	struct beat *b = arg;

	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		struct timespec ts;
		int rc;

		b->started = mono_ms();
		pthread_mutex_unlock(&b->mu);
		rc = cohort_node_heartbeat(b->c);
		pthread_mutex_lock(&b->mu);
		b->started = 0;
		b->failed = rc != 0;
		if (rc)
			snprintf(b->err, sizeof(b->err), "%s", cohort_error_last());
		else
			b->last_ok = mono_ms();
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += b->interval_ms / 1000;
		ts.tv_nsec += (b->interval_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!b->stop)
			pthread_cond_timedwait(&b->cv, &b->mu, &ts);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Switch to read-only (once) with 'why'; the caller holds b->mu. */
static void go_readonly_locked(struct beat *b, const char *why)
{
	if (b->ro)
		return;
	b->ro = 1;
	(void)cohort_node_set_mode(b->c, 1, why);
	logf_(b->self, "read-only: %s", why);
}

static int beat_healthy(struct beat *b, int64_t timeout_ms, char *why,
			size_t size);

/*
 * The watchdog never touches the root: when the mount hangs, the main
 * loop and the heartbeat thread hang with it, and this thread alone can
 * still turn the node read-only (the mode lives in the local state folder).
 */
static void *watchdog_thread(void *arg)
{
	struct beat *b = arg;
	char why[600];

	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		struct timespec ts;
		int64_t step = b->interval_ms / 2 + 1;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += step / 1000;
		ts.tv_nsec += (step % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		if (b->stop)
			break;
		pthread_mutex_unlock(&b->mu);
		if (!beat_healthy(b, b->timeout_ms, why, sizeof(why))) {
			pthread_mutex_lock(&b->mu);
			go_readonly_locked(b, why);
			pthread_mutex_unlock(&b->mu);
		}
		pthread_mutex_lock(&b->mu);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* With b->mu held: did the last beat succeed, recently? */
static int beat_healthy_locked_ok(struct beat *b, int64_t timeout_ms)
{
	return !b->failed && !(b->started && mono_ms() - b->started > timeout_ms) &&
	       mono_ms() - b->last_ok <= timeout_ms + b->interval_ms;
}

/* Is the root answering?  Fills 'why' when not. */
static int beat_healthy(struct beat *b, int64_t timeout_ms, char *why,
			size_t size)
{
	int ok = 1;

	pthread_mutex_lock(&b->mu);
	if (b->failed) {
		snprintf(why, size, "the shared root does not answer: %s", b->err);
		ok = 0;
	} else if (b->started && mono_ms() - b->started > timeout_ms) {
		snprintf(why, size, "the shared root does not answer: a heartbeat "
			 "write has taken over %lld ms", (long long)timeout_ms);
		ok = 0;
	} else if (mono_ms() - b->last_ok > timeout_ms + b->interval_ms) {
		snprintf(why, size, "the shared root does not answer: no heartbeat "
			 "for %lld ms", (long long)(mono_ms() - b->last_ok));
		ok = 0;
	}
	pthread_mutex_unlock(&b->mu);
	return ok;
}

/*
 * Priorities (eXo JCR): the main node is the registered, not retired node
 * with the highest priority (ties: the smallest id).  In static mode the
 * other nodes are read-only while it is stale.
 */
static int main_node_stale(cohort_cluster *c, char *why, size_t size)
{
	cohort_node_info *v = NULL;
	int64_t stale = cohort_config_get_int(c, "cluster", "stale_after");
	size_t n = 0, i, best = (size_t)-1;
	int rc = 0;

	if (strcmp(cohort_config_get(c, "cluster", "priority_mode"), "static"))
		return 0;
	if (cohort_node_list(&v, &n, c))
		return 0; /* the cut-off check speaks for this */
	for (i = 0; i < n; i++)
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

struct node_ctx {
	struct apply_ctx a;
	int store_changed;
	uint64_t applied;
};

static int node_apply_cb(const cohort_record *r, void *arg)
{
	struct node_ctx *nc = arg;
	int rc;

	if (!strncmp(r->type, "store.", 6))
		nc->store_changed = 1;
	if (stop_requested)
		return STOPPED;
	if (!nc->a.p.exec) {
		nc->applied++;
		return 0;
	}
	if (nc->a.p.skip_own && !strcmp(r->node, nc->a.p.self)) {
		nc->applied++;
		return 0;
	}
	rc = apply_cb(r, &nc->a);
	if (!rc) {
		nc->applied++;
		logf_(nc->a.p.self, "applied revision %" PRIu64 " (%s from %s)",
		      r->rev, r->type, r->node);
	}
	return rc;
}

static const char node_help[] =
	"usage: cohort node [--exec CMD] [--materialize DIR] [--namespace NS]\n"
	"                   [--poll-ms N] [--priority N] [--skip-own]\n"
	"                   [--exec-snapshot CMD] [--skip-lost]\n"
	"Mount-and-go: join (or rejoin) this node, replay every record it missed\n"
	"through CMD (as 'sync --exec'), materialize the installed packages into\n"
	"DIR, then watch: new records go through CMD in order, store changes are\n"
	"materialized as they land, and the node's heartbeat is written every\n"
	"[cluster] heartbeat_interval.  When the root stops answering the node\n"
	"turns read-only (appends and installs on it are refused) and back to\n"
	"read-write once it has caught up again.  At lost records (revisions\n"
	"'cohort fsck --repair' could not save) it stops with exit 1 naming\n"
	"them, unless --exec-snapshot restores it past them or --skip-lost\n"
	"accepts the loss (as 'sync').  One line per action on stderr; exits 0\n"
	"on SIGTERM or SIGINT after the action in hand.\n";

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
		{ "skip-lost", no_argument, NULL, 'L' }, { 0, 0, 0, 0 } };
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	cohort_apply_options ao = COHORT_APPLY_OPTIONS_INIT;
	const char *snap_cmd = NULL;
	struct node_ctx nc;
	struct beat b;
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	cohort_store *st = NULL;
	const char *mdir = NULL, *ns = NULL, *self;
	uint64_t poll_ms = 0, prio, rev = 0;
	int64_t hb_timeout;
	pthread_t thr, wd;
	int ch, rc, need_mat = 1, thr_started = 0, wd_started = 0;
	char why[600] = "", reason[1024];
	struct sigaction sa;

	memset(&nc, 0, sizeof(nc));
	memset(&b, 0, sizeof(b));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(node_help, stdout); return 0;
		case 'e': nc.a.p.exec = optarg; break;
		case 'm': mdir = optarg; break;
		case 'N': ns = optarg; break;
		case 's': nc.a.p.skip_own = 1; break;
		case 'S': snap_cmd = optarg; break;
		case 'L': ao.skip_lost = 1; break;
		case 'p':
			if (parse_u64(&poll_ms, optarg) || poll_ms < 1 ||
			    poll_ms > 3600000)
				return usage_error("node", "--poll-ms takes 1-3600000");
			break;
		case 'P':
			if (parse_u64(&prio, optarg) || prio > 100)
				return usage_error("node", "--priority takes 0-100");
			jo.priority = (int)prio;
			break;
		default: return usage_error("node", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("node", "unexpected argument '%s'", argv[optind]);
	if ((rc = bad_name("node", COHORT_NAME_NAMESPACE, ns)))
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	self = cohort_cluster_node(c);
	nc.a.p.self = self;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Hold the id for as long as we run. */
	if ((rc = cohort_node_claim(c)) || (rc = cohort_node_join(c, &jo)) ||
	    (rc = cohort_journal_open(&j, c)) ||
	    (mdir && (rc = cohort_store_open(&st, c)))) {
		rc = fail_lib(rc);
		goto out;
	}
	if (poll_ms)
		cohort_journal_set_poll_interval_ms(j, (int)poll_ms);
	(void)cohort_journal_revision(j, &rev);
	logf_(self, "joined cluster %s at revision %" PRIu64, cohort_cluster_id(c),
	      rev);
	/* A node starts read-write: the mode of a previous run is stale. */
	(void)cohort_node_set_mode(c, 0, NULL);
	hb_timeout = cohort_config_get_int(c, "node", "heartbeat_timeout");
	b.c = c;
	b.interval_ms = cohort_config_get_int(c, "cluster", "heartbeat_interval");
	b.last_ok = mono_ms();
	pthread_mutex_init(&b.mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&b.cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	b.timeout_ms = hb_timeout;
	b.self = self;
	if (pthread_create(&thr, NULL, beat_thread, &b) != 0) {
		rc = fail("cannot start the heartbeat thread");
		goto out;
	}
	thr_started = 1;
	if (pthread_create(&wd, NULL, watchdog_thread, &b) != 0) {
		rc = fail("cannot start the watchdog thread");
		goto out;
	}
	wd_started = 1;

	while (!stop_requested) {
		int healthy = beat_healthy(&b, hb_timeout, why, sizeof(why));
		uint64_t before = nc.applied;

		if (healthy) {
			rc = cohort_journal_apply_with(j, &ao, node_apply_cb, &nc,
						       NULL);
			if (rc == STOPPED)
				break;
			if (rc == HOOK_FAILED) {
				rc = apply_result(rc, &nc.a);
				goto out;
			}
			if (rc == COHORT_EBEHIND) {
				if ((rc = bootstrap(c, j, snap_cmd)))
					goto out;
				continue;
			}
			if (rc == COHORT_ELOST) {
				if ((rc = lost_stop(c, j, snap_cmd)))
					goto out;
				continue;
			}
			if (rc == COHORT_ECORRUPT) {
				rc = fail_lib(rc);
				goto out;
			}
			if (rc) {
				healthy = 0;
				snprintf(why, sizeof(why), "the shared root does not "
					 "answer: %s", cohort_error_last());
			}
		}
		if (healthy && mdir && (need_mat || nc.store_changed)) {
			cohort_materialize_stats ms;

			nc.store_changed = 0;
			rc = cohort_store_materialize(st, mdir, ns, &ms);
			if (rc) {
				logf_(self, "materialize failed: %s", cohort_error_last());
				if (rc != COHORT_ECORRUPT) {
					healthy = 0;
					snprintf(why, sizeof(why), "the shared root "
						 "does not answer: %s",
						 cohort_error_last());
				}
			} else {
				need_mat = 0;
				if (ms.added || ms.updated || ms.removed)
					logf_(self, "materialized %s: %lu added, %lu "
					      "updated, %lu removed, %lu unchanged",
					      mdir, ms.added, ms.updated, ms.removed,
					      ms.unchanged);
			}
		}
		if (healthy && main_node_stale(c, why, sizeof(why)))
			healthy = 0;
		pthread_mutex_lock(&b.mu);
		if (!healthy && !b.ro) {
			go_readonly_locked(&b, why);
		} else if (healthy && b.ro &&
			   beat_healthy_locked_ok(&b, hb_timeout)) {
			/* Caught up above, and the beats succeed again. */
			b.ro = 0;
			(void)cohort_node_set_mode(c, 0, NULL);
			logf_(self, "read-write again (caught up at revision %" PRIu64
			      ")", (cohort_journal_revision(j, &rev), rev));
		} else if (!healthy && b.ro) {
			/* Keep the newest reason for status. */
			if (cohort_node_mode(c, &ch, reason, sizeof(reason)) == 0 &&
			    strcmp(reason, why))
				(void)cohort_node_set_mode(c, 1, why);
		}
		pthread_mutex_unlock(&b.mu);
		if (stop_requested)
			break;
		if (nc.applied != before)
			continue;
		if (cohort_journal_revision(j, &rev))
			rev = 0;
		if (!healthy) {
			/* Wait a poll interval, then try again. */
			struct timespec ts = { 0, 0 };
			int64_t ms = cohort_journal_poll_interval_ms(j);

			ts.tv_sec = ms / 1000;
			ts.tv_nsec = (ms % 1000) * 1000000;
			nanosleep(&ts, NULL);
			continue;
		}
		(void)cohort_journal_wait(j, rev, cohort_journal_poll_interval_ms(j));
	}
	rc = 0;
	logf_(self, "stopping");
out:
	if (thr_started) {
		pthread_mutex_lock(&b.mu);
		b.stop = 1;
		pthread_cond_broadcast(&b.cv);
		pthread_mutex_unlock(&b.mu);
		pthread_join(thr, NULL);
		if (wd_started)
			pthread_join(wd, NULL);
	}
	cohort_store_close(st);
	cohort_journal_close(j);
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
