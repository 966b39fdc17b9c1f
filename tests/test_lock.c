/*
 * test_lock.c - cluster locks through the public API: the three modes,
 * contention between processes that act as different nodes, stale and
 * dead leases, a lost lease, and a refresher that cannot refresh.
 *
 * Nodes are forked children with their own node id and state folder; the
 * lease files of foreign hosts are written by hand in the exact format of
 * lease_format() in src/lock.c.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include "cohort.h"
#include "os/os.h"
#include "fixture.h"

#define LEASE_SIZE 256

/* ---- fixture ------------------------------------------------------------ */

static char dir[PATH_MAX];
static char root[PATH_MAX];
static char state_a[PATH_MAX];
static char state_b[PATH_MAX];
/* Every test's folder is made in 'run_dir', which main() removes after
 * the run: a failed assertion ends a test process without teardown. */
static char run_dir[PATH_MAX];

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1];
	int rc;

	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	umask(022);
	make_test_dir(dir, sizeof(dir), run_dir);
	ck_assert(snprintf(root, sizeof(root), "%s/root", dir) < PATH_MAX);
	ck_assert(snprintf(state_a, sizeof(state_a), "%s/state-a", dir) <
		  PATH_MAX);
	ck_assert(snprintf(state_b, sizeof(state_b), "%s/state-b", dir) <
		  PATH_MAX);
	rc = cohort_cluster_init(id, root);
	ck_assert_msg(rc == 0, "init: %s", cohort_error_last());
}

static void teardown(void)
{
	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	rm_rf(dir);
	dir[0] = '\0';
}

/* ---- helpers ------------------------------------------------------------ */

static void write_conf(const char *text)
{
	FILE *f = fopen(under(root, "cohort.conf"), "w");

	ck_assert_ptr_nonnull(f);
	ck_assert(fputs(text, f) >= 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* Small values so that staleness shows in a fraction of a second:
 * a lease unchanged for 300 + 100 ms may be broken. */
#define FAST_CONF(mode)                  \
	"[cluster]\n"                    \
	"lock_mode = " mode "\n"         \
	"lease_refresh = 50ms\n"         \
	"lease_timeout = 300ms\n"        \
	"skew_margin = 100ms\n"          \
	"lock_timeout = 250ms\n"
#define STALE_MS 400

static cohort_cluster *open_node(const char *node, const char *state)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	int rc;

	o.root = root;
	o.node = node;
	o.state = state;
	rc = cohort_cluster_open(&c, &o);
	ck_assert_msg(rc == 0, "open as '%s': %s", node ? node : "-",
		      cohort_error_last());
	ck_assert_ptr_nonnull(c);
	return c;
}

static const char *lease_path(const char *name)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "locks/%s.lease", name);
	return under(root, rel);
}

/* The lease file's bytes (NUL-terminated); length in '*len'; 0 if absent. */
static int read_lease_file(char buf[LEASE_SIZE + 1], size_t *len,
			   const char *name)
{
	int fd = open(lease_path(name), O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, LEASE_SIZE);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	*len = (size_t)n;
	return 1;
}

/* A lease exactly as lease_format() in src/lock.c writes it. */
static void format_lease(char out[LEASE_SIZE], const char *node,
			 const char *host, const char *boot, long pid,
			 const char *nonce, unsigned long long count)
{
	char body[LEASE_SIZE];
	int n;

	n = snprintf(body, sizeof(body),
		     "cohort-lease 1\nnode %s\nhost %.64s\nboot %s\npid %ld\n"
		     "nonce %s\ncount %llu\n",
		     node, host, boot, pid, nonce, count);
	ck_assert(n > 0 && n < 200);
	memset(out, ' ', LEASE_SIZE);
	n = snprintf(out, LEASE_SIZE, "%ssum %016llx\n", body,
		     (unsigned long long)XXH3_64bits(body, (size_t)n));
	ck_assert(n > 0 && n < LEASE_SIZE);
	out[n] = ' ';
	out[LEASE_SIZE - 1] = '\n';
}

#define OTHER_BOOT "0c8f1a3e-5b7d-4c2a-9e6f-123456789abc"
#define NONCE_X "0123456789abcdef0123456789abcdef"
#define NONCE_Y "fedcba9876543210fedcba9876543210"

/* Put a lease in place whole (a new inode), as a holder or breaker would. */
static void put_lease(const char *name, const char *text)
{
	char tmp[PATH_MAX];
	int fd;

	ck_assert(snprintf(tmp, sizeof(tmp), "%s.test-tmp", lease_path(name)) <
		  PATH_MAX);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, LEASE_SIZE), LEASE_SIZE);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(rename(tmp, lease_path(name)), 0);
}

/* Rewrite a lease in place (same inode), as a live holder's refresher. */
static void refresh_lease(const char *name, const char *text)
{
	int fd = open(lease_path(name), O_WRONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, text, LEASE_SIZE, 0), LEASE_SIZE);
	ck_assert_int_eq(close(fd), 0);
}

static long dead_pid(void)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return (long)pid;
}

static int count_entries(const char *folder, const char *containing)
{
	DIR *d = opendir(folder);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strstr(de->d_name, containing))
			n++;
	closedir(d);
	return n;
}

/* ---- child processes acting as other nodes ------------------------------ */

