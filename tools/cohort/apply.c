/*
 * cohort - applying records: the hook a record is handed to (sync, watch,
 * node), what its failure means for the exit status, bootstrap from the
 * application snapshot, and the stop signal.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

volatile sig_atomic_t stop_requested;

/*
 * Run the hook with the payload on its standard input, and its size in
 * COHORT_SIZE.  The payload is written whole into an anonymous file before
 * the hook starts: a hook that outlives a killed 'sync' (it has its own
 * process group) reads all of the record, never a cut-off one, as it would
 * from a pipe whose writer died.  The record is applied again after the
 * restart (at least once), but never wrong.
 */
/*
 * Run '/bin/sh -c cmd' with 'fd' (rewound) on its standard input and the
 * NULL-terminated name/value pairs 'env' in its environment; its wait
 * status in '*status'.  Closes 'fd'.
 */
static int hook_exec(const char *cmd, int fd, const char *const *env,
		     int *status)
{
	pid_t pid;

	if (lseek(fd, 0, SEEK_SET) < 0) {
		int e = errno;

		close(fd);
		return fail("cannot rewind the hook's input: %s", strerror(e));
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(fd);
		return fail("cannot fork: %s", strerror(e));
	}
	if (pid == 0) {
		for (; *env; env += 2)
			setenv(env[0], env[1], 1);
		if (dup2(fd, 0) < 0)
			_exit(127);
		/* Its own process group: a Ctrl-C meant for 'watch' lets the
		 * record in hand finish instead of killing its hook. */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fd);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return fail("cannot wait for the hook: %s",
				    strerror(errno));
	}
	return 0;
}

int run_hook(const char *cmd, const cohort_record *r, int *status)
{
	char rev[32], when[32], size[32];
	const char *env[] = { "COHORT_REV", rev, "COHORT_TYPE", r->type,
			      "COHORT_ORIGIN", r->node, "COHORT_TIME", when,
			      "COHORT_SIZE", size, NULL };
	size_t off = 0;
	int fd;

	fd = memfd_create("cohort-record", MFD_CLOEXEC);
	if (fd < 0)
		return fail("cannot make the hook's input: %s", strerror(errno));
	while (off < r->len) {
		ssize_t w = write(fd, (const char *)r->data + off, r->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;

			close(fd);
			return fail("cannot write the hook's input: %s",
				    strerror(e));
		}
		off += (size_t)w;
	}
	snprintf(rev, sizeof(rev), "%" PRIu64, r->rev);
	snprintf(size, sizeof(size), "%zu", r->len);
	fmt_time(when, r->time_ms);
	return hook_exec(cmd, fd, env, status);
}

/*
 * The batch hook.  Records are written as JSON Lines ('log --json') into
 * an anonymous file as they come (whole even if sync is killed while the
 * hook runs, as for the per-record hook); at the end of the batch the
 * hook reads all of them on standard input, and only when it exits 0 does
 * the library write the revision.  A killed sync or a failed hook leaves
 * the revision before the batch: the batch is applied again (at least
 * once), never skipped.
 */
static int batch_add(struct apply_ctx *a, const cohort_record *r)
{
	static char buf[1 << 18];

	if (!a->batch) {
		int fd = memfd_create("cohort-batch", MFD_CLOEXEC);

		if (fd < 0 || !(a->batch = fdopen(fd, "w+"))) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			fail("cannot make the batch hook's input: %s", strerror(e));
			a->batch_broken = 1;
			return BATCH_ERROR;
		}
		setvbuf(a->batch, buf, _IOFBF, sizeof(buf));
		a->batch_first = r->rev;
		a->batch_count = 0;
	}
	if (write_record(a->batch, r, 1)) {
		/* The input may end in part of this record: never run. */
		fail("cannot write the batch hook's input: %s", strerror(errno));
		a->batch_broken = 1;
		return BATCH_ERROR;
	}
	a->batch_last = r->rev;
	a->batch_count++;
	return 0;
}

