/*
 * test_node.c - the node runtime (cohort/node.h) driven through the C API
 * alone: apply in order, a callback that refuses, catch up after a stop,
 * the blocking run and its interrupt, read-only when the mount is cut
 * (fails with ENOTCONN, as a killed FUSE view does) or hangs (the watchdog
 * alone can act), back to read-write after catching up, and a node
 * behind the journal's tail restored from the application snapshot.
 *
 * Two paths lead to one root: 'view' (a symbolic link to it) is the node's
 * mount, 'root' the other writer's.  Cutting the mount is done in the
 * syscall table: every call on a path below 'view', or on a descriptor
 * opened there, fails with ENOTCONN ("cut") or blocks until the cut ends
 * ("hang"), while the writer and the node's local state folder go on.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cohort.h"
#include "fixture.h"
#include "os/os.h"

static char run_dir[256], dir[300], root[400], view[400], state[400],
	wstate[400];

/* ---- the cut mount ------------------------------------------------------ */

enum { MOUNT_UP = 0, MOUNT_CUT, MOUNT_HUNG };
static atomic_int mount = MOUNT_UP;
static atomic_int hung_calls;	    /* calls that waited in a hang */
#define MAX_FD 4096
static atomic_uchar view_fd[MAX_FD]; /* opened below 'view' */

static int below_view(const char *path)
{
	size_t n = strlen(view);

	return path && !strncmp(path, view, n) &&
	       (path[n] == '/' || path[n] == '\0');
}

static int fd_in_view(int fd)
{
	return fd >= 0 && fd < MAX_FD && atomic_load(&view_fd[fd]);
}

/* 0 to go on, -1 (errno ENOTCONN) when the mount is cut; waits while hung. */
static int reach(int in_view)
{
	int counted = 0;

	if (!in_view)
		return 0;
	while (atomic_load(&mount) == MOUNT_HUNG) {
		if (!counted++)
			atomic_fetch_add(&hung_calls, 1);
		usleep(5000);
	}
	if (atomic_load(&mount) == MOUNT_CUT) {
		errno = ENOTCONN;
		return -1;
	}
	return 0;
}

static int v_open(const char *path, int flags, mode_t mode)
{
	int fd;

	if (reach(below_view(path)))
		return -1;
	fd = cohort__sys_default.open(path, flags, mode);
	if (fd >= 0 && fd < MAX_FD)
		atomic_store(&view_fd[fd], below_view(path));
	return fd;
}

static int v_close(int fd)
{
	if (fd >= 0 && fd < MAX_FD)
		atomic_store(&view_fd[fd], 0);
	return cohort__sys_default.close(fd);
}

static ssize_t v_read(int fd, void *b, size_t n)
{
	return reach(fd_in_view(fd)) ? -1 : cohort__sys_default.read(fd, b, n);
}

static ssize_t v_pread(int fd, void *b, size_t n, off_t off)
{
	return reach(fd_in_view(fd)) ? -1 :
	       cohort__sys_default.pread(fd, b, n, off);
}

static ssize_t v_write(int fd, const void *b, size_t n)
{
	return reach(fd_in_view(fd)) ? -1 : cohort__sys_default.write(fd, b, n);
}

static ssize_t v_pwrite(int fd, const void *b, size_t n, off_t off)
{
	return reach(fd_in_view(fd)) ? -1 :
	       cohort__sys_default.pwrite(fd, b, n, off);
}

static int v_fsync(int fd)
{
	return reach(fd_in_view(fd)) ? -1 : cohort__sys_default.fsync(fd);
}

static int v_fdatasync(int fd)
{
	return reach(fd_in_view(fd)) ? -1 : cohort__sys_default.fdatasync(fd);
}

static int v_rename(const char *a, const char *b)
{
	return reach(below_view(a) || below_view(b)) ? -1 :
	       cohort__sys_default.rename(a, b);
}