struct result {
	int rc;		/* of cohort_lock_acquire */
	int check;	/* of cohort_lock_check when acquired */
	int release;	/* of cohort_lock_release when acquired */
	long long elapsed_ms;
	char msg[512];
};

struct attempt {
	const char *node;
	const char *state;
	const char *name;
	int timeout_ms;
};

/* In a child: open as another node and try the lock once. */
static void attempt_in_child(const struct attempt *a, struct result *out)
{
	struct result r;
	int pfd[2];
	pid_t pid;
	int status;
	size_t got = 0;

	ck_assert_int_eq(pipe(pfd), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		cohort_options o = COHORT_OPTIONS_INIT;
		cohort_cluster *c = NULL;
		cohort_lock *l = NULL;
		int64_t t0;

		close(pfd[0]);
		memset(&r, 0, sizeof(r));
		o.root = root;
		o.node = a->node;
		o.state = a->state;
		r.rc = cohort_cluster_open(&c, &o);
		if (r.rc == 0) {
			t0 = cohort__os_mono_ms();
			r.rc = cohort_lock_acquire(&l, c, a->name, a->timeout_ms);
			r.elapsed_ms = cohort__os_mono_ms() - t0;
		}
		snprintf(r.msg, sizeof(r.msg), "%s", cohort_error_last());
		if (r.rc == 0) {
			r.check = cohort_lock_check(l);
			r.release = cohort_lock_release(l);
		}
		cohort_cluster_close(c);
		if (write(pfd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(3);
		_exit(0);
	}
	close(pfd[1]);
	while (got < sizeof(r)) {
		ssize_t n = read(pfd[0], (char *)&r + got, sizeof(r) - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(pfd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_uint_eq(got, sizeof(r));
	*out = r;
}

/* ---- modes -------------------------------------------------------------- */

static void acquire_release(const char *conf, cohort_lock_mode want,
			    int lock_file, int lease_file)
{
	cohort_cluster *c;
	cohort_lock *l = NULL;
	char buf[LEASE_SIZE + 1];
	size_t len;

	write_conf(conf);
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_mode_effective(c), want);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(exists(under(root, "locks/journal.lock")), lock_file);
	ck_assert_int_eq(exists(lease_path("journal")), lease_file);
	ck_assert(exists(under(state_a, "locks/journal.flock")));
	if (lease_file) {
		ck_assert(read_lease_file(buf, &len, "journal"));
		ck_assert_uint_eq(len, LEASE_SIZE);
		ck_assert(!strncmp(buf, "cohort-lease 1\nnode a\n", 22));
		ck_assert_ptr_nonnull(strstr(buf, "\nsum "));
		ck_assert_int_eq(buf[LEASE_SIZE - 1], '\n');
	}
	ck_assert_int_eq(cohort_lock_check(l), 0);
	ck_assert_int_eq(cohort_lock_release(l), 0);
	ck_assert(!exists(lease_path("journal")));
	/* the fcntl lock file is never deleted (its inode must not change) */
	ck_assert_int_eq(exists(under(root, "locks/journal.lock")), lock_file);
	/* again, now that it is free */
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	ck_assert_int_eq(cohort_lock_release(l), 0);
	ck_assert_int_eq(count_entries(under(root, "locks"), ".tmp."), 0);
	ck_assert_int_eq(count_entries(under(root, "locks"), ".break"), 0);
	cohort_cluster_close(c);
}

START_TEST(mode_fcntl)
{
	acquire_release(FAST_CONF("fcntl"), COHORT_LOCK_FCNTL, 1, 0);
}
END_TEST

START_TEST(mode_lease)
{
	acquire_release(FAST_CONF("lease"), COHORT_LOCK_LEASE, 0, 1);
}
END_TEST

START_TEST(mode_both)
{
	acquire_release(FAST_CONF("both"), COHORT_LOCK_BOTH, 1, 1);
}
END_TEST

START_TEST(mode_auto_and_names)
{
	cohort_cluster *c = open_node("a", state_a);

	/* /tmp is a local mount with working fcntl locks */
	ck_assert_int_eq(cohort_lock_mode_effective(c), COHORT_LOCK_BOTH);
	cohort_cluster_close(c);
	ck_assert_str_eq(cohort_lock_mode_name(COHORT_LOCK_AUTO), "auto");
	ck_assert_str_eq(cohort_lock_mode_name(COHORT_LOCK_FCNTL), "fcntl");
	ck_assert_str_eq(cohort_lock_mode_name(COHORT_LOCK_LEASE), "lease");
	ck_assert_str_eq(cohort_lock_mode_name(COHORT_LOCK_BOTH), "both");
}
END_TEST

START_TEST(bad_arguments)
{
	static const char *const bad[] = {
		"", ".hidden", "a/b", "a b", "../x",
		"0123456789012345678901234567890123456789012345678901234567890123x",
	};
	cohort_cluster *c, *anon;
	cohort_lock *l = (cohort_lock *)&l;
	size_t i;

	write_conf(FAST_CONF("both"));
	c = open_node("a", state_a);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(cohort_lock_acquire(&l, c, bad[i], 0) ==
				      COHORT_EINVAL,
			      "'%s' accepted", bad[i]);
		ck_assert_ptr_null(l);
	}
	assert_msg_has("bad lock name");
	/* 64 characters is the longest name */
	ck_assert_int_eq(cohort_lock_acquire(&l, c,
		"0123456789012345678901234567890123456789012345678901234567890123",
		0), 0);
	ck_assert_int_eq(cohort_lock_release(l), 0);
	cohort_cluster_close(c);

	/* a handle without a node id cannot lock */
	anon = open_node(NULL, NULL);
	ck_assert_int_eq(cohort_lock_acquire(&l, anon, "journal", 0),
			 COHORT_EINVAL);
	ck_assert_ptr_null(l);
	assert_msg_has("node");
	cohort_cluster_close(anon);

	ck_assert_int_eq(cohort_lock_release(NULL), 0);
	ck_assert_int_eq(cohort_lock_check(NULL), COHORT_EINVAL);
}
END_TEST

/* ---- contention between nodes ------------------------------------------- */

static void contention(const char *conf, int names_holder)
{
	struct attempt a = { "b", NULL, "journal", 300 };
	struct result r;
	cohort_cluster *c;
	cohort_lock *l;

	a.state = state_b;
	write_conf(conf);
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);

	attempt_in_child(&a, &r);
	ck_assert_msg(r.rc == COHORT_ELOCKED, "got %d: %s", r.rc, r.msg);
	ck_assert_msg(r.elapsed_ms >= 300 && r.elapsed_ms < 3000,
		      "waited %lld ms", r.elapsed_ms);
	ck_assert_msg(strstr(r.msg, "journal") != NULL, "message '%s'", r.msg);
	if (names_holder) {
		ck_assert_msg(strstr(r.msg, "node 'a'") != NULL,
			      "message '%s' does not name the holder", r.msg);
		ck_assert_msg(strstr(r.msg, cohort__os_host()) != NULL,
			      "message '%s' does not name the host", r.msg);
	}
	/* the holder is untouched */
	ck_assert_int_eq(cohort_lock_check(l), 0);

	/* a different lock name is independent */
	a.name = "store";
	a.timeout_ms = 0;
	attempt_in_child(&a, &r);
	ck_assert_msg(r.rc == 0, "other name: %d: %s", r.rc, r.msg);
	ck_assert_int_eq(r.check, 0);
	ck_assert_int_eq(r.release, 0);

	/* released: the other node gets it at once */
	ck_assert_int_eq(cohort_lock_release(l), 0);
	a.name = "journal";
	attempt_in_child(&a, &r);
	ck_assert_msg(r.rc == 0, "after release: %d: %s", r.rc, r.msg);
	ck_assert_int_eq(r.check, 0);
	ck_assert_int_eq(r.release, 0);
	cohort_cluster_close(c);
}

START_TEST(contention_fcntl)
{
	contention(FAST_CONF("fcntl"), 0);
}
END_TEST

START_TEST(contention_lease)
{
	contention(FAST_CONF("lease"), 1);
}
END_TEST

START_TEST(contention_both)
{
	contention(FAST_CONF("both"), 1);
}
END_TEST

START_TEST(contention_same_node)
{
	/* two processes of one node (same state folder): the local flock */
	struct attempt a = { "a", NULL, "journal", 100 };
	struct result r;
	cohort_cluster *c;
	cohort_lock *l;

	a.state = state_a;
	write_conf(FAST_CONF("lease"));
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	attempt_in_child(&a, &r);
	ck_assert_msg(r.rc == COHORT_ELOCKED, "got %d: %s", r.rc, r.msg);
	ck_assert_msg(strstr(r.msg, "another process of node 'a'") != NULL,
		      "message '%s'", r.msg);
	ck_assert_int_eq(cohort_lock_check(l), 0);
	ck_assert_int_eq(cohort_lock_release(l), 0);
	cohort_cluster_close(c);
}
END_TEST

START_TEST(live_holder_never_broken)
{
	/* a holder that refreshes is never judged stale, however long a
	 * waiter waits: here 2.5 times the staleness threshold */
	struct attempt a = { "b", NULL, "journal", 1000 };
	struct result r;
	cohort_cluster *c;
	cohort_lock *l;
	char before[LEASE_SIZE + 1], after[LEASE_SIZE + 1];
	size_t len;

	a.state = state_b;
	write_conf(FAST_CONF("lease"));
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	ck_assert(read_lease_file(before, &len, "journal"));
	attempt_in_child(&a, &r);
	ck_assert_msg(r.rc == COHORT_ELOCKED, "got %d: %s", r.rc, r.msg);
	ck_assert_int_ge(r.elapsed_ms, 1000);
	ck_assert_int_eq(cohort_lock_check(l), 0);
	/* it was refreshed meanwhile, in place */
	ck_assert(read_lease_file(after, &len, "journal"));
	ck_assert_uint_eq(len, LEASE_SIZE);
	ck_assert(strcmp(before, after) != 0);
	ck_assert_int_eq(cohort_lock_release(l), 0);
	cohort_cluster_close(c);
}
END_TEST

START_TEST(configured_timeout)
{
	/* a negative timeout means [cluster] lock_timeout (250ms here) */
	struct attempt a = { "b", NULL, "journal", -1 };
	struct result r;
	cohort_cluster *c;
	cohort_lock *l;

	a.state = state_b;
	write_conf(FAST_CONF("both"));
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	attempt_in_child(&a, &r);
	ck_assert_int_eq(r.rc, COHORT_ELOCKED);
	ck_assert_msg(r.elapsed_ms >= 250 && r.elapsed_ms < 2000,
		      "waited %lld ms", r.elapsed_ms);
	ck_assert_int_eq(cohort_lock_release(l), 0);
	cohort_cluster_close(c);
}
END_TEST

/* Processes of several nodes increment a counter under the lock; an
 * "inside" marker created O_EXCL catches any overlap. */
#define WORKERS 4
#define ROUNDS 15

static int worker(const char *node, const char *state)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	char inside[PATH_MAX], counter[PATH_MAX];
	int i;

	/* no Check calls in a child (so not under()) */
	if (snprintf(inside, sizeof(inside), "%s/inside", root) >=
		    (int)sizeof(inside) ||
	    snprintf(counter, sizeof(counter), "%s/counter", root) >=
		    (int)sizeof(counter))
		return 9;
	o.root = root;
	o.node = node;
	o.state = state;
	if (cohort_cluster_open(&c, &o))
		return 10;
	for (i = 0; i < ROUNDS; i++) {
		cohort_lock *l;
		char buf[32] = "";
		FILE *f;
		int fd, n = 0;

		if (cohort_lock_acquire(&l, c, "journal", 20000))
			return 11;
		fd = open(inside, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			return 12; /* someone else is inside */
		close(fd);
		f = fopen(counter, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f))
				n = atoi(buf);
			fclose(f);
		}
		usleep(1000);
		if (cohort_lock_check(l))
			return 13;
		f = fopen(counter, "w");
		if (!f)
			return 14;
		fprintf(f, "%d\n", n + 1);
		fclose(f);
		if (unlink(inside))
			return 15;
		if (cohort_lock_release(l))
			return 16;
		sched_yield();
	}
	cohort_cluster_close(c);
	return 0;
}