int batch_done_cb(uint64_t last, void *arg)
{
	struct apply_ctx *a = arg;
	char first[32], lastr[32], count[32], size[32];
	const char *env[] = { "COHORT_FIRST_REV", first, "COHORT_LAST_REV", lastr,
			      "COHORT_COUNT", count, "COHORT_SIZE", size, NULL };
	FILE *f = a->batch;
	long len;
	int rc, status = 0;

	if (!a->p.batch_exec) {
		/* Printing: what the revision will pass must be out first. */
		if (fflush(stdout) != 0 || ferror(stdout))
			return COHORT_ERROR;
		a->written = last;
		return 0;
	}
	if (a->batch_broken)
		return BATCH_ERROR; /* the revision stays before the batch */
	if (!f) { /* every record of the batch was skipped (--skip-own) */
		a->written = last;
		return 0;
	}
	a->batch = NULL;
	if (fflush(f) != 0 || (len = ftell(f)) < 0) {
		fail("cannot write the batch hook's input: %s", strerror(errno));
		fclose(f);
		return BATCH_ERROR;
	}
	snprintf(first, sizeof(first), "%" PRIu64, a->batch_first);
	snprintf(lastr, sizeof(lastr), "%" PRIu64, a->batch_last);
	snprintf(count, sizeof(count), "%" PRIu64, a->batch_count);
	snprintf(size, sizeof(size), "%ld", len);
	/* hook_exec() closes the descriptor; the FILE goes without it. */
	rc = hook_exec(a->p.batch_exec, dup(fileno(f)), env, &status);
	fclose(f);
	if (rc)
		return BATCH_ERROR;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		a->failed_first = a->batch_first;
		a->failed_rev = a->batch_last;
		a->failed_status = status;
		return HOOK_FAILED;
	}
	a->written = last;
	return 0;
}

int apply_cb(const cohort_record *r, void *arg)
{
	struct apply_ctx *a = arg;
	int status = 0;

	if (stop_requested)
		return STOPPED; /* the revision stays at the record before */
	if (a->p.skip_own && a->p.self && !strcmp(r->node, a->p.self))
		return 0;
	if (a->p.batch_exec)
		return batch_add(a, r);
	if (!a->p.exec)
		return print_cb(r, &a->p);
	if (run_hook(a->p.exec, r, &status))
		return COHORT_ERROR;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		a->failed_rev = r->rev;
		a->failed_status = status;
		return HOOK_FAILED;
	}
	return 0;
}

int apply_result(int rc, struct apply_ctx *a)
{
	if (a->batch) { /* a batch the hook never got */
		fclose(a->batch);
		a->batch = NULL;
	}
	if (rc == STOPPED)
		return 0;
	if (rc == BATCH_ERROR)
		return EXIT_FAIL; /* said already */
	if (rc == HOOK_FAILED && a->p.batch_exec) {
		if (WIFEXITED(a->failed_status))
			return fail("batch hook failed on revisions %" PRIu64 "-%"
				    PRIu64 " (exit status %d); the node stays at "
				    "revision %" PRIu64, a->failed_first,
				    a->failed_rev, WEXITSTATUS(a->failed_status),
				    a->written);
		return fail("batch hook killed by signal %d on revisions %" PRIu64
			    "-%" PRIu64 "; the node stays at revision %" PRIu64,
			    WTERMSIG(a->failed_status), a->failed_first,
			    a->failed_rev, a->written);
	}
	if (rc == HOOK_FAILED) {
		if (WIFEXITED(a->failed_status))
			return fail("hook failed at revision %" PRIu64 " (exit "
				    "status %d); the node stays at revision %"
				    PRIu64, a->failed_rev,
				    WEXITSTATUS(a->failed_status),
				    a->failed_rev - 1);
		return fail("hook killed by signal %d at revision %" PRIu64
			    "; the node stays at revision %" PRIu64,
			    WTERMSIG(a->failed_status), a->failed_rev,
			    a->failed_rev - 1);
	}
	if (rc == COHORT_ERROR && ferror(stdout))
		/* The reader went away: the revision is at the last record
		 * printed, so nothing is lost. */
		return errno == EPIPE ? 0 : fail("cannot write standard output");
	if (rc)
		return fail_lib(rc);
	return 0;
}