static int v_link(const char *a, const char *b)
{
	return reach(below_view(a) || below_view(b)) ? -1 :
	       cohort__sys_default.link(a, b);
}

static int v_unlink(const char *p)
{
	return reach(below_view(p)) ? -1 : cohort__sys_default.unlink(p);
}

static int v_mkdir(const char *p, mode_t m)
{
	return reach(below_view(p)) ? -1 : cohort__sys_default.mkdir(p, m);
}

static int v_statx(int dfd, const char *p, int fl, unsigned int mask,
		   struct statx *st)
{
	return reach(below_view(p) || fd_in_view(dfd)) ? -1 :
	       cohort__sys_default.statx(dfd, p, fl, mask, st);
}

static int v_fcntl_lock(int fd, int cmd, struct flock *fl)
{
	return reach(fd_in_view(fd)) ? -1 :
	       cohort__sys_default.fcntl_lock(fd, cmd, fl);
}

static int v_ftruncate(int fd, off_t len)
{
	return reach(fd_in_view(fd)) ? -1 :
	       cohort__sys_default.ftruncate(fd, len);
}

/* ---- fixture ------------------------------------------------------------ */

/* What the callbacks saw. */
struct seen {
	pthread_mutex_t mu;
	uint64_t revs[64];
	char data[64][32];
	size_t n;
	int refuse_rev;		/* apply returns 7 at this revision */
	int modes[16];		/* 1 read-only, 0 read-write, in order */
	char reasons[16][600];
	size_t nmodes;
	int materialized, mat_rc;
	unsigned long mat_added;
	uint64_t restored_rev;	/* 0: restore not called */
	char restored[32];
};

static struct seen seen;

static int on_apply(const cohort_record *r, void *user)
{
	struct seen *s = user;

	if (s->refuse_rev && r->rev == (uint64_t)s->refuse_rev)
		return 7;
	pthread_mutex_lock(&s->mu);
	if (s->n < N(s->revs)) {
		s->revs[s->n] = r->rev;
		snprintf(s->data[s->n], sizeof(s->data[0]), "%.*s", (int)r->len,
			 (const char *)r->data);
		s->n++;
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void on_mode(int readonly, const char *reason, void *user)
{
	struct seen *s = user;

	/* Called with the runtime's lock held, maybe from its watchdog:
	 * only record. */
	pthread_mutex_lock(&s->mu);
	if (s->nmodes < N(s->modes)) {
		s->modes[s->nmodes] = readonly;
		snprintf(s->reasons[s->nmodes], sizeof(s->reasons[0]), "%s",
			 reason);
		s->nmodes++;
	}
	pthread_mutex_unlock(&s->mu);
}

static void on_materialized(const char *d, int rc,
			    const cohort_materialize_stats *st, void *user)
{
	struct seen *s = user;

	(void)d;
	pthread_mutex_lock(&s->mu);
	s->materialized++;
	s->mat_rc = rc;
	s->mat_added += st->added;
	pthread_mutex_unlock(&s->mu);
}

static int on_restore(const void *data, size_t len, uint64_t rev, void *user)
{
	struct seen *s = user;

	s->restored_rev = rev;
	snprintf(s->restored, sizeof(s->restored), "%.*s", (int)len,
		 (const char *)data);
	return 0;
}

static int with_restore; /* start() gives the restore callback */

static size_t seen_n(void)
{
	size_t n;

	pthread_mutex_lock(&seen.mu);
	n = seen.n;
	pthread_mutex_unlock(&seen.mu);
	return n;
}

static size_t seen_modes(void)
{
	size_t n;

	pthread_mutex_lock(&seen.mu);
	n = seen.nmodes;
	pthread_mutex_unlock(&seen.mu);
	return n;
}

static cohort_cluster *writer;
static cohort_journal *wj;

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1];
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;

	make_test_dir(dir, sizeof(dir), run_dir);
	snprintf(root, sizeof(root), "%s/shared", dir);
	snprintf(view, sizeof(view), "%s/view", dir);
	snprintf(state, sizeof(state), "%s/state-n1", dir);
	snprintf(wstate, sizeof(wstate), "%s/state-w", dir);
	ck_assert_int_eq(cohort_cluster_init(id, root), 0);
	/* Fast beats and polls, so a cut shows within a second. */
	write_text(under(root, "cohort.conf"),
		   "[cluster]\nheartbeat_interval = 100ms\n"
		   "[node]\nheartbeat_timeout = 400ms\n"
		   "[journal]\npoll_interval = 20ms\nsegment_size = 4k\n");
	ck_assert_int_eq(symlink(root, view), 0);
	memset(&seen, 0, sizeof(seen));
	pthread_mutex_init(&seen.mu, NULL);
	with_restore = 0;
	atomic_store(&mount, MOUNT_UP);
	atomic_store(&hung_calls, 0);
	cohort__sys.open = v_open;
	cohort__sys.close = v_close;
	cohort__sys.read = v_read;
	cohort__sys.pread = v_pread;
	cohort__sys.write = v_write;
	cohort__sys.pwrite = v_pwrite;
	cohort__sys.fsync = v_fsync;
	cohort__sys.fdatasync = v_fdatasync;
	cohort__sys.rename = v_rename;
	cohort__sys.link = v_link;
	cohort__sys.unlink = v_unlink;
	cohort__sys.mkdir = v_mkdir;
	cohort__sys.statx = v_statx;
	cohort__sys.fcntl_lock = v_fcntl_lock;
	cohort__sys.ftruncate = v_ftruncate;

	o.root = root;
	o.node = "w";
	o.state = wstate;
	ck_assert_msg(cohort_cluster_open(&writer, &o) == 0, "%s",
		      cohort_error_last());
	ck_assert_int_eq(cohort_node_join(writer, &jo), 0);
	ck_assert_int_eq(cohort_journal_open(&wj, writer), 0);
}