static void mutual_exclusion(const char *conf)
{
	pid_t pids[WORKERS];
	char buf[32] = "";
	FILE *f;
	int i;

	write_conf(conf);
	fflush(NULL);
	for (i = 0; i < WORKERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char node[16], state[PATH_MAX];

			snprintf(node, sizeof(node), "w%d", i);
			if (snprintf(state, sizeof(state), "%s/state-%s", dir,
				     node) >= (int)sizeof(state))
				_exit(9);
			_exit(worker(node, state));
		}
	}
	for (i = 0; i < WORKERS; i++) {
		int status;

		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status));
		ck_assert_msg(WEXITSTATUS(status) == 0, "worker %d: exit %d", i,
			      WEXITSTATUS(status));
	}
	f = fopen(under(root, "counter"), "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_int_eq(atoi(buf), WORKERS * ROUNDS);
	ck_assert(!exists(lease_path("journal")));
}

START_TEST(exclusion_lease)
{
	mutual_exclusion(FAST_CONF("lease"));
}
END_TEST

START_TEST(exclusion_fcntl)
{
	mutual_exclusion(FAST_CONF("fcntl"));
}
END_TEST

START_TEST(exclusion_both)
{
	mutual_exclusion(FAST_CONF("both"));
}
END_TEST

/* ---- stale and dead leases ---------------------------------------------- */