int behind_without_snapshot(void)
{
	return fail("%s (run with --exec-snapshot CMD to load the "
		    "application snapshot, see 'cohort snapshot get')",
		    cohort_error_last());
}

static int lost_cb(const cohort_record *r, void *arg)
{
	uint64_t *range = arg;

	if (cohort_record_lost_range(r, &range[0], &range[1]))
		range[0] = range[1] = r->rev;
	return 0;
}

/*
 * The node stopped at a lost record (COHORT_ELOST): restore it from the
 * application snapshot when CMD is given and a snapshot taken after the
 * lost revisions exists; else say so, naming the revisions and both ways
 * on.
 */
int lost_stop(cohort_cluster *c, cohort_journal *j, const char *cmd)
{
	uint64_t range[2] = { 0, 0 }, rev = 0;
	char msg[1024];
	int rc;

	snprintf(msg, sizeof(msg), "%s", cohort_error_last());
	if ((rc = cohort_journal_revision(j, &rev)) ||
	    (rc = cohort_journal_read(j, rev + 1, 1, lost_cb, range)) ||
	    !range[1])
		return fail("%s: restore this node from the application snapshot "
			    "(--exec-snapshot CMD) or accept the loss "
			    "(--skip-lost)", msg);
	if (!cmd)
		return fail("revisions %" PRIu64 "-%" PRIu64 " were lost (see "
			    "'cohort log --from %" PRIu64 "'): restore this node "
			    "from the application snapshot (--exec-snapshot CMD) "
			    "or accept the loss (--skip-lost)", range[0],
			    range[1], range[0]);
	return bootstrap_from(c, j, cmd, range[1]);
}

/*
 * Hand the application's snapshot to CMD on standard input (COHORT_REV is
 * its revision, COHORT_TYPE "snapshot").
 */
int restore_hook(cohort_cluster *c, const char *cmd, const void *data,
		 size_t len, uint64_t rev)
{
	cohort_record r;
	int rc, status = 0;

	memset(&r, 0, sizeof(r));
	r.rev = rev;
	r.time_ms = (int64_t)time(NULL) * 1000;
	r.node = cohort_cluster_node(c);
	r.type = "snapshot";
	r.data = data;
	r.len = len;
	if ((rc = run_hook(cmd, &r, &status)))
		return rc;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail("snapshot hook failed (status %d); node stays behind",
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

struct restore_ctx {
	cohort_cluster *c;
	const char *cmd;
};

static int restore_cb(const void *data, size_t len, uint64_t rev, void *arg)
{
	struct restore_ctx *x = arg;

	return restore_hook(x->c, x->cmd, data, len, rev);
}

/*
 * A node behind the oldest retained record: load the application's
 * snapshot through CMD, then the node's revision is the snapshot's and
 * replay goes on from there.
 */
int bootstrap(cohort_cluster *c, cohort_journal *j, const char *cmd)
{
	if (!cmd)
		return behind_without_snapshot();
	return bootstrap_from(c, j, cmd, 0);
}

/* Restore from the application snapshot, which must be at revision
 * 'need' or later (cohort_snapshot_load()). */
int bootstrap_from(cohort_cluster *c, cohort_journal *j, const char *cmd,
		   uint64_t need)
{
	struct restore_ctx x = { c, cmd };
	uint64_t rev = 0;
	int rc;

	rc = cohort_snapshot_load(c, j, need, restore_cb, &x, &rev);
	if (rc > 0)
		return rc; /* the hook's failure, said */
	if (rc)
		return fail_lib(rc);
	fprintf(stderr, "cohort: node %s bootstrapped from the application "
		"snapshot at revision %" PRIu64 "\n", cohort_cluster_node(c), rev);
	return 0;
}

void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}