static void teardown(void)
{
	atomic_store(&mount, MOUNT_UP);
	cohort_journal_close(wj);
	cohort_cluster_close(writer);
	cohort__sys = cohort__sys_default;
	rm_rf(dir);
}

static void append(const char *text)
{
	cohort_entry e = { "note", text, strlen(text) };

	ck_assert_msg(cohort_journal_append(wj, &e, 1, NULL) == 0, "append: %s",
		      cohort_error_last());
}

/* Open the cluster as node n1 through 'view' and start its runtime. */
static cohort_node *start(cohort_cluster **c, const char *mdir)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_node_options no = COHORT_NODE_OPTIONS_INIT;
	cohort_node *n = NULL;

	o.root = view;
	o.node = "n1";
	o.state = state;
	ck_assert_msg(cohort_cluster_open(c, &o) == 0, "%s", cohort_error_last());
	no.apply = on_apply;
	no.mode_changed = on_mode;
	no.materialized = on_materialized;
	no.restore = with_restore ? on_restore : NULL;
	no.materialize = mdir;
	no.user = &seen;
	ck_assert_msg(cohort_node_start(&n, *c, &no) == 0, "start: %s",
		      cohort_error_last());
	return n;
}

static void stop(cohort_node *n, cohort_cluster *c)
{
	cohort_node_stop(n);
	cohort_cluster_close(c);
}

static uint64_t revision_of(const char *node)
{
	uint64_t rev = 0;

	ck_assert_int_eq(cohort_journal_node_revision(writer, node, &rev), 0);
	return rev;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The mode as every process of node n1 reads it (local state only). */
static int mode_of_n1(char *reason, size_t size)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	int ro = -1;

	o.root = root;
	o.node = "n1";
	o.state = state;
	ck_assert_int_eq(cohort_node_mode_of(&o, &ro, reason, size), 0);
	return ro;
}