START_TEST(foreign_lease_broken_only_when_stale)
{
	char lease[LEASE_SIZE], now[LEASE_SIZE + 1];
	cohort_cluster *c;
	cohort_lock *l;
	int64_t t0, waited;
	size_t len;
	int rc;

	write_conf(FAST_CONF("lease"));
	format_lease(lease, "ghost", "otherhost", OTHER_BOOT, 4242, NONCE_X, 7);
	put_lease("journal", lease);
	c = open_node("a", state_a);

	/* well before lease_timeout + skew_margin: not broken */
	t0 = cohort__os_mono_ms();
	rc = cohort_lock_acquire(&l, c, "journal", 200);
	waited = cohort__os_mono_ms() - t0;
	ck_assert_msg(rc == COHORT_ELOCKED, "got %d: %s", rc, cohort_error_last());
	ck_assert_ptr_null(l);
	ck_assert_int_ge(waited, 200);
	assert_msg_has("node 'ghost'");
	assert_msg_has("host 'otherhost'");
	assert_msg_has("4242");
	ck_assert(read_lease_file(now, &len, "journal"));
	ck_assert_uint_eq(len, LEASE_SIZE);
	ck_assert(!memcmp(now, lease, LEASE_SIZE));

	/* judged over this waiter's own clock: a new acquire watches anew
	 * and breaks it once it saw no change for 300 + 100 ms */
	t0 = cohort__os_mono_ms();
	rc = cohort_lock_acquire(&l, c, "journal", 3000);
	waited = cohort__os_mono_ms() - t0;
	ck_assert_msg(rc == 0, "got %d: %s", rc, cohort_error_last());
	ck_assert_msg(waited >= STALE_MS && waited < 3000, "waited %lld ms",
		      (long long)waited);
	ck_assert(read_lease_file(now, &len, "journal"));
	ck_assert(!strncmp(now, "cohort-lease 1\nnode a\n", 22));
	ck_assert_int_eq(cohort_lock_check(l), 0);
	ck_assert_int_eq(cohort_lock_release(l), 0);
	ck_assert(!exists(lease_path("journal")));
	/* the breaker cleaned up after itself */
	ck_assert_int_eq(count_entries(under(root, "locks"), "broken"), 0);
	ck_assert_int_eq(count_entries(under(root, "locks"), ".break"), 0);
	ck_assert_int_eq(count_entries(under(root, "locks"), ".tmp."), 0);
	cohort_cluster_close(c);
}
END_TEST