/* Wait up to 'ms' for 'cond'. */
#define WAIT_FOR(cond, ms)                                                 \
	do {                                                               \
		int64_t until_ = now_ms() + (ms);                          \
		while (!(cond) && now_ms() < until_)                       \
			usleep(10000);                                     \
	} while (0)

/* cohort_node_run() in a thread of its own. */
struct runner {
	pthread_t t;
	cohort_node *n;
	int rc;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;

	r->rc = cohort_node_run(r->n);
	return NULL;
}

/* Start node n1 and cohort_node_run() in a thread; one record "one" is
 * appended and applied. */
static void run_start(struct runner *r, cohort_cluster **c)
{
	r->n = start(c, NULL);
	r->rc = -100;
	ck_assert_int_eq(pthread_create(&r->t, NULL, run_thread, r), 0);
	append("one");
	WAIT_FOR(seen_n() == 1, 5000);
	ck_assert_uint_eq(seen_n(), 1);
}

/* Interrupt the run, which returns 0, and stop the node. */
static void run_stop(struct runner *r, cohort_cluster *c)
{
	cohort_node_interrupt(r->n);
	pthread_join(r->t, NULL);
	ck_assert_int_eq(r->rc, 0);
	stop(r->n, c);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(applies_in_order)
{
	cohort_cluster *c;
	cohort_node *n;

	append("one");
	append("two");
	append("three");
	n = start(&c, NULL);
	ck_assert_int_eq(seen_n(), 0); /* start applies nothing */
	ck_assert_int_eq(cohort_node_step(n), 0);
	ck_assert_uint_eq(seen.n, 3);
	ck_assert_uint_eq(seen.revs[0], 1);
	ck_assert_uint_eq(seen.revs[2], 3);
	ck_assert_str_eq(seen.data[0], "one");
	ck_assert_str_eq(seen.data[2], "three");
	ck_assert_uint_eq(revision_of("n1"), 3);
	ck_assert_int_eq(cohort_node_timeout_ms(n), 0); /* there may be more */
	ck_assert_int_eq(cohort_node_step(n), 0);
	ck_assert_uint_eq(seen.n, 3); /* nothing twice */
	ck_assert_int_eq(cohort_node_timeout_ms(n), 20); /* the poll interval */
	ck_assert_int_ge(cohort_node_fd(n), 0);
	ck_assert_int_eq(cohort_node_readonly(n, NULL, 0), 0);
	ck_assert_uint_eq(seen.nmodes, 0);
	stop(n, c);
}
END_TEST

START_TEST(callback_refusal_stops_at_the_record_before)
{
	cohort_cluster *c;
	cohort_node *n;

	append("one");
	append("two");
	append("three");
	seen.refuse_rev = 2;
	n = start(&c, NULL);
	ck_assert_int_eq(cohort_node_step(n), 7);
	ck_assert_uint_eq(seen.n, 1);
	ck_assert_uint_eq(revision_of("n1"), 1);
	seen.refuse_rev = 0;
	ck_assert_int_eq(cohort_node_step(n), 0);
	ck_assert_uint_eq(seen.n, 3);
	ck_assert_uint_eq(seen.revs[1], 2);
	ck_assert_uint_eq(revision_of("n1"), 3);
	stop(n, c);
}
END_TEST

START_TEST(catches_up_after_a_stop)
{
	cohort_cluster *c;
	cohort_node *n;

	append("one");
	append("two");
	n = start(&c, NULL);
	ck_assert_int_eq(cohort_node_step(n), 0);
	ck_assert_uint_eq(seen.n, 2);
	stop(n, c);
	/* The id is released: another instance may claim it now. */
	append("three");
	append("four");
	append("five");
	n = start(&c, NULL);
	ck_assert_int_eq(cohort_node_step(n), 0);
	ck_assert_uint_eq(seen.n, 5);
	ck_assert_uint_eq(seen.revs[2], 3);
	ck_assert_str_eq(seen.data[4], "five");
	ck_assert_uint_eq(revision_of("n1"), 5);
	stop(n, c);
}
END_TEST

START_TEST(second_instance_refused)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_node_options no = COHORT_NODE_OPTIONS_INIT;
	cohort_cluster *c, *c2;
	cohort_node *n, *n2 = NULL;

	n = start(&c, NULL);
	/* Another instance of n1 on this host: its flock is taken. */
	o.root = root;
	o.node = "n1";
	o.state = state;
	ck_assert_int_eq(cohort_cluster_open(&c2, &o), 0);
	ck_assert_int_eq(cohort_node_start(&n2, c2, &no), COHORT_EEXISTS);
	ck_assert_ptr_null(n2);
	assert_msg_has("held by another live process");
	stop(n, c);
	/* Stopped, the runtime released the id. */
	ck_assert_msg(cohort_node_start(&n2, c2, &no) == 0, "%s",
		      cohort_error_last());
	cohort_node_stop(n2);
	cohort_cluster_close(c2);
}
END_TEST

START_TEST(bad_options_refused)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_node_options no = COHORT_NODE_OPTIONS_INIT;
	cohort_cluster *c;
	cohort_node *n = NULL;

	o.root = view;
	o.node = "n1";
	o.state = state;
	ck_assert_int_eq(cohort_cluster_open(&c, &o), 0);
	no.version = 99;
	ck_assert_int_eq(cohort_node_start(&n, c, &no), COHORT_EINVAL);
	no.version = COHORT_NODE_OPTIONS_VERSION;
	no.priority = 101;
	ck_assert_int_eq(cohort_node_start(&n, c, &no), COHORT_EINVAL);
	no.priority = -1;
	no.ns = "../x";
	ck_assert_int_eq(cohort_node_start(&n, c, &no), COHORT_EINVAL);
	ck_assert_ptr_null(n);
	cohort_cluster_close(c);
}
END_TEST

START_TEST(run_applies_until_interrupted)
{
	struct runner r;
	cohort_cluster *c;

	run_start(&r, &c);
	append("two");
	append("three");
	WAIT_FOR(seen_n() == 3, 5000);
	ck_assert_uint_eq(seen_n(), 3);
	ck_assert_str_eq(seen.data[2], "three");
	run_stop(&r, c);
	/* Written after the callback returned: look once the run is over. */
	ck_assert_uint_eq(revision_of("n1"), 3);
}
END_TEST

START_TEST(read_only_when_cut_then_back)
{
	char reason[1024];
	cohort_entry e = { "note", "x", 1 };
	cohort_cluster *c;
	cohort_node *n;
	int64_t t0;

	append("one");
	n = start(&c, NULL);
	ck_assert_int_eq(cohort_node_step(n), 0);
	ck_assert_uint_eq(seen.n, 1);
	atomic_store(&mount, MOUNT_CUT);
	/* A step that finds the root gone turns the node read-only at once. */
	t0 = now_ms();
	while (seen_modes() == 0 && now_ms() - t0 < 5000) {
		ck_assert_int_eq(cohort_node_step(n), 0);
		usleep(20000);
	}
	ck_assert_uint_eq(seen_modes(), 1);
	ck_assert_int_eq(seen.modes[0], 1);
	ck_assert_msg(strstr(seen.reasons[0], "does not answer"), "%s",
		      seen.reasons[0]);
	ck_assert_int_eq(mode_of_n1(reason, sizeof(reason)), 1);
	ck_assert_msg(strstr(reason, "does not answer"), "%s", reason);
	ck_assert_int_eq(cohort_node_readonly(n, NULL, 0), 1);
	/* Every process of the node refuses to write. */
	ck_assert_int_eq(cohort_journal_append(cohort_node_journal(n), &e, 1,
					       NULL), COHORT_EREADONLY);
	/* The others go on. */
	append("two");
	append("three");
	ck_assert_int_eq(cohort_node_step(n), 0);
	ck_assert_uint_eq(seen.n, 1);
	atomic_store(&mount, MOUNT_UP);
	t0 = now_ms();
	while (seen_modes() == 1 && now_ms() - t0 < 5000) {
		ck_assert_int_eq(cohort_node_step(n), 0);
		usleep(20000);
	}
	ck_assert_uint_eq(seen_modes(), 2);
	ck_assert_int_eq(seen.modes[1], 0);
	/* Back only once caught up. */
	ck_assert_uint_eq(seen.n, 3);
	ck_assert_str_eq(seen.reasons[1], "caught up at revision 3");
	ck_assert_int_eq(mode_of_n1(NULL, 0), 0);
	ck_assert_int_eq(cohort_journal_append(cohort_node_journal(n), &e, 1,
					       NULL), 0);
	stop(n, c);
}
END_TEST