struct foreign_refresher {
	volatile int stop;
	int rounds;
};

static void *foreign_refresh_thread(void *arg)
{
	struct foreign_refresher *fr = arg;
	char lease[LEASE_SIZE];
	unsigned long long count = 1;

	while (!fr->stop) {
		format_lease(lease, "ghost", "otherhost", OTHER_BOOT, 4242,
			     NONCE_X, count++);
		refresh_lease("journal", lease);
		fr->rounds++;
		usleep(50000);
	}
	return NULL;
}

START_TEST(foreign_lease_refreshed_not_broken)
{
	struct foreign_refresher fr = { 0, 0 };
	char lease[LEASE_SIZE], now[LEASE_SIZE + 1];
	cohort_cluster *c;
	cohort_lock *l;
	pthread_t th;
	int64_t t0, waited;
	size_t len;
	int rc;

	write_conf(FAST_CONF("both"));
	format_lease(lease, "ghost", "otherhost", OTHER_BOOT, 4242, NONCE_X, 0);
	put_lease("journal", lease);
	c = open_node("a", state_a);
	ck_assert_int_eq(pthread_create(&th, NULL, foreign_refresh_thread, &fr),
			 0);
	/* 1.2 s is three times the staleness threshold */
	t0 = cohort__os_mono_ms();
	rc = cohort_lock_acquire(&l, c, "journal", 1200);
	waited = cohort__os_mono_ms() - t0;
	fr.stop = 1;
	pthread_join(th, NULL);
	ck_assert_msg(rc == COHORT_ELOCKED, "got %d: %s", rc, cohort_error_last());
	ck_assert_int_ge(waited, 1200);
	ck_assert_int_ge(fr.rounds, 10);
	ck_assert(read_lease_file(now, &len, "journal"));
	ck_assert(!strncmp(now, "cohort-lease 1\nnode ghost\n", 26));
	cohort_cluster_close(c);
}
END_TEST

START_TEST(dead_pid_here_broken_at_once)
{
	char lease[LEASE_SIZE], now[LEASE_SIZE + 1];
	cohort_cluster *c;
	cohort_lock *l;
	int64_t t0;
	size_t len;

	write_conf(FAST_CONF("lease"));
	format_lease(lease, "gone", cohort__os_host(), cohort__os_boot_id(),
		     dead_pid(), NONCE_X, 3);
	put_lease("journal", lease);
	c = open_node("a", state_a);
	t0 = cohort__os_mono_ms();
	/* a timeout of 0: no waiting at all is needed */
	ck_assert_msg(cohort_lock_acquire(&l, c, "journal", 0) == 0, "%s",
		      cohort_error_last());
	ck_assert_int_lt(cohort__os_mono_ms() - t0, STALE_MS);
	ck_assert(read_lease_file(now, &len, "journal"));
	ck_assert(!strncmp(now, "cohort-lease 1\nnode a\n", 22));
	ck_assert_int_eq(cohort_lock_check(l), 0);
	ck_assert_int_eq(cohort_lock_release(l), 0);
	ck_assert_int_eq(count_entries(under(root, "locks"), "broken"), 0);
	cohort_cluster_close(c);
}
END_TEST

START_TEST(live_or_other_boot_pid_not_broken_at_once)
{
	char lease[LEASE_SIZE], now[LEASE_SIZE + 1];
	cohort_cluster *c;
	cohort_lock *l;
	size_t len;

	write_conf(FAST_CONF("lease"));
	c = open_node("a", state_a);
	/* a live process of this host and boot */
	format_lease(lease, "alive", cohort__os_host(), cohort__os_boot_id(),
		     (long)getppid(), NONCE_X, 3);
	put_lease("journal", lease);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 150),
			 COHORT_ELOCKED);
	assert_msg_has("node 'alive'");
	ck_assert(read_lease_file(now, &len, "journal"));
	ck_assert(!memcmp(now, lease, LEASE_SIZE));
	/* a pid that is gone here, but written during another boot: the pid
	 * says nothing, only staleness does */
	format_lease(lease, "oldboot", cohort__os_host(), OTHER_BOOT, dead_pid(),
		     NONCE_X, 3);
	put_lease("journal", lease);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 150),
			 COHORT_ELOCKED);
	assert_msg_has("node 'oldboot'");
	ck_assert(read_lease_file(now, &len, "journal"));
	ck_assert(!memcmp(now, lease, LEASE_SIZE));
	/* the same dead pid on another host */
	format_lease(lease, "elsewhere", "otherhost", cohort__os_boot_id(),
		     dead_pid(), NONCE_X, 3);
	put_lease("journal", lease);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 150),
			 COHORT_ELOCKED);
	ck_assert(read_lease_file(now, &len, "journal"));
	ck_assert(!memcmp(now, lease, LEASE_SIZE));
	cohort_cluster_close(c);
}
END_TEST

START_TEST(unreadable_lease_waits_for_staleness)
{
	char junk[LEASE_SIZE];
	cohort_cluster *c;
	cohort_lock *l;
	int64_t t0, waited;

	write_conf(FAST_CONF("lease"));
	/* a damaged lease (bad checksum): its holder is unknown, so even a
	 * "dead pid" cannot be trusted; only staleness breaks it */
	format_lease(junk, "gone", cohort__os_host(), cohort__os_boot_id(),
		     dead_pid(), NONCE_X, 3);
	junk[20] ^= 1;
	put_lease("journal", junk);
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 150),
			 COHORT_ELOCKED);
	assert_msg_has("unreadable");
	t0 = cohort__os_mono_ms();
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 3000), 0);
	waited = cohort__os_mono_ms() - t0;
	ck_assert_int_ge(waited, STALE_MS);
	ck_assert_int_eq(cohort_lock_release(l), 0);
	cohort_cluster_close(c);
}
END_TEST