START_TEST(watchdog_acts_while_the_mount_hangs)
{
	struct runner r;
	cohort_cluster *c;

	run_start(&r, &c);
	/* Every call on the mount blocks now: the heartbeat, and the loop of
	 * cohort_node_run() too.  Only the watchdog is left to act. */
	atomic_store(&mount, MOUNT_HUNG);
	WAIT_FOR(seen_modes() == 1, 5000);
	ck_assert_uint_eq(seen_modes(), 1);
	ck_assert_int_eq(seen.modes[0], 1);
	ck_assert_int_ge(atomic_load(&hung_calls), 1);
	ck_assert_int_eq(mode_of_n1(NULL, 0), 1);
	append("two");
	atomic_store(&mount, MOUNT_UP);
	WAIT_FOR(seen_modes() == 2 && seen_n() == 2, 5000);
	ck_assert_uint_eq(seen_modes(), 2);
	ck_assert_int_eq(seen.modes[1], 0);
	ck_assert_uint_eq(seen_n(), 2);
	/* The step that hung with the mount may have read the head before
	 * "two" came: it was caught up with what it saw. */
	ck_assert_msg(!strcmp(seen.reasons[1], "caught up at revision 1") ||
		      !strcmp(seen.reasons[1], "caught up at revision 2"),
		      "%s", seen.reasons[1]);
	ck_assert_int_eq(mode_of_n1(NULL, 0), 0);
	run_stop(&r, c);
}
END_TEST

START_TEST(materializes_at_start_and_on_store_changes)
{
	static const struct ent jar[] = {
		F("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"),
		F("a.txt", "hello\n"),
	};
	cohort_install_options io = COHORT_INSTALL_OPTIONS_INIT;
	char mdir[500], pkg[500];
	cohort_package p;
	cohort_store *st;
	cohort_cluster *c;
	cohort_node *n;

	snprintf(mdir, sizeof(mdir), "%s/plugins", dir);
	snprintf(pkg, sizeof(pkg), "%s/one.jar", dir);
	ck_assert_int_eq(mkdir(mdir, 0755), 0);
	n = start(&c, mdir);
	ck_assert_int_eq(cohort_node_step(n), 0);
	ck_assert_int_eq(seen.materialized, 1); /* once at start */
	ck_assert_int_eq(seen.mat_rc, 0);
	ck_assert_uint_eq(seen.mat_added, 0);
	ck_assert_int_eq(cohort_node_step(n), 0);
	ck_assert_int_eq(seen.materialized, 1); /* nothing changed */
	write_archive(pkg, "zip", 0, NULL, jar, N(jar), NULL);
	ck_assert_int_eq(cohort_store_open(&st, writer), 0);
	io.id = "org.example:one";
	io.pkg_version = "1.0";
	ck_assert_msg(cohort_store_install(st, pkg, &io, &p) == 0, "%s",
		      cohort_error_last());
	ck_assert_int_eq(cohort_node_step(n), 0);
	ck_assert_int_eq(seen.materialized, 2);
	ck_assert_int_eq(seen.mat_rc, 0);
	ck_assert_uint_eq(seen.mat_added, 1);
	ck_assert(exists(under(mdir, "org.example:one-1.0.jar")));
	cohort_package_clear(&p);
	cohort_store_close(st);
	stop(n, c);
}
END_TEST