START_TEST(leftover_break_file_honours_timeout)
{
	/* A breaker died holding 'NAME.break'.  The waiter must still honour
	 * its own timeout, and must not spin while it waits. */
	char lease[LEASE_SIZE];
	cohort_cluster *c;
	cohort_lock *l;
	int64_t t0, waited;
	unsigned long links;
	FILE *f;
	int rc;

	write_conf(FAST_CONF("lease"));
	format_lease(lease, "gone", cohort__os_host(), cohort__os_boot_id(),
		     dead_pid(), NONCE_X, 3);
	put_lease("journal", lease);
	f = fopen(under(root, "locks/journal.break"), "w");
	ck_assert_ptr_nonnull(f);
	fputs("breaker ghost x 1 y\n", f);
	fclose(f);
	c = open_node("a", state_a);

	t0 = cohort__os_mono_ms();
	rc = cohort_lock_acquire(&l, c, "journal", 150);
	waited = cohort__os_mono_ms() - t0;
	ck_assert_msg(rc == COHORT_ELOCKED, "got %d after %lld ms", rc,
		      (long long)waited);
	ck_assert_msg(waited < STALE_MS - 50, "timeout 150 ms, waited %lld ms",
		      (long long)waited);

	/* with time enough, the break file is judged stale and removed */
	cohort__os_fault_clear();
	t0 = cohort__os_mono_ms();
	rc = cohort_lock_acquire(&l, c, "journal", 3000);
	waited = cohort__os_mono_ms() - t0;
	links = cohort__os_fault_count(COHORT__OP_LINK);
	ck_assert_msg(rc == 0, "got %d: %s", rc, cohort_error_last());
	ck_assert_int_ge(waited, STALE_MS);
	/* a waiter backs off between looks: a few per 10 ms, not thousands */
	ck_assert_msg(links < 300, "%lu link() calls in %lld ms", links,
		      (long long)waited);
	ck_assert_int_eq(cohort_lock_release(l), 0);
	ck_assert(!exists(under(root, "locks/journal.break")));
	cohort_cluster_close(c);
}
END_TEST

START_TEST(killed_holder)
{
	static const char *const modes[] = { "fcntl", "lease", "both" };
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char conf[512], c1;
		cohort_cluster *c;
		cohort_lock *l;
		int pfd[2], status;
		pid_t pid;

		snprintf(conf, sizeof(conf),
			 "[cluster]\nlock_mode = %s\nlease_refresh = 50ms\n"
			 "lease_timeout = 300ms\nskew_margin = 100ms\n",
			 modes[i]);
		write_conf(conf);
		ck_assert_int_eq(pipe(pfd), 0);
		fflush(NULL);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			cohort_cluster *cb;
			cohort_options o = COHORT_OPTIONS_INIT;

			o.root = root;
			o.node = "b";
			o.state = state_b;
			if (cohort_cluster_open(&cb, &o) ||
			    cohort_lock_acquire(&l, cb, "journal", 0))
				_exit(1);
			if (write(pfd[1], "k", 1) != 1)
				_exit(2);
			for (;;)
				pause();
		}
		close(pfd[1]);
		ck_assert_int_eq(read(pfd[0], &c1, 1), 1);
		close(pfd[0]);
		c = open_node("a", state_a);
		ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 100),
				 COHORT_ELOCKED);
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		/* its fcntl lock died with it; its lease names a dead pid of
		 * this host: no waiting for staleness */
		ck_assert_msg(cohort_lock_acquire(&l, c, "journal", 0) == 0,
			      "%s: %s", modes[i], cohort_error_last());
		ck_assert_int_eq(cohort_lock_check(l), 0);
		ck_assert_int_eq(cohort_lock_release(l), 0);
		cohort_cluster_close(c);
	}
}
END_TEST

/* ---- a lost lease ------------------------------------------------------- */

START_TEST(check_detects_replaced_lease)
{
	char lease[LEASE_SIZE], now[LEASE_SIZE + 1];
	cohort_cluster *c;
	cohort_lock *l;
	size_t len;

	write_conf(FAST_CONF("lease"));
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	ck_assert_int_eq(cohort_lock_check(l), 0);
	/* someone broke our lease and took it: same name, another nonce */
	format_lease(lease, "intruder", "otherhost", OTHER_BOOT, 99, NONCE_Y, 0);
	put_lease("journal", lease);
	ck_assert_int_eq(cohort_lock_check(l), COHORT_ELOCKED);
	assert_msg_has("journal");
	assert_msg_has("intruder");
	/* our refresher keeps writing its own (now orphaned) file, never the
	 * new holder's */
	usleep(200000);
	ck_assert(read_lease_file(now, &len, "journal"));
	ck_assert(!memcmp(now, lease, LEASE_SIZE));
	ck_assert_int_eq(cohort_lock_check(l), COHORT_ELOCKED);
	/* release reports the loss and leaves the new holder's lease alone */
	ck_assert_int_eq(cohort_lock_release(l), COHORT_ELOCKED);
	assert_msg_has("broken");
	ck_assert(read_lease_file(now, &len, "journal"));
	ck_assert(!memcmp(now, lease, LEASE_SIZE));
	cohort_cluster_close(c);
}
END_TEST

START_TEST(check_detects_same_node_other_nonce)
{
	/* the node id alone proves nothing: a second instance of node 'a'
	 * (another nonce) is not us */
	char lease[LEASE_SIZE], now[LEASE_SIZE + 1];
	cohort_cluster *c;
	cohort_lock *l;
	size_t len;

	write_conf(FAST_CONF("both"));
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	format_lease(lease, "a", cohort__os_host(), cohort__os_boot_id(),
		     (long)getpid(), NONCE_Y, 0);
	put_lease("journal", lease);
	ck_assert_int_eq(cohort_lock_check(l), COHORT_ELOCKED);
	ck_assert_int_ne(cohort_lock_release(l), 0);
	ck_assert(read_lease_file(now, &len, "journal"));
	ck_assert(!memcmp(now, lease, LEASE_SIZE));
	cohort_cluster_close(c);
}
END_TEST

START_TEST(check_detects_removed_lease)
{
	cohort_cluster *c;
	cohort_lock *l;

	write_conf(FAST_CONF("lease"));
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	ck_assert_int_eq(unlink(lease_path("journal")), 0);
	ck_assert_int_eq(cohort_lock_check(l), COHORT_ELOCKED);
	assert_msg_has("journal");
	ck_assert_int_ne(cohort_lock_release(l), 0);
	ck_assert(!exists(lease_path("journal")));
	cohort_cluster_close(c);
}
END_TEST

START_TEST(lease_refreshed_in_place)
{
	char first[LEASE_SIZE + 1], later[LEASE_SIZE + 1];
	struct stat s1, s2;
	cohort_cluster *c;
	cohort_lock *l;
	const char *cnt;
	size_t len;
	int count0;

	write_conf(FAST_CONF("lease"));
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	ck_assert(read_lease_file(first, &len, "journal"));
	cnt = strstr(first, "\ncount ");
	ck_assert_ptr_nonnull(cnt);
	count0 = atoi(cnt + 7);
	ck_assert_int_eq(stat(lease_path("journal"), &s1), 0);
	/* well past lease_timeout: still ours, because it was refreshed */
	usleep(700000);
	ck_assert_int_eq(cohort_lock_check(l), 0);
	ck_assert(read_lease_file(later, &len, "journal"));
	ck_assert_uint_eq(len, LEASE_SIZE);
	ck_assert_int_eq(stat(lease_path("journal"), &s2), 0);
	ck_assert_uint_eq(s1.st_ino, s2.st_ino);
	ck_assert_int_eq(s2.st_size, LEASE_SIZE);
	cnt = strstr(later, "\ncount ");
	ck_assert_ptr_nonnull(cnt);
	/* about 14 refreshes in 700 ms: regular, neither missing nor busy */
	ck_assert_int_ge(atoi(cnt + 7), count0 + 4);
	ck_assert_int_le(atoi(cnt + 7), count0 + 40);
	/* the nonce did not change */
	ck_assert(!strncmp(strstr(first, "\nnonce "), strstr(later, "\nnonce "),
			   40));
	ck_assert_int_eq(cohort_lock_release(l), 0);
	cohort_cluster_close(c);
}
END_TEST

/* ---- a refresher that cannot refresh ------------------------------------ */

static ssize_t pwrite_eio(int fd, const void *b, size_t n, off_t o)
{
	(void)fd;
	(void)b;
	(void)n;
	(void)o;
	errno = EIO;
	return -1;
}

static volatile int slow_ms;

static ssize_t pwrite_slow(int fd, const void *b, size_t n, off_t o)
{
	usleep((useconds_t)slow_ms * 1000);
	return cohort__sys_default.pwrite(fd, b, n, o);
}

START_TEST(refresh_failure_pwrite)
{
	cohort_cluster *c;
	cohort_lock *l;

	write_conf(FAST_CONF("lease"));
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	ck_assert_int_eq(cohort_lock_check(l), 0);
	cohort__sys.pwrite = pwrite_eio;
	usleep(200000); /* several refresh intervals */
	ck_assert_int_eq(cohort_lock_check(l), COHORT_ELOCKED);
	assert_msg_has("cannot refresh");
	assert_msg_has("journal");
	/* it stays lost, even once writes work again */
	cohort__sys = cohort__sys_default;
	usleep(100000);
	ck_assert_int_eq(cohort_lock_check(l), COHORT_ELOCKED);
	(void)cohort_lock_release(l);
	cohort_cluster_close(c);
}
END_TEST

START_TEST(refresh_failure_fault)
{
	cohort_cluster *c;
	cohort_lock *l;

	write_conf(FAST_CONF("both"));
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	cohort__os_fault_set(COHORT__OP_WRITE, 1, EIO, 1);
	usleep(200000);
	ck_assert_int_ge(cohort__os_fault_count(COHORT__OP_WRITE), 1);
	ck_assert_int_eq(cohort_lock_check(l), COHORT_ELOCKED);
	assert_msg_has("cannot refresh");
	cohort__os_fault_clear();
	(void)cohort_lock_release(l);
	cohort_cluster_close(c);
}
END_TEST