static int ignore(const cohort_record *r, void *arg)
{
	(void)r;
	(void)arg;
	return 0;
}

START_TEST(behind_the_tail_bootstraps_through_restore)
{
	cohort_janitor_options jo = COHORT_JANITOR_OPTIONS_INIT;
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_janitor_report r;
	cohort_cluster *c;
	cohort_node *n;
	uint64_t pub = 0, tail = 0, head = 0;
	char text[64];
	int i;

	/* n1 joins, then leaves: cleanup stops waiting for it. */
	n = start(&c, NULL);
	stop(n, c);
	o.root = view;
	o.node = "n1";
	o.state = state;
	ck_assert_int_eq(cohort_cluster_open(&c, &o), 0);
	ck_assert_int_eq(cohort_node_leave(c), 0);
	cohort_cluster_close(c);
	/* The others go on, publish a snapshot at 200, and clean up. */
	for (i = 1; i <= 210; i++) {
		snprintf(text, sizeof(text), "record %d, padded to be longer", i);
		append(text);
		if (i == 200) {
			ck_assert_int_eq(cohort_journal_apply(wj, 0, ignore, NULL,
							      NULL), 0);
			ck_assert_msg(cohort_snapshot_put(writer, "state@200", 9,
							  &pub) == 0, "%s",
				      cohort_error_last());
		}
	}
	ck_assert_uint_eq(pub, 200);
	ck_assert_int_eq(cohort_journal_apply(wj, 0, ignore, NULL, NULL), 0);
	ck_assert_msg(cohort_janitor_run(writer, &jo, &r) == 0, "%s",
		      cohort_error_last());
	cohort_janitor_report_free(&r);
	ck_assert_int_eq(cohort_journal_bounds(wj, &tail, &head), 0);
	ck_assert_uint_gt(tail, 2);
	ck_assert_uint_le(tail, 201);

	/* Back without a restore callback: it cannot go on. */
	n = start(&c, NULL);
	ck_assert_int_eq(cohort_node_step(n), COHORT_EBEHIND);
	ck_assert_uint_eq(seen.n, 0);
	stop(n, c);
	/* With one: the snapshot, then the records after it. */
	with_restore = 1;
	n = start(&c, NULL);
	ck_assert_msg(cohort_node_step(n) == 0, "%s", cohort_error_last());
	ck_assert_uint_eq(seen.restored_rev, 200);
	ck_assert_str_eq(seen.restored, "state@200");
	ck_assert_uint_eq(seen.n, 10);
	ck_assert_uint_eq(seen.revs[0], 201);
	ck_assert_uint_eq(revision_of("n1"), 210);
	stop(n, c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("node");
	TCase *tc = tcase_create("node");
	int failed;

	if (make_run_dir(run_dir, sizeof(run_dir), "node"))
		return 1;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, applies_in_order);
	tcase_add_test(tc, callback_refusal_stops_at_the_record_before);
	tcase_add_test(tc, catches_up_after_a_stop);
	tcase_add_test(tc, second_instance_refused);
	tcase_add_test(tc, bad_options_refused);
	tcase_add_test(tc, run_applies_until_interrupted);
	tcase_add_test(tc, read_only_when_cut_then_back);
	tcase_add_test(tc, watchdog_acts_while_the_mount_hangs);
	tcase_add_test(tc, materializes_at_start_and_on_store_changes);
	tcase_add_test(tc, behind_the_tail_bootstraps_through_restore);
	suite_add_tcase(s, tc);
	failed = run_suite(s);
	rm_rf(run_dir);
	return failed ? 1 : 0;
}