START_TEST(refresh_stalled)
{
	/* a refresher stuck in a write (a hung mount) for longer than
	 * lease_timeout: the holder must learn it before its commit */
	cohort_cluster *c;
	cohort_lock *l;

	write_conf(FAST_CONF("lease"));
	c = open_node("a", state_a);
	ck_assert_int_eq(cohort_lock_acquire(&l, c, "journal", 0), 0);
	slow_ms = 700;
	cohort__sys.pwrite = pwrite_slow;
	usleep(450000);
	ck_assert_int_eq(cohort_lock_check(l), COHORT_ELOCKED);
	assert_msg_has("not refreshed");
	cohort__sys = cohort__sys_default;
	(void)cohort_lock_release(l);
	cohort_cluster_close(c);
}
END_TEST

/* ---- long names --------------------------------------------------------- */

#define LONG_NODE "n123456789012345678901234567890123456789012345678901234567890123"
#define LONG_HOST "h12345678901234567890123456789012345678901234567890.example.org"

/* In a fresh process (exec'd: nothing cached): a new UTS namespace with a
 * long host name, a long node id, and a lease. */
static int long_host_main(const char *root_dir, const char *state)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c;
	cohort_lock *l;

	if (unshare(CLONE_NEWUTS) || sethostname(LONG_HOST, strlen(LONG_HOST)))
		return 40;
	if (strcmp(cohort__os_host(), LONG_HOST))
		return 41;
	o.root = root_dir;
	o.node = LONG_NODE;
	o.state = state;
	if (cohort_cluster_open(&c, &o))
		return 42;
	if (cohort_lock_acquire(&l, c, "journal", 0))
		return 43;
	if (cohort_lock_check(l))
		return 44;
	usleep(200000); /* a few refreshes */
	if (cohort_lock_check(l))
		return 45;
	if (cohort_lock_release(l))
		return 46;
	cohort_cluster_close(c);
	return 0;
}

START_TEST(long_node_and_host)
{
	/* a 64-character node id on a host with a 63-character name: the
	 * lease must still fit its fixed size and stay valid */
	const char *state = under(dir, "state-long");
	pid_t pid;
	int status;

	ck_assert_uint_eq(strlen(LONG_NODE), 64);
	ck_assert_uint_eq(strlen(LONG_HOST), 63);
	write_conf(FAST_CONF("lease"));
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_lock", "--long-host-child", root,
		      state, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child died of signal %d",
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ck_assert_msg(WEXITSTATUS(status) == 0, "child exit %d",
		      WEXITSTATUS(status));
}
END_TEST

/* Can this process make a UTS namespace (to set a long host name)? */
static int can_unshare_uts(void)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0)
		_exit(unshare(CLONE_NEWUTS) == 0 ? 0 : 1);
	if (waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- the suite ---------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *lock_suite(void)
{
	Suite *s = suite_create("lock");
	TCase *tc;

	tc = tcase(s, "modes");
	tcase_add_test(tc, mode_fcntl);
	tcase_add_test(tc, mode_lease);
	tcase_add_test(tc, mode_both);
	tcase_add_test(tc, mode_auto_and_names);
	tcase_add_test(tc, bad_arguments);

	tc = tcase(s, "contention");
	tcase_add_test(tc, contention_fcntl);
	tcase_add_test(tc, contention_lease);
	tcase_add_test(tc, contention_both);
	tcase_add_test(tc, contention_same_node);
	tcase_add_test(tc, live_holder_never_broken);
	tcase_add_test(tc, configured_timeout);
	tcase_add_test(tc, exclusion_lease);
	tcase_add_test(tc, exclusion_fcntl);
	tcase_add_test(tc, exclusion_both);

	tc = tcase(s, "stale");
	tcase_add_test(tc, foreign_lease_broken_only_when_stale);
	tcase_add_test(tc, foreign_lease_refreshed_not_broken);
	tcase_add_test(tc, dead_pid_here_broken_at_once);
	tcase_add_test(tc, live_or_other_boot_pid_not_broken_at_once);
	tcase_add_test(tc, unreadable_lease_waits_for_staleness);
	tcase_add_test(tc, leftover_break_file_honours_timeout);
	tcase_add_test(tc, killed_holder);

	tc = tcase(s, "lost");
	tcase_add_test(tc, check_detects_replaced_lease);
	tcase_add_test(tc, check_detects_same_node_other_nonce);
	tcase_add_test(tc, check_detects_removed_lease);
	tcase_add_test(tc, lease_refreshed_in_place);
	tcase_add_test(tc, refresh_failure_pwrite);
	tcase_add_test(tc, refresh_failure_fault);
	tcase_add_test(tc, refresh_stalled);

	tc = tcase(s, "names");
	if (can_unshare_uts())
		tcase_add_test(tc, long_node_and_host);
	else
		printf("test_lock: long_node_and_host not run: no UTS "
		       "namespace (needs root or user namespaces)\n");
	return s;
}

/* The run's folder: /tmp/cohort-test-lock-XXXXXX. */
int main(int argc, char **argv)
{
	int failed;

	if (argc == 4 && !strcmp(argv[1], "--long-host-child"))
		return long_host_main(argv[2], argv[3]);
	if (make_run_dir(run_dir, sizeof(run_dir), "lock"))
		return 1;
	failed = run_suite(lock_suite());
	rm_rf(run_dir);
	return failed ? 1 : 0;
}
