/*
 * test_os.c - the OS layer: every wrapper's success path and every error
 * path, driven through the fault injector and through replaced entries of
 * the syscall table 'cohort__sys'.
 *
 * Each test runs in a fresh folder under /tmp; the fixture restores the
 * real syscall table and disarms the injector.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cohort/common.h"
#include "error.h"
#include "os/os.h"
#include "fixture.h"

/* ---- fixture ------------------------------------------------------------ */

static char dir[PATH_MAX];
/* Every test's folder is made in 'run_dir', which main() removes after
 * the run: a failed assertion ends a test process without teardown. */
static char run_dir[PATH_MAX];

static int eintr_left;	/* replaced calls: EINTRs still to return */
static int inject_errno; /* replaced calls: the errno to fail with */
static int calls;	/* replaced calls: how often called */

/* The real openat2 entry, restored before each test. */
static int (*real_openat2)(int, const char *, void *, size_t);

static void setup(void)
{

	cohort__sys = cohort__sys_default;
	if (!real_openat2)
		real_openat2 = cohort__os_openat2;
	cohort__os_openat2 = real_openat2;
	cohort__os_fault_clear();
	eintr_left = 0;
	inject_errno = 0;
	calls = 0;
	umask(022);
	make_test_dir(dir, sizeof(dir), run_dir);
}

static void teardown(void)
{
	cohort__sys = cohort__sys_default;
	cohort__os_openat2 = real_openat2;
	cohort__os_fault_clear();
	rm_rf(dir);
	dir[0] = '\0';
}

/* ---- helpers ------------------------------------------------------------ */

/* 'name' under the test folder; a ring of buffers, so several at once. */
static const char *at(const char *name)
{
	return under(dir, name);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole file as a string (caller frees); NULL if absent. */
static char *get(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 1 << 16);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void assert_content(const char *path, const char *want)
{
	char *got = get(path);

	ck_assert_msg(got != NULL, "'%s' is missing", path);
	ck_assert_str_eq(got, want);
	free(got);
}

/* Entries of the test folder whose name looks like a temp file; -1 if
 * the folder cannot be read.  No Check calls: children use it too. */
static int count_temps(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".tmp."))
			n++;
	closedir(d);
	return n;
}

static int temps_left(void)
{
	int n = count_temps();

	ck_assert_int_ge(n, 0);
	return n;
}

static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int open_rw(const char *path)
{
	int fd = -1;

	ck_assert_int_eq(cohort__os_open(&fd, path, O_RDWR | O_CREAT, 0644), 0);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static int open_ro(const char *path)
{
	int fd = -1;

	ck_assert_int_eq(cohort__os_open(&fd, path, O_RDONLY, 0), 0);
	return fd;
}

static int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* ---- replacement system calls -------------------------------------------- */

#define EINTR_FIRST(call)                \
	do {                             \
		calls++;                 \
		if (eintr_left > 0) {    \
			eintr_left--;    \
			errno = EINTR;   \
			return -1;       \
		}                        \
		return call;             \
	} while (0)

static int open_eintr(const char *p, int fl, mode_t m)
{
	EINTR_FIRST(cohort__sys_default.open(p, fl, m));
}

static ssize_t read_eintr(int fd, void *b, size_t n)
{
	EINTR_FIRST(cohort__sys_default.read(fd, b, n));
}

static ssize_t write_eintr(int fd, const void *b, size_t n)
{
	EINTR_FIRST(cohort__sys_default.write(fd, b, n));
}

static ssize_t pwrite_eintr(int fd, const void *b, size_t n, off_t o)
{
	EINTR_FIRST(cohort__sys_default.pwrite(fd, b, n, o));
}

static int fsync_eintr(int fd)
{
	EINTR_FIRST(cohort__sys_default.fsync(fd));
}

static int rename_eintr(const char *a, const char *b)
{
	EINTR_FIRST(cohort__sys_default.rename(a, b));
}

static int link_eintr(const char *a, const char *b)
{
	EINTR_FIRST(cohort__sys_default.link(a, b));
}

static int unlink_eintr(const char *p)
{
	EINTR_FIRST(cohort__sys_default.unlink(p));
}

static int mkdir_eintr(const char *p, mode_t m)
{
	EINTR_FIRST(cohort__sys_default.mkdir(p, m));
}

static int fcntl_lock_eintr(int fd, int cmd, struct flock *fl)
{
	EINTR_FIRST(cohort__sys_default.fcntl_lock(fd, cmd, fl));
}

static int flock_eintr(int fd, int op)
{
	EINTR_FIRST(cohort__sys_default.flock(fd, op));
}

static int ftruncate_eintr(int fd, off_t len)
{
	EINTR_FIRST(cohort__sys_default.ftruncate(fd, len));
}

/* Linux frees the descriptor even when close() reports an error. */
static int close_then_eintr(int fd)
{
	calls++;
	cohort__sys_default.close(fd);
	errno = EINTR;
	return -1;
}

static int close_then_fail(int fd)
{
	calls++;
	cohort__sys_default.close(fd);
	errno = inject_errno;
	return -1;
}

static ssize_t read_3(int fd, void *b, size_t n)
{
	calls++;
	return cohort__sys_default.read(fd, b, n > 3 ? 3 : n);
}

static ssize_t pread_3(int fd, void *b, size_t n, off_t o)
{
	calls++;
	return cohort__sys_default.pread(fd, b, n > 3 ? 3 : n, o);
}

static ssize_t write_3(int fd, const void *b, size_t n)
{
	calls++;
	return cohort__sys_default.write(fd, b, n > 3 ? 3 : n);
}

static ssize_t pwrite_3(int fd, const void *b, size_t n, off_t o)
{
	calls++;
	return cohort__sys_default.pwrite(fd, b, n > 3 ? 3 : n, o);
}

static ssize_t write_zero(int fd, const void *b, size_t n)
{
	(void)fd;
	(void)b;
	(void)n;
	calls++;
	return 0;
}

static ssize_t pwrite_zero(int fd, const void *b, size_t n, off_t o)
{
	(void)fd;
	(void)b;
	(void)n;
	(void)o;
	calls++;
	return 0;
}

static ssize_t write_once_then_zero(int fd, const void *b, size_t n)
{
	if (calls++ == 0)
		return cohort__sys_default.write(fd, b, n > 3 ? 3 : n);
	return 0;
}

static ssize_t write_fail(int fd, const void *b, size_t n)
{
	(void)fd;
	(void)b;
	(void)n;
	calls++;
	errno = inject_errno;
	return -1;
}

static int fsync_fail(int fd)
{
	(void)fd;
	calls++;
	errno = inject_errno;
	return -1;
}

/* A server that refuses fsync of a directory (NFS fact 11). */
static int fsync_dirs_fail(int fd)
{
	struct stat st;

	calls++;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		errno = inject_errno;
		return -1;
	}
	return cohort__sys_default.fsync(fd);
}

/* The reply is lost after the server did the work (NFS fact 5). */
static int rename_lie(const char *a, const char *b)
{
	calls++;
	if (cohort__sys_default.rename(a, b) == 0)
		errno = EIO;
	return -1;
}

static int link_lie_eexist(const char *a, const char *b)
{
	calls++;
	if (cohort__sys_default.link(a, b) == 0)
		errno = EEXIST; /* the retransmitted LINK */
	return -1;
}

static int rename_fail(const char *a, const char *b)
{
	(void)a;
	(void)b;
	calls++;
	errno = inject_errno;
	return -1;
}

static char last_created[PATH_MAX];
static int last_created_flags;

static int open_record(const char *p, int fl, mode_t m)
{
	if (fl & O_CREAT) {
		snprintf(last_created, sizeof(last_created), "%s", p);
		last_created_flags = fl;
	}
	return cohort__sys_default.open(p, fl, m);
}

/* ---- the fault injector ------------------------------------------------- */

START_TEST(fault_parse_accepts_spec)
{
	const char *f = at("f");
	int fd;

	ck_assert_int_eq(cohort__os_fault_parse("write:2:ENOSPC,rename:1+:EIO"),
			 0);
	fd = open_rw(f);
	ck_assert_int_eq(cohort__os_write_full(fd, "a", 1, f), 0);
	ck_assert_int_eq(cohort__os_write_full(fd, "b", 1, f), COHORT_ENOSPACE);
	ck_assert_int_eq(cohort__os_write_full(fd, "c", 1, f), 0);
	ck_assert_int_eq(cohort__os_close(fd, f), 0);
	assert_content(f, "ac");

	/* rename fails from the first call on, every time */
	ck_assert_int_eq(cohort__os_rename(f, at("g")), COHORT_ERROR);
	ck_assert_int_eq(cohort__os_rename(f, at("g")), COHORT_ERROR);
	ck_assert_int_eq(cohort__os_rename(f, at("g")), COHORT_ERROR);
	ck_assert(exists(f));
	ck_assert(!exists(at("g")));
	ck_assert_uint_eq(cohort__os_fault_count(COHORT__OP_RENAME), 3);
	ck_assert_uint_eq(cohort__os_fault_count(COHORT__OP_WRITE), 3);
}
END_TEST

START_TEST(fault_parse_rejects_garbage)
{
	static const char *const bad[] = {
		"write", "write:1", "write:1:", ":1:EIO", "write::EIO",
		"write:0:EIO", "nope:1:EIO", "write:x:EIO", "write:1x:EIO",
		"write:1:EBOGUS", "write:1:eio", "write:1:EIO:more",
		"write:1++:EIO", "write:+:EIO", "write:-1:EIO", "write: 1:EIO",
		"write:1:EIO,garbage", "write:1:EIO;read:1:EIO",
	};
	const char *f = at("f");
	size_t i;
	int fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = cohort__os_fault_parse(bad[i]);

		ck_assert_msg(rc == COHORT_EINVAL, "'%s' accepted (%d)", bad[i],
			      rc);
		ck_assert_msg(strstr(cohort_error_last(), bad[i]) != NULL,
			      "message '%s' does not quote '%s'",
			      cohort_error_last(), bad[i]);
	}
	/* A rejected spec arms nothing, not even its valid first part. */
	fd = open_rw(f);
	ck_assert_int_eq(cohort__os_write_full(fd, "abc", 3, f), 0);
	ck_assert_int_eq(cohort__os_close(fd, f), 0);
	assert_content(f, "abc");
}
END_TEST

START_TEST(fault_every_name)
{
	static const struct {
		const char *name;
		int code;
	} names[] = {
		{ "EIO", COHORT_ERROR }, { "ENOSPC", COHORT_ENOSPACE },
		{ "EDQUOT", COHORT_ENOSPACE }, { "ESTALE", COHORT_ESTALE },
		{ "ENOTCONN", COHORT_ERROR }, { "EACCES", COHORT_ERROR },
		{ "EROFS", COHORT_EREADONLY },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char spec[64];
		int fd = -1;

		cohort__os_fault_clear();
		snprintf(spec, sizeof(spec), "open:1:%s", names[i].name);
		ck_assert_int_eq(cohort__os_fault_parse(spec), 0);
		ck_assert_int_eq(cohort__os_open(&fd, at("f"),
						 O_RDWR | O_CREAT, 0644),
				 names[i].code);
		ck_assert_int_eq(fd, -1);
		ck_assert(!exists(at("f")));
		/* the second call is not armed */
		ck_assert_int_eq(cohort__os_open(&fd, at("f"),
						 O_RDWR | O_CREAT, 0644), 0);
		cohort__os_close_quiet(fd);
		unlink(at("f"));
	}
}
END_TEST

START_TEST(fault_set_counts_from_now)
{
	const char *f = at("f");
	int fd = open_rw(f);

	ck_assert_int_eq(cohort__os_write_full(fd, "a", 1, f), 0);
	ck_assert_int_eq(cohort__os_write_full(fd, "b", 1, f), 0);
	ck_assert_uint_eq(cohort__os_fault_count(COHORT__OP_WRITE), 2);
	/* 'nth' counts from the moment the fault is armed */
	cohort__os_fault_set(COHORT__OP_WRITE, 2, EIO, 0);
	ck_assert_int_eq(cohort__os_write_full(fd, "c", 1, f), 0);
	ck_assert_int_eq(cohort__os_write_full(fd, "d", 1, f), COHORT_ERROR);
	ck_assert_int_eq(cohort__os_write_full(fd, "e", 1, f), 0);
	cohort__os_fault_clear();
	ck_assert_uint_eq(cohort__os_fault_count(COHORT__OP_WRITE), 0);
	ck_assert_int_eq(cohort__os_close(fd, f), 0);
	assert_content(f, "abce");
	ck_assert_str_eq(cohort__os_op_name(COHORT__OP_RENAME), "rename");
	ck_assert_str_eq(cohort__os_op_name(COHORT__OP_COUNT), "?");
}
END_TEST

START_TEST(fault_kill)
{
	const char *f = at("f");
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = -1;

		if (cohort__os_open(&fd, f, O_RDWR | O_CREAT, 0644))
			_exit(3);
		cohort__os_fault_set(COHORT__OP_WRITE, 1, COHORT__FAULT_KILL, 0);
		(void)cohort__os_write_full(fd, "abc", 3, f);
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGKILL);
	/* killed before the write */
	assert_content(f, "");
}
END_TEST

/* The child half of fault_from_environment (main() dispatches here). */
static int fault_env_child(const char *path)
{
	int fd = -1;

	if (cohort__os_open(&fd, path, O_RDWR | O_CREAT, 0644))
		return 10;
	if (cohort__os_write_full(fd, "x", 1, path) != COHORT_ENOSPACE)
		return 11;
	if (cohort__os_write_full(fd, "y", 1, path) != 0)
		return 12;
	if (cohort__os_close(fd, path))
		return 13;
	return 0;
}

START_TEST(fault_from_environment)
{
	const char *f = at("f");
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("COHORT_FAULT", "write:1:ENOSPC", 1);
		execl("/proc/self/exe", "test_os", "--fault-env-child", f,
		      (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	assert_content(f, "y");
}
END_TEST

/* ---- open and close ----------------------------------------------------- */

START_TEST(open_success_cloexec)
{
	int fd = -1;

	ck_assert_int_eq(cohort__os_open(&fd, at("f"), O_RDWR | O_CREAT | O_EXCL,
					 0600), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(cohort__os_close(fd, at("f")), 0);
	ck_assert(!fd_is_open(fd));
	ck_assert(exists(at("f")));
}
END_TEST

START_TEST(open_eintr_retried)
{
	int fd = -1;

	cohort__os_fault_set(COHORT__OP_OPEN, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_open(&fd, at("f"), O_RDWR | O_CREAT, 0644), 0);
	ck_assert_uint_eq(cohort__os_fault_count(COHORT__OP_OPEN), 2);
	cohort__os_close_quiet(fd);

	cohort__sys.open = open_eintr;
	eintr_left = 2;
	fd = -1;
	ck_assert_int_eq(cohort__os_open(&fd, at("g"), O_RDWR | O_CREAT, 0644), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(calls, 3);
	cohort__os_close_quiet(fd);
	ck_assert(exists(at("g")));
}
END_TEST

START_TEST(open_errors)
{
	int fd = -1;

	ck_assert_int_eq(cohort__os_open(&fd, at("missing"), O_RDONLY, 0),
			 COHORT_ENOTFOUND);
	assert_msg_has("cannot open '");
	assert_msg_has(at("missing"));
	assert_msg_has(strerror(ENOENT));
	ck_assert_int_eq(errno, ENOENT);

	put(at("f"), "x");
	ck_assert_int_eq(cohort__os_open(&fd, at("f"), O_RDWR | O_CREAT | O_EXCL,
					 0644), COHORT_EEXISTS);

	/* O_NOFOLLOW is honoured */
	ck_assert_int_eq(symlink(at("f"), at("l")), 0);
	ck_assert_int_eq(cohort__os_open(&fd, at("l"), O_RDONLY | O_NOFOLLOW, 0),
			 COHORT_ERROR);
	ck_assert_int_eq(errno, ELOOP);

	cohort__os_fault_set(COHORT__OP_OPEN, 1, ENOSPC, 0);
	ck_assert_int_eq(cohort__os_open(&fd, at("g"), O_RDWR | O_CREAT, 0644),
			 COHORT_ENOSPACE);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert(!exists(at("g")));
}
END_TEST

START_TEST(close_errors_reported)
{
	const char *f = at("f");
	int fd;

	/* EIO at close: reported, and the descriptor is gone anyway */
	fd = open_rw(f);
	cohort__os_fault_set(COHORT__OP_CLOSE, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_close(fd, f), COHORT_ERROR);
	assert_msg_has("cannot close '");
	assert_msg_has(f);
	ck_assert(!fd_is_open(fd));

	/* the late ENOSPC/EDQUOT of an NFS client */
	fd = open_rw(f);
	cohort__os_fault_set(COHORT__OP_CLOSE, 1, EDQUOT, 0);
	ck_assert_int_eq(cohort__os_close(fd, f), COHORT_ENOSPACE);
	ck_assert(!fd_is_open(fd));

	/* the same from the system call itself */
	fd = open_rw(f);
	cohort__sys.close = close_then_fail;
	inject_errno = EIO;
	ck_assert_int_eq(cohort__os_close(fd, f), COHORT_ERROR);
	ck_assert_int_eq(calls, 1); /* never retried: the fd is freed */
	ck_assert(!fd_is_open(fd));

	fd = open_rw(f);
	inject_errno = ENOSPC;
	ck_assert_int_eq(cohort__os_close(fd, f), COHORT_ENOSPACE);
	ck_assert(!fd_is_open(fd));
}
END_TEST

START_TEST(close_eintr_is_success)
{
	const char *f = at("f");
	int fd = open_rw(f);

	cohort__sys.close = close_then_eintr;
	ck_assert_int_eq(cohort__os_close(fd, f), 0);
	ck_assert_int_eq(calls, 1); /* not retried: it would close another fd */
	ck_assert(!fd_is_open(fd));

	cohort__sys = cohort__sys_default;
	fd = open_rw(f);
	cohort__os_fault_set(COHORT__OP_CLOSE, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_close(fd, f), 0);
	ck_assert(!fd_is_open(fd));
}
END_TEST

START_TEST(close_quiet_keeps_errno)
{
	int fd = open_rw(at("f"));

	errno = ESTALE;
	cohort__os_close_quiet(fd);
	ck_assert_int_eq(errno, ESTALE);
	ck_assert(!fd_is_open(fd));
	errno = ESTALE;
	cohort__os_close_quiet(-1);
	ck_assert_int_eq(errno, ESTALE);
}
END_TEST

/* ---- read --------------------------------------------------------------- */

START_TEST(read_success_and_eof)
{
	char buf[64];
	size_t got = 99;
	int fd;

	put(at("f"), "hello world");
	fd = open_ro(at("f"));
	ck_assert_int_eq(cohort__os_read_full(fd, buf, 5, &got, at("f")), 0);
	ck_assert_uint_eq(got, 5);
	ck_assert(!memcmp(buf, "hello", 5));
	/* past the end: what there is */
	ck_assert_int_eq(cohort__os_read_full(fd, buf, sizeof(buf), &got, at("f")),
			 0);
	ck_assert_uint_eq(got, 6);
	ck_assert(!memcmp(buf, " world", 6));
	ck_assert_int_eq(cohort__os_read_full(fd, buf, sizeof(buf), &got, at("f")),
			 0);
	ck_assert_uint_eq(got, 0);
	/* positional */
	ck_assert_int_eq(cohort__os_pread_full(fd, buf, 5, 6, &got, at("f")), 0);
	ck_assert_uint_eq(got, 5);
	ck_assert(!memcmp(buf, "world", 5));
	ck_assert_int_eq(cohort__os_pread_full(fd, buf, 5, 100, &got, at("f")), 0);
	ck_assert_uint_eq(got, 0);
	cohort__os_close_quiet(fd);
}
END_TEST

START_TEST(read_eintr_retried)
{
	char buf[16];
	size_t got = 0;
	int fd;

	put(at("f"), "abcdef");
	fd = open_ro(at("f"));
	cohort__os_fault_set(COHORT__OP_READ, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_read_full(fd, buf, 3, &got, at("f")), 0);
	ck_assert_uint_eq(got, 3);
	ck_assert(!memcmp(buf, "abc", 3));

	cohort__sys.read = read_eintr;
	eintr_left = 3;
	ck_assert_int_eq(cohort__os_read_full(fd, buf, 3, &got, at("f")), 0);
	ck_assert_uint_eq(got, 3);
	ck_assert(!memcmp(buf, "def", 3));
	ck_assert_int_ge(calls, 4);
	cohort__os_close_quiet(fd);
}
END_TEST

START_TEST(read_short_completed)
{
	char buf[64];
	size_t got = 0;
	int fd;

	put(at("f"), "0123456789abcdefghij");
	fd = open_ro(at("f"));
	cohort__os_fault_set(COHORT__OP_READ, 1, COHORT__FAULT_SHORT, 0);
	ck_assert_int_eq(cohort__os_read_full(fd, buf, 20, &got, at("f")), 0);
	ck_assert_uint_eq(got, 20);
	ck_assert(!memcmp(buf, "0123456789abcdefghij", 20));
	ck_assert_uint_ge(cohort__os_fault_count(COHORT__OP_READ), 2);

	/* a system call that never gives more than 3 bytes */
	cohort__sys.read = read_3;
	cohort__sys.pread = pread_3;
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(cohort__os_read_full(fd, buf, 20, &got, at("f")), 0);
	ck_assert_uint_eq(got, 20);
	ck_assert(!memcmp(buf, "0123456789abcdefghij", 20));
	ck_assert_int_ge(calls, 7);
	calls = 0;
	ck_assert_int_eq(cohort__os_pread_full(fd, buf, 10, 7, &got, at("f")), 0);
	ck_assert_uint_eq(got, 10);
	ck_assert(!memcmp(buf, "789abcdefg", 10));
	ck_assert_int_ge(calls, 4);
	cohort__os_close_quiet(fd);
}
END_TEST

START_TEST(read_errors)
{
	char buf[16];
	size_t got = 0;
	int fd;

	put(at("f"), "abc");
	fd = open_ro(at("f"));
	cohort__os_fault_set(COHORT__OP_READ, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_read_full(fd, buf, 3, &got, at("f")),
			 COHORT_ERROR);
	assert_msg_has("cannot read '");
	assert_msg_has(at("f"));
	ck_assert_int_eq(errno, EIO);
	cohort__os_fault_set(COHORT__OP_READ, 1, ESTALE, 0);
	ck_assert_int_eq(cohort__os_pread_full(fd, buf, 3, 0, &got, at("f")),
			 COHORT_ESTALE);
	cohort__os_close_quiet(fd);

	/* a real error from the system: a write-only descriptor */
	ck_assert_int_eq(cohort__os_open(&fd, at("f"), O_WRONLY, 0), 0);
	ck_assert_int_eq(cohort__os_read_full(fd, buf, 3, &got, at("f")),
			 COHORT_ERROR);
	ck_assert_int_eq(errno, EBADF);
	cohort__os_close_quiet(fd);
}
END_TEST

/* ---- write -------------------------------------------------------------- */

START_TEST(write_success_and_positional)
{
	const char *f = at("f");
	int fd = open_rw(f);

	ck_assert_int_eq(cohort__os_write_full(fd, "hello world", 11, f), 0);
	ck_assert_int_eq(cohort__os_pwrite_full(fd, "W", 1, 6, f), 0);
	ck_assert_int_eq(cohort__os_pwrite_full(fd, "!", 1, 11, f), 0);
	ck_assert_int_eq(cohort__os_write_full(fd, "", 0, f), 0);
	ck_assert_int_eq(cohort__os_close(fd, f), 0);
	assert_content(f, "hello World!");
}
END_TEST

START_TEST(write_eintr_retried)
{
	const char *f = at("f");
	int fd = open_rw(f);

	cohort__os_fault_set(COHORT__OP_WRITE, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_write_full(fd, "abc", 3, f), 0);
	cohort__sys.write = write_eintr;
	cohort__sys.pwrite = pwrite_eintr;
	eintr_left = 2;
	ck_assert_int_eq(cohort__os_write_full(fd, "def", 3, f), 0);
	ck_assert_int_eq(calls, 3);
	eintr_left = 2;
	calls = 0;
	ck_assert_int_eq(cohort__os_pwrite_full(fd, "XY", 2, 1, f), 0);
	ck_assert_int_eq(calls, 3);
	ck_assert_int_eq(cohort__os_close(fd, f), 0);
	assert_content(f, "aXYdef");
}
END_TEST

START_TEST(write_short_completed)
{
	static const char text[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	const char *f = at("f");
	int fd = open_rw(f);

	/* the injector: one write does half */
	cohort__os_fault_set(COHORT__OP_WRITE, 1, COHORT__FAULT_SHORT, 0);
	ck_assert_int_eq(cohort__os_write_full(fd, text, 10, f), 0);
	ck_assert_uint_eq(cohort__os_fault_count(COHORT__OP_WRITE), 2);
	cohort__os_fault_set(COHORT__OP_WRITE, 1, COHORT__FAULT_SHORT, 1);
	ck_assert_int_eq(cohort__os_write_full(fd, text + 10, 26, f), 0);
	cohort__os_fault_clear();
	ck_assert_int_eq(cohort__os_close(fd, f), 0);
	assert_content(f, text);

	/* the system: never more than 3 bytes a call, at the right offsets */
	ck_assert_int_eq(unlink(f), 0);
	fd = open_rw(f);
	cohort__sys.write = write_3;
	cohort__sys.pwrite = pwrite_3;
	ck_assert_int_eq(cohort__os_write_full(fd, text, 36, f), 0);
	ck_assert_int_eq(calls, 12);
	calls = 0;
	ck_assert_int_eq(cohort__os_pwrite_full(fd, "ABCDEFGHIJ", 10, 10, f), 0);
	ck_assert_int_eq(calls, 4);
	ck_assert_int_eq(cohort__os_close(fd, f), 0);
	assert_content(f, "0123456789ABCDEFGHIJklmnopqrstuvwxyz");
}
END_TEST

START_TEST(write_zero_is_enospace)
{
	const char *f = at("f");
	int fd = open_rw(f);

	cohort__sys.write = write_zero;
	ck_assert_int_eq(cohort__os_write_full(fd, "abc", 3, f), COHORT_ENOSPACE);
	ck_assert_int_eq(calls, 1); /* no endless loop */
	assert_msg_has("cannot write '");
	assert_msg_has(f);
	cohort__sys.pwrite = pwrite_zero;
	calls = 0;
	ck_assert_int_eq(cohort__os_pwrite_full(fd, "abc", 3, 0, f),
			 COHORT_ENOSPACE);
	ck_assert_int_eq(calls, 1);

	/* progress, then nothing: still ENOSPACE, not success */
	cohort__sys = cohort__sys_default;
	cohort__sys.write = write_once_then_zero;
	calls = 0;
	ck_assert_int_eq(cohort__os_write_full(fd, "abcdefgh", 8, f),
			 COHORT_ENOSPACE);
	ck_assert_int_eq(calls, 2);
	cohort__os_close_quiet(fd);
	assert_content(f, "abc");
}
END_TEST

START_TEST(write_nospace_errors)
{
	const char *f = at("f");
	int fd = open_rw(f);

	cohort__os_fault_set(COHORT__OP_WRITE, 1, ENOSPC, 0);
	ck_assert_int_eq(cohort__os_write_full(fd, "abc", 3, f), COHORT_ENOSPACE);
	ck_assert_int_eq(errno, ENOSPC);
	cohort__os_fault_set(COHORT__OP_WRITE, 1, EDQUOT, 0);
	ck_assert_int_eq(cohort__os_pwrite_full(fd, "abc", 3, 0, f),
			 COHORT_ENOSPACE);
	ck_assert_int_eq(errno, EDQUOT);

	cohort__sys.write = write_fail;
	inject_errno = ENOSPC;
	ck_assert_int_eq(cohort__os_write_full(fd, "abc", 3, f), COHORT_ENOSPACE);
	inject_errno = EDQUOT;
	ck_assert_int_eq(cohort__os_write_full(fd, "abc", 3, f), COHORT_ENOSPACE);
	assert_msg_has(strerror(EDQUOT));
	inject_errno = EIO;
	ck_assert_int_eq(cohort__os_write_full(fd, "abc", 3, f), COHORT_ERROR);
	ck_assert_int_eq(errno, EIO);
	cohort__os_close_quiet(fd);
	assert_content(f, "");
}
END_TEST

/* ---- fsync, ftruncate --------------------------------------------------- */

START_TEST(fsync_success_and_eintr)
{
	const char *f = at("f");
	int fd = open_rw(f);

	ck_assert_int_eq(cohort__os_fsync(fd, f), 0);
	ck_assert_int_eq(cohort__os_fdatasync(fd, f), 0);
	cohort__os_fault_set(COHORT__OP_FSYNC, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_fsync(fd, f), 0);
	ck_assert_uint_eq(cohort__os_fault_count(COHORT__OP_FSYNC), 4);
	cohort__sys.fsync = fsync_eintr;
	eintr_left = 2;
	ck_assert_int_eq(cohort__os_fsync(fd, f), 0);
	ck_assert_int_eq(calls, 3);
	cohort__os_close_quiet(fd);
}
END_TEST

START_TEST(fsync_errors_reported)
{
	const char *f = at("f");
	int fd = open_rw(f);

	cohort__os_fault_set(COHORT__OP_FSYNC, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_fsync(fd, f), COHORT_ERROR);
	assert_msg_has("cannot fsync '");
	assert_msg_has(f);
	cohort__os_fault_set(COHORT__OP_FSYNC, 1, ENOSPC, 0);
	ck_assert_int_eq(cohort__os_fdatasync(fd, f), COHORT_ENOSPACE);

	cohort__sys.fsync = fsync_fail;
	cohort__sys.fdatasync = fsync_fail;
	inject_errno = EIO;
	ck_assert_int_eq(cohort__os_fsync(fd, f), COHORT_ERROR);
	ck_assert_int_eq(errno, EIO);
	inject_errno = EDQUOT;
	ck_assert_int_eq(cohort__os_fdatasync(fd, f), COHORT_ENOSPACE);
	ck_assert_int_eq(calls, 2);
	cohort__os_close_quiet(fd);
}
END_TEST

START_TEST(fsync_dir_tolerates_einval)
{
	ck_assert_int_eq(cohort__os_fsync_dir(dir), 0);

	cohort__sys.fsync = fsync_dirs_fail;
	inject_errno = EINVAL;
	ck_assert_int_eq(cohort__os_fsync_dir(dir), 0);
	ck_assert_int_eq(calls, 1);
	ck_assert_str_eq(cohort_error_last(), "no error");

	/* but a real failure of the folder's fsync is reported */
	inject_errno = EIO;
	ck_assert_int_eq(cohort__os_fsync_dir(dir), COHORT_ERROR);
	assert_msg_has(dir);

	/* and a missing folder */
	cohort__sys = cohort__sys_default;
	ck_assert_int_eq(cohort__os_fsync_dir(at("nope")), COHORT_ENOTFOUND);
}
END_TEST

START_TEST(ftruncate_paths)
{
	const char *f = at("f");
	int fd = open_rw(f);
	struct stat st;

	ck_assert_int_eq(cohort__os_write_full(fd, "abcdef", 6, f), 0);
	ck_assert_int_eq(cohort__os_ftruncate(fd, 2, f), 0);
	cohort__os_fault_set(COHORT__OP_TRUNCATE, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_ftruncate(fd, 1, f), 0);
	cohort__sys.ftruncate = ftruncate_eintr;
	eintr_left = 1;
	ck_assert_int_eq(cohort__os_ftruncate(fd, 3, f), 0);
	ck_assert_int_eq(calls, 2);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 3);
	cohort__os_fault_set(COHORT__OP_TRUNCATE, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_ftruncate(fd, 0, f), COHORT_ERROR);
	assert_msg_has("cannot truncate '");
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 3);
	cohort__os_close_quiet(fd);
}
END_TEST

/* ---- rename and link ---------------------------------------------------- */

START_TEST(rename_success)
{
	put(at("a"), "A");
	put(at("b"), "B");
	ck_assert_int_eq(cohort__os_rename(at("a"), at("b")), 0);
	ck_assert(!exists(at("a")));
	assert_content(at("b"), "A");
}
END_TEST

START_TEST(rename_eintr_retried)
{
	put(at("a"), "A");
	cohort__os_fault_set(COHORT__OP_RENAME, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_rename(at("a"), at("b")), 0);
	assert_content(at("b"), "A");

	cohort__sys.rename = rename_eintr;
	eintr_left = 2;
	ck_assert_int_eq(cohort__os_rename(at("b"), at("c")), 0);
	ck_assert_int_eq(calls, 3);
	assert_content(at("c"), "A");
	ck_assert(!exists(at("b")));
}
END_TEST

START_TEST(rename_lie_is_success)
{
	put(at("a"), "A");
	put(at("b"), "old");
	cohort__os_fault_set(COHORT__OP_RENAME, 1, COHORT__FAULT_LIE, 0);
	ck_assert_int_eq(cohort__os_rename(at("a"), at("b")), 0);
	ck_assert(!exists(at("a")));
	assert_content(at("b"), "A");

	/* the same lie from the system call */
	put(at("c"), "C");
	cohort__sys.rename = rename_lie;
	ck_assert_int_eq(cohort__os_rename(at("c"), at("b")), 0);
	ck_assert_int_eq(calls, 1);
	ck_assert(!exists(at("c")));
	assert_content(at("b"), "C");
}
END_TEST

START_TEST(rename_failure_names_both)
{
	/* a real failure: the target's folder does not exist */
	put(at("a"), "A");
	ck_assert_int_eq(cohort__os_rename(at("a"), at("no/b")), COHORT_ENOTFOUND);
	assert_msg_has("cannot rename '");
	assert_msg_has(at("a"));
	assert_msg_has(at("no/b"));
	assert_msg_has(strerror(ENOENT));
	ck_assert(exists(at("a")));

	/* the source is missing */
	ck_assert_int_eq(cohort__os_rename(at("x"), at("y")), COHORT_ENOTFOUND);
	assert_msg_has(at("x"));
	assert_msg_has(at("y"));

	/* an injected failure that did not happen, onto an existing target */
	put(at("b"), "B");
	cohort__os_fault_set(COHORT__OP_RENAME, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_rename(at("a"), at("b")), COHORT_ERROR);
	assert_msg_has(at("a"));
	assert_msg_has(at("b"));
	assert_msg_has(strerror(EIO));
	assert_content(at("a"), "A");
	assert_content(at("b"), "B");

	/* the system fails, the target exists but is another file */
	cohort__sys.rename = rename_fail;
	inject_errno = ENOSPC;
	ck_assert_int_eq(cohort__os_rename(at("a"), at("b")), COHORT_ENOSPACE);
	assert_content(at("b"), "B");

	/* a hard link of the source already sits on the target: the source
	 * is still there, so the rename did not happen */
	ck_assert_int_eq(unlink(at("b")), 0);
	ck_assert_int_eq(link(at("a"), at("b")), 0);
	inject_errno = EIO;
	ck_assert_int_eq(cohort__os_rename(at("a"), at("b")), COHORT_ERROR);
}
END_TEST

START_TEST(link_success_and_eintr)
{
	struct stat sa, sb;

	put(at("a"), "A");
	ck_assert_int_eq(cohort__os_link(at("a"), at("b")), 0);
	ck_assert_int_eq(stat(at("a"), &sa), 0);
	ck_assert_int_eq(stat(at("b"), &sb), 0);
	ck_assert_uint_eq(sa.st_ino, sb.st_ino);
	ck_assert_uint_eq(sa.st_nlink, 2);

	cohort__os_fault_set(COHORT__OP_LINK, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_link(at("a"), at("c")), 0);
	cohort__sys.link = link_eintr;
	eintr_left = 2;
	ck_assert_int_eq(cohort__os_link(at("a"), at("d")), 0);
	ck_assert_int_eq(calls, 3);
	assert_content(at("c"), "A");
	assert_content(at("d"), "A");
}
END_TEST

START_TEST(link_lie_is_success)
{
	put(at("a"), "A");
	cohort__os_fault_set(COHORT__OP_LINK, 1, COHORT__FAULT_LIE, 0);
	ck_assert_int_eq(cohort__os_link(at("a"), at("b")), 0);
	assert_content(at("b"), "A");

	/* a retransmitted LINK answers EEXIST for our own success */
	cohort__sys.link = link_lie_eexist;
	ck_assert_int_eq(cohort__os_link(at("a"), at("c")), 0);
	assert_content(at("c"), "A");
}
END_TEST

START_TEST(link_failures)
{
	put(at("a"), "A");
	put(at("b"), "B");
	/* a real EEXIST: the target is another file */
	ck_assert_int_eq(cohort__os_link(at("a"), at("b")), COHORT_EEXISTS);
	assert_msg_has("cannot link '");
	assert_msg_has(at("a"));
	assert_msg_has(at("b"));
	assert_content(at("b"), "B");
	/* EIO that did not happen */
	cohort__os_fault_set(COHORT__OP_LINK, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_link(at("a"), at("c")), COHORT_ERROR);
	ck_assert(!exists(at("c")));
	/* missing source */
	ck_assert_int_eq(cohort__os_link(at("x"), at("y")), COHORT_ENOTFOUND);
	assert_msg_has(at("x"));
	assert_msg_has(at("y"));
}
END_TEST

/* ---- unlink, rmdir, mkdir, stat ----------------------------------------- */

START_TEST(unlink_paths)
{
	put(at("a"), "A");
	ck_assert_int_eq(cohort__os_unlink(at("a")), 0);
	ck_assert(!exists(at("a")));
	ck_assert_int_eq(cohort__os_unlink(at("a")), COHORT_ENOTFOUND);
	assert_msg_has("cannot remove '");
	assert_msg_has(at("a"));

	put(at("b"), "B");
	cohort__os_fault_set(COHORT__OP_UNLINK, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_unlink(at("b")), 0);
	ck_assert(!exists(at("b")));

	put(at("c"), "C");
	cohort__sys.unlink = unlink_eintr;
	eintr_left = 2;
	ck_assert_int_eq(cohort__os_unlink(at("c")), 0);
	ck_assert_int_eq(calls, 3);
	ck_assert(!exists(at("c")));

	put(at("d"), "D");
	cohort__os_fault_set(COHORT__OP_UNLINK, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_unlink(at("d")), COHORT_ERROR);
	ck_assert(exists(at("d")));
}
END_TEST

START_TEST(rmdir_paths)
{
	ck_assert_int_eq(mkdir(at("d"), 0755), 0);
	put(at("d/f"), "x");
	ck_assert_int_eq(cohort__os_rmdir(at("d")), COHORT_ERROR);
	ck_assert_int_eq(errno, ENOTEMPTY);
	assert_msg_has("cannot remove folder '");
	ck_assert_int_eq(unlink(at("d/f")), 0);
	cohort__os_fault_set(COHORT__OP_RMDIR, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_rmdir(at("d")), 0);
	ck_assert(!exists(at("d")));
	ck_assert_int_eq(cohort__os_rmdir(at("d")), COHORT_ENOTFOUND);
	ck_assert_int_eq(mkdir(at("e"), 0755), 0);
	cohort__os_fault_set(COHORT__OP_RMDIR, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_rmdir(at("e")), COHORT_ERROR);
	ck_assert(exists(at("e")));
}
END_TEST

START_TEST(mkdir_paths)
{
	struct stat st;

	ck_assert_int_eq(cohort__os_mkdir(at("d"), 0750), 0);
	ck_assert_int_eq(stat(at("d"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0750);
	/* an existing folder is success */
	ck_assert_int_eq(cohort__os_mkdir(at("d"), 0750), 0);
	/* an existing file is not */
	put(at("f"), "x");
	ck_assert_int_eq(cohort__os_mkdir(at("f"), 0750), COHORT_ERROR);
	assert_msg_has("cannot create folder '");
	assert_msg_has(at("f"));
	/* a symlink to a folder is not a folder */
	ck_assert_int_eq(symlink(at("d"), at("l")), 0);
	ck_assert_int_eq(cohort__os_mkdir(at("l"), 0750), COHORT_ERROR);
	/* missing parent */
	ck_assert_int_eq(cohort__os_mkdir(at("x/y"), 0750), COHORT_ENOTFOUND);

	cohort__os_fault_set(COHORT__OP_MKDIR, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_mkdir(at("e"), 0750), 0);
	ck_assert(exists(at("e")));
	cohort__sys.mkdir = mkdir_eintr;
	eintr_left = 2;
	ck_assert_int_eq(cohort__os_mkdir(at("g"), 0750), 0);
	ck_assert_int_eq(calls, 3);
	ck_assert(exists(at("g")));
	cohort__os_fault_set(COHORT__OP_MKDIR, 1, ENOSPC, 0);
	ck_assert_int_eq(cohort__os_mkdir(at("h"), 0750), COHORT_ENOSPACE);
	ck_assert(!exists(at("h")));
}
END_TEST

START_TEST(mkdir_p_paths)
{
	struct stat st;

	ck_assert_int_eq(cohort__os_mkdir_p(at("a/b/c/d"), 0755), 0);
	ck_assert_int_eq(stat(at("a/b/c/d"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	/* again, and with a trailing slash and a double slash */
	ck_assert_int_eq(cohort__os_mkdir_p(at("a/b/c/d"), 0755), 0);
	ck_assert_int_eq(cohort__os_mkdir_p(at("a/b/c/e/"), 0755), 0);
	ck_assert_int_eq(stat(at("a/b/c/e"), &st), 0);
	ck_assert_int_eq(cohort__os_mkdir_p(at("a//x"), 0755), 0);
	ck_assert_int_eq(stat(at("a/x"), &st), 0);
	/* a file in the way */
	put(at("a/f"), "x");
	ck_assert_int_eq(cohort__os_mkdir_p(at("a/f/g"), 0755), COHORT_ERROR);
	assert_msg_has(at("a/f"));
	ck_assert_int_eq(cohort__os_mkdir_p("", 0755), COHORT_EINVAL);
	/* a failure half way */
	cohort__os_fault_set(COHORT__OP_MKDIR, 1, EIO, 1);
	ck_assert_int_eq(cohort__os_mkdir_p(at("q/r"), 0755), COHORT_ERROR);
	ck_assert(!exists(at("q")));
}
END_TEST

START_TEST(stat_paths)
{
	struct cohort__stat st, lst, fst;
	struct stat real;
	int fd;

	put(at("f"), "hello");
	ck_assert_int_eq(stat(at("f"), &real), 0);
	ck_assert_int_eq(cohort__os_stat(&st, at("f"), 0), 0);
	ck_assert_uint_eq(st.size, 5);
	ck_assert_uint_eq(st.ino, real.st_ino);
	ck_assert(S_ISREG(st.mode));
	ck_assert_uint_eq(st.nlink, 1);
	ck_assert_int_eq(st.mtime_ns, (int64_t)real.st_mtim.tv_sec * 1000000000 +
				      real.st_mtim.tv_nsec);
	ck_assert_int_gt(st.ctime_ns, 0);

	ck_assert_int_eq(symlink(at("f"), at("l")), 0);
	ck_assert_int_eq(cohort__os_stat(&lst, at("l"), 1), 0);
	ck_assert(S_ISLNK(lst.mode));
	ck_assert_int_eq(cohort__os_stat(&lst, at("l"), 0), 0);
	ck_assert_uint_eq(lst.ino, st.ino);

	fd = open_ro(at("f"));
	ck_assert_int_eq(cohort__os_fstat(&fst, fd, at("f")), 0);
	ck_assert_uint_eq(fst.ino, st.ino);
	ck_assert_uint_eq(fst.dev, st.dev);
	cohort__os_fault_set(COHORT__OP_STAT, 1, ESTALE, 0);
	ck_assert_int_eq(cohort__os_fstat(&fst, fd, at("f")), COHORT_ESTALE);
	assert_msg_has("cannot stat '");
	cohort__os_close_quiet(fd);

	ck_assert_int_eq(cohort__os_stat(&st, at("missing"), 0), COHORT_ENOTFOUND);
	assert_msg_has(at("missing"));
	cohort__os_fault_set(COHORT__OP_STAT, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_stat(&st, at("f"), 0), 0);
	ck_assert_uint_eq(st.size, 5);
}
END_TEST

/* ---- locks -------------------------------------------------------------- */

START_TEST(lock_ofd_conflicts)
{
	const char *f = at("lock");
	int a = open_rw(f), b = open_rw(f);

	ck_assert_int_eq(cohort__os_lock_ofd(a, F_WRLCK, f), 0);
	/* another open file description of this very process is excluded */
	ck_assert_int_eq(cohort__os_lock_ofd(b, F_WRLCK, f), COHORT_ELOCKED);
	assert_msg_has(f);
	ck_assert_int_eq(cohort__os_lock_ofd(b, F_RDLCK, f), COHORT_ELOCKED);
	/* relocking through the same description is fine */
	ck_assert_int_eq(cohort__os_lock_ofd(a, F_WRLCK, f), 0);
	ck_assert_int_eq(cohort__os_lock_ofd(a, F_UNLCK, f), 0);
	ck_assert_int_eq(cohort__os_lock_ofd(b, F_WRLCK, f), 0);
	ck_assert_int_eq(cohort__os_lock_ofd(a, F_RDLCK, f), COHORT_ELOCKED);
	/* closing the holder's descriptor frees it */
	cohort__os_close_quiet(b);
	ck_assert_int_eq(cohort__os_lock_ofd(a, F_RDLCK, f), 0);
	b = open_rw(f);
	ck_assert_int_eq(cohort__os_lock_ofd(b, F_RDLCK, f), 0); /* shared */
	ck_assert_int_eq(cohort__os_lock_ofd(b, F_WRLCK, f), COHORT_ELOCKED);
	cohort__os_close_quiet(a);
	cohort__os_close_quiet(b);
}
END_TEST

START_TEST(lock_ofd_survives_other_close)
{
	/* unlike classic POSIX locks, closing another descriptor of the file
	 * does not drop an OFD lock (NFS fact 7) */
	const char *f = at("lock");
	int a = open_rw(f), b = open_rw(f), c;

	ck_assert_int_eq(cohort__os_lock_ofd(a, F_WRLCK, f), 0);
	cohort__os_close_quiet(b);
	c = open_rw(f);
	ck_assert_int_eq(cohort__os_lock_ofd(c, F_WRLCK, f), COHORT_ELOCKED);
	cohort__os_close_quiet(a);
	cohort__os_close_quiet(c);
}
END_TEST

START_TEST(lock_eintr_and_errors)
{
	const char *f = at("lock");
	int a = open_rw(f), b = open_rw(f);

	cohort__os_fault_set(COHORT__OP_LOCK, 1, EINTR, 0);
	ck_assert_int_eq(cohort__os_lock_ofd(a, F_WRLCK, f), 0);
	ck_assert_int_eq(cohort__os_lock_ofd(a, F_UNLCK, f), 0);
	cohort__sys.fcntl_lock = fcntl_lock_eintr;
	eintr_left = 2;
	ck_assert_int_eq(cohort__os_lock_ofd(a, F_WRLCK, f), 0);
	ck_assert_int_eq(calls, 3);
	ck_assert_int_eq(cohort__os_lock_ofd(b, F_WRLCK, f), COHORT_ELOCKED);
	ck_assert_int_eq(cohort__os_lock_ofd(a, F_UNLCK, f), 0);

	cohort__os_fault_set(COHORT__OP_LOCK, 1, ENOTCONN, 0);
	ck_assert_int_eq(cohort__os_lock_ofd(a, F_WRLCK, f), COHORT_ERROR);
	assert_msg_has("cannot lock '");
	ck_assert_int_eq(errno, ENOTCONN);
	/* it was not taken */
	ck_assert_int_eq(cohort__os_lock_ofd(b, F_WRLCK, f), 0);

	/* flock: EINTR retried, conflict between descriptions */
	cohort__sys.flock = flock_eintr;
	eintr_left = 2;
	calls = 0;
	ck_assert_int_eq(cohort__os_flock(a, LOCK_EX | LOCK_NB, f), 0);
	ck_assert_int_eq(calls, 3);
	ck_assert_int_eq(cohort__os_flock(b, LOCK_EX | LOCK_NB, f),
			 COHORT_ELOCKED);
	assert_msg_has(f);
	ck_assert_int_eq(cohort__os_flock(a, LOCK_UN, f), 0);
	ck_assert_int_eq(cohort__os_flock(b, LOCK_EX | LOCK_NB, f), 0);
	cohort__os_fault_set(COHORT__OP_LOCK, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_flock(a, LOCK_SH | LOCK_NB, f), COHORT_ERROR);
	cohort__os_close_quiet(a);
	cohort__os_close_quiet(b);
}
END_TEST

/* ---- read_file ---------------------------------------------------------- */

START_TEST(read_file_success)
{
	char *text = NULL;
	size_t len = 0;

	put(at("f"), "key value\n");
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 100), 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(text, "key value\n");
	free(text);
	/* empty */
	put(at("e"), "");
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("e"), 100), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(text, "");
	free(text);
	/* exactly max */
	put(at("m"), "0123456789");
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("m"), 10), 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(text, "0123456789");
	free(text);
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("missing"), 10),
			 COHORT_ENOTFOUND);
	assert_msg_has(at("missing"));
}
END_TEST

START_TEST(read_file_estale_once)
{
	char *text = NULL;
	size_t len = 0;

	put(at("f"), "content");
	/* the open meets a stale handle once */
	cohort__os_fault_set(COHORT__OP_OPEN, 1, ESTALE, 0);
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 100), 0);
	ck_assert_str_eq(text, "content");
	ck_assert_uint_eq(cohort__os_fault_count(COHORT__OP_OPEN), 2);
	free(text);
	/* so do the read and the fstat */
	cohort__os_fault_set(COHORT__OP_READ, 1, ESTALE, 0);
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 100), 0);
	ck_assert_str_eq(text, "content");
	free(text);
	cohort__os_fault_set(COHORT__OP_STAT, 1, ESTALE, 0);
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 100), 0);
	ck_assert_str_eq(text, "content");
	free(text);
}
END_TEST

START_TEST(read_file_estale_always)
{
	char *text = NULL;
	size_t len = 0;
	unsigned long opens;

	put(at("f"), "content");
	cohort__os_fault_set(COHORT__OP_OPEN, 1, ESTALE, 1);
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 100),
			 COHORT_ESTALE);
	ck_assert_ptr_null(text);
	assert_msg_has(at("f"));
	/* bounded retries */
	opens = cohort__os_fault_count(COHORT__OP_OPEN);
	ck_assert_uint_ge(opens, 2);
	ck_assert_uint_le(opens, 10);
	cohort__os_fault_clear();
	cohort__os_fault_set(COHORT__OP_READ, 1, ESTALE, 1);
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 100),
			 COHORT_ESTALE);
	/* other errors are not retried */
	cohort__os_fault_clear();
	cohort__os_fault_set(COHORT__OP_READ, 1, EIO, 1);
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 100),
			 COHORT_ERROR);
	ck_assert_uint_eq(cohort__os_fault_count(COHORT__OP_OPEN), 1);
}
END_TEST

START_TEST(read_file_too_large)
{
	char *text = NULL;
	size_t len = 0;

	put(at("f"), "0123456789a");
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 10),
			 COHORT_ECORRUPT);
	ck_assert_ptr_null(text);
	assert_msg_has(at("f"));
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 0),
			 COHORT_ECORRUPT);
}
END_TEST

/* An attribute cache that under-reports the size. */
static int statx_small(int dirfd, const char *path, int flags,
		       unsigned int mask, struct statx *st)
{
	int r = cohort__sys_default.statx(dirfd, path, flags, mask, st);

	if (r == 0 && S_ISREG(st->stx_mode) && st->stx_size > 3)
		st->stx_size = 3;
	return r;
}

START_TEST(read_file_size_not_trusted)
{
	char *text = NULL;
	size_t len = 0;

	put(at("f"), "0123456789abcdefghij");
	cohort__sys.statx = statx_small;
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 100), 0);
	ck_assert_uint_eq(len, 20);
	ck_assert_str_eq(text, "0123456789abcdefghij");
	free(text);
	text = NULL;
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("f"), 10),
			 COHORT_ECORRUPT);
	ck_assert_ptr_null(text);
}
END_TEST

START_TEST(read_file_refuses_symlink)
{
	char *text = NULL;
	size_t len = 0;

	put(at("f"), "secret");
	ck_assert_int_eq(symlink(at("f"), at("l")), 0);
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("l"), 100),
			 COHORT_ERROR);
	ck_assert_ptr_null(text);
	assert_msg_has(at("l"));
	ck_assert_int_eq(errno, ELOOP);
	/* a folder is not a file */
	ck_assert_int_eq(mkdir(at("d"), 0755), 0);
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("d"), 100),
			 COHORT_ECORRUPT);
	ck_assert_ptr_null(text);
}
END_TEST

/* ---- write_atomic ------------------------------------------------------- */

START_TEST(write_atomic_success)
{
	struct stat st;

	ck_assert_int_eq(cohort__os_write_atomic(at("t"), "one", 3, 0640, "n1"), 0);
	assert_content(at("t"), "one");
	ck_assert_int_eq(stat(at("t"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	ck_assert_int_eq(cohort__os_write_atomic(at("t"), "second", 6, 0640, NULL),
			 0);
	assert_content(at("t"), "second");
	ck_assert_int_eq(temps_left(), 0);
	ck_assert_int_eq(entries(), 1);
	/* a new inode: readers holding the old one keep a whole old file */
	{
		struct stat st2;

		ck_assert_int_eq(stat(at("t"), &st2), 0);
		ck_assert_uint_ne(st.st_ino, st2.st_ino);
	}
}
END_TEST

START_TEST(write_atomic_temp_name)
{
	char want[PATH_MAX];
	const char *base;

	cohort__sys.open = open_record;
	ck_assert_int_eq(cohort__os_write_atomic(at("t"), "x", 1, 0644, "node1"),
			 0);
	base = strrchr(last_created, '/');
	ck_assert_ptr_nonnull(base);
	base++;
	snprintf(want, sizeof(want), ".t.tmp.node1.%ld.", (long)getpid());
	ck_assert_msg(!strncmp(base, want, strlen(want)), "temp name '%s'",
		      base);
	ck_assert_uint_eq(strlen(base), strlen(want) + 12);
	ck_assert(cohort__os_is_temp_name(base));
	/* in the target's folder */
	ck_assert(!strncmp(last_created, dir, strlen(dir)));
	ck_assert_int_eq((int)(base - last_created) - 1, (int)strlen(dir));
	ck_assert_int_eq(last_created_flags & (O_CREAT | O_EXCL | O_NOFOLLOW |
					       O_CLOEXEC),
			 O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC);
	ck_assert_int_eq(temps_left(), 0);
}
END_TEST

static void atomic_fails_at(enum cohort__os_op op, int what, int want_rc)
{
	int rc;

	put(at("t"), "original");
	cohort__os_fault_clear();
	cohort__os_fault_set(op, 1, what, 0);
	rc = cohort__os_write_atomic(at("t"), "replacement", 11, 0644, "n");
	ck_assert_msg(rc == want_rc, "%s:%d gave %d (%s)", cohort__os_op_name(op),
		      what, rc, cohort_error_last());
	assert_content(at("t"), "original");
	ck_assert_msg(temps_left() == 0, "temp left after %s failure",
		      cohort__os_op_name(op));
	ck_assert_int_eq(entries(), 1);
}

START_TEST(write_atomic_fail_open)
{
	atomic_fails_at(COHORT__OP_OPEN, EIO, COHORT_ERROR);
	atomic_fails_at(COHORT__OP_OPEN, ENOSPC, COHORT_ENOSPACE);
}
END_TEST

START_TEST(write_atomic_fail_write)
{
	atomic_fails_at(COHORT__OP_WRITE, ENOSPC, COHORT_ENOSPACE);
	atomic_fails_at(COHORT__OP_WRITE, EIO, COHORT_ERROR);
	/* a write that makes no progress */
	cohort__sys.write = write_zero;
	atomic_fails_at(COHORT__OP_COUNT, 0, COHORT_ENOSPACE);
}
END_TEST

START_TEST(write_atomic_fail_fsync)
{
	atomic_fails_at(COHORT__OP_FSYNC, EIO, COHORT_ERROR);
	atomic_fails_at(COHORT__OP_FSYNC, EDQUOT, COHORT_ENOSPACE);
}
END_TEST

START_TEST(write_atomic_fail_close)
{
	atomic_fails_at(COHORT__OP_CLOSE, EIO, COHORT_ERROR);
	atomic_fails_at(COHORT__OP_CLOSE, ENOSPC, COHORT_ENOSPACE);
}
END_TEST

START_TEST(write_atomic_fail_rename)
{
	atomic_fails_at(COHORT__OP_RENAME, EIO, COHORT_ERROR);
	atomic_fails_at(COHORT__OP_RENAME, ESTALE, COHORT_ESTALE);
	ck_assert_str_ne(cohort_error_last(), "no error");
	assert_msg_has(at("t"));
}
END_TEST

START_TEST(write_atomic_dir_fsync_refused)
{
	/* NFS refuses fsync of the folder: the replace still succeeds */
	cohort__sys.fsync = fsync_dirs_fail;
	inject_errno = EINVAL;
	ck_assert_int_eq(cohort__os_write_atomic(at("t"), "new", 3, 0644, "n"), 0);
	ck_assert_int_eq(calls, 2); /* the temp file, then the folder */
	assert_content(at("t"), "new");
	ck_assert_int_eq(temps_left(), 0);
}
END_TEST

START_TEST(write_atomic_rename_lie)
{
	put(at("t"), "original");
	cohort__os_fault_set(COHORT__OP_RENAME, 1, COHORT__FAULT_LIE, 0);
	ck_assert_int_eq(cohort__os_write_atomic(at("t"), "new", 3, 0644, "n"), 0);
	assert_content(at("t"), "new");
	ck_assert_int_eq(temps_left(), 0);
}
END_TEST

START_TEST(write_atomic_short_writes)
{
	static char big[100000];
	char *text = NULL;
	size_t len = 0, i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	/* every write does half */
	cohort__os_fault_set(COHORT__OP_WRITE, 1, COHORT__FAULT_SHORT, 1);
	ck_assert_int_eq(cohort__os_write_atomic(at("t"), big, sizeof(big), 0644,
						 NULL), 0);
	cohort__os_fault_clear();
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("t"), sizeof(big)),
			 0);
	ck_assert_uint_eq(len, sizeof(big));
	ck_assert(!memcmp(text, big, len));
	free(text);
	/* every write does 3 bytes */
	big[0] = 'X';
	cohort__sys.write = write_3;
	ck_assert_int_eq(cohort__os_write_atomic(at("t"), big, sizeof(big), 0644,
						 NULL), 0);
	ck_assert_int_eq(calls, (int)(sizeof(big) + 2) / 3);
	ck_assert_int_eq(cohort__os_read_file(&text, &len, at("t"), sizeof(big)),
			 0);
	ck_assert_uint_eq(len, sizeof(big));
	ck_assert(!memcmp(text, big, len));
	free(text);
	ck_assert_int_eq(temps_left(), 0);
}
END_TEST

/* ---- create_exclusive --------------------------------------------------- */

START_TEST(create_exclusive_success)
{
	struct stat st;

	ck_assert_int_eq(cohort__os_create_exclusive(at("t"), "mine", 4, 0640, "n",
						     1), 0);
	assert_content(at("t"), "mine");
	ck_assert_int_eq(stat(at("t"), &st), 0);
	ck_assert_uint_eq(st.st_nlink, 1); /* the temp name is gone */
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	ck_assert_int_eq(temps_left(), 0);
	ck_assert_int_eq(cohort__os_create_exclusive(at("u"), "x", 1, 0644, NULL,
						     0), 0);
	assert_content(at("u"), "x");
	ck_assert_int_eq(entries(), 2);
}
END_TEST

START_TEST(create_exclusive_exists)
{
	struct stat before, after;

	put(at("t"), "theirs");
	ck_assert_int_eq(stat(at("t"), &before), 0);
	ck_assert_int_eq(cohort__os_create_exclusive(at("t"), "mine", 4, 0644,
						     "n", 1), COHORT_EEXISTS);
	assert_msg_has(at("t"));
	assert_content(at("t"), "theirs");
	ck_assert_int_eq(stat(at("t"), &after), 0);
	ck_assert_uint_eq(before.st_ino, after.st_ino);
	ck_assert_int_eq(temps_left(), 0);
	ck_assert_int_eq(entries(), 1);
	/* a dangling symlink occupies the name too */
	ck_assert_int_eq(symlink(at("nowhere"), at("l")), 0);
	ck_assert_int_eq(cohort__os_create_exclusive(at("l"), "mine", 4, 0644,
						     "n", 0), COHORT_EEXISTS);
	ck_assert(!exists(at("nowhere")));
}
END_TEST

START_TEST(create_exclusive_failures)
{
	ck_assert_int_eq(cohort__os_fault_parse("write:1:ENOSPC"), 0);
	ck_assert_int_eq(cohort__os_create_exclusive(at("t"), "mine", 4, 0644,
						     "n", 1), COHORT_ENOSPACE);
	ck_assert(!exists(at("t")));
	ck_assert_int_eq(temps_left(), 0);
	cohort__os_fault_clear();
	cohort__os_fault_set(COHORT__OP_FSYNC, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_create_exclusive(at("t"), "mine", 4, 0644,
						     "n", 1), COHORT_ERROR);
	ck_assert(!exists(at("t")));
	ck_assert_int_eq(temps_left(), 0);
	cohort__os_fault_clear();
	cohort__os_fault_set(COHORT__OP_CLOSE, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_create_exclusive(at("t"), "mine", 4, 0644,
						     "n", 0), COHORT_ERROR);
	ck_assert(!exists(at("t")));
	ck_assert_int_eq(temps_left(), 0);
	cohort__os_fault_clear();
	cohort__os_fault_set(COHORT__OP_LINK, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_create_exclusive(at("t"), "mine", 4, 0644,
						     "n", 0), COHORT_ERROR);
	ck_assert(!exists(at("t")));
	ck_assert_int_eq(temps_left(), 0);
	ck_assert_int_eq(entries(), 0);
}
END_TEST

START_TEST(create_exclusive_link_lie)
{
	struct stat st;

	cohort__os_fault_set(COHORT__OP_LINK, 1, COHORT__FAULT_LIE, 0);
	ck_assert_int_eq(cohort__os_create_exclusive(at("t"), "mine", 4, 0644,
						     "n", 1), 0);
	assert_content(at("t"), "mine");
	ck_assert_int_eq(stat(at("t"), &st), 0);
	ck_assert_uint_eq(st.st_nlink, 1);
	ck_assert_int_eq(temps_left(), 0);
}
END_TEST

#define RACERS 20

struct racer {
	pthread_barrier_t *go;
	const char *path;
	int index;
	int rc;
};

static void *race_thread(void *arg)
{
	struct racer *r = arg;
	char text[64];
	int n = snprintf(text, sizeof(text), "winner %d\n", r->index);

	pthread_barrier_wait(r->go);
	r->rc = cohort__os_create_exclusive(r->path, text, (size_t)n, 0644,
					    "race", r->index % 2);
	return NULL;
}

START_TEST(create_exclusive_thread_race)
{
	pthread_barrier_t go;
	pthread_t th[RACERS];
	struct racer r[RACERS];
	int i, round, winners, winner;
	char want[64];

	for (round = 0; round < 5; round++) {
		char name[32];
		const char *path;

		snprintf(name, sizeof(name), "t%d", round);
		path = at(name);
		ck_assert_int_eq(pthread_barrier_init(&go, NULL, RACERS), 0);
		for (i = 0; i < RACERS; i++) {
			r[i].go = &go;
			r[i].path = path;
			r[i].index = i;
			r[i].rc = 99;
			ck_assert_int_eq(pthread_create(&th[i], NULL, race_thread,
							&r[i]), 0);
		}
		winners = 0;
		winner = -1;
		for (i = 0; i < RACERS; i++) {
			ck_assert_int_eq(pthread_join(th[i], NULL), 0);
			if (r[i].rc == 0) {
				winners++;
				winner = i;
			} else {
				ck_assert_int_eq(r[i].rc, COHORT_EEXISTS);
			}
		}
		pthread_barrier_destroy(&go);
		ck_assert_int_eq(winners, 1);
		snprintf(want, sizeof(want), "winner %d\n", winner);
		assert_content(path, want);
		ck_assert_int_eq(temps_left(), 0);
	}
}
END_TEST

START_TEST(create_exclusive_process_race)
{
	int gate[2], i, winners = 0, winner = -1, round;
	pid_t pids[RACERS];
	char want[64];

	for (round = 0; round < 3; round++) {
		char name[32];
		const char *path;

		snprintf(name, sizeof(name), "t%d", round);
		path = at(name);
		ck_assert_int_eq(pipe(gate), 0);
		fflush(NULL);
		for (i = 0; i < RACERS; i++) {
			pids[i] = fork();
			ck_assert_int_ge(pids[i], 0);
			if (pids[i] == 0) {
				char text[64], c;
				int n, rc;

				close(gate[1]);
				/* wait for the gate to open (EOF) */
				while (read(gate[0], &c, 1) < 0 && errno == EINTR)
					;
				n = snprintf(text, sizeof(text), "winner %d\n", i);
				rc = cohort__os_create_exclusive(path, text,
								 (size_t)n, 0644,
								 "race", 1);
				_exit(rc == 0 ? 0 : rc == COHORT_EEXISTS ? 1 : 2);
			}
		}
		close(gate[0]);
		close(gate[1]);
		winners = 0;
		for (i = 0; i < RACERS; i++) {
			int status;

			ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
			ck_assert(WIFEXITED(status));
			ck_assert_int_le(WEXITSTATUS(status), 1);
			if (WEXITSTATUS(status) == 0) {
				winners++;
				winner = i;
			}
		}
		ck_assert_int_eq(winners, 1);
		snprintf(want, sizeof(want), "winner %d\n", winner);
		assert_content(path, want);
		ck_assert_int_eq(temps_left(), 0);
	}
}
END_TEST

/* ---- temp registry ------------------------------------------------------ */

/*
 * A fresh process (this program, exec'd: default signal dispositions, an
 * empty registry) makes a temp file for 'target', writes its path to the
 * descriptor 'fdtext', and then exits, waits for a signal, or forgets the
 * file and exits.
 */
enum child_end { END_EXIT, END_SIGTERM, END_DONE_EXIT };

static int temp_child_main(const char *how, const char *target,
			   const char *fdtext)
{
	char p[PATH_MAX];
	int fd = -1, out = atoi(fdtext);

	if (cohort__os_temp_open(&fd, p, sizeof(p), target, 0644, "child"))
		return 20;
	if (cohort__os_write_full(fd, "partial", 7, p))
		return 21;
	if (write(out, p, strlen(p) + 1) < 0)
		return 22;
	close(out);
	if (!strcmp(how, "done"))
		cohort__os_temp_done(p);
	if (!strcmp(how, "wait"))
		for (;;)
			pause();
	exit(0); /* runs atexit handlers */
}

static void temp_child(enum child_end how, char *path, size_t size,
		       int *status)
{
	static const char *const hows[] = { "exit", "wait", "done" };
	const char *target = at("target");
	char fdtext[16];
	int pfd[2];
	pid_t pid;
	ssize_t n;

	ck_assert_int_eq(pipe(pfd), 0);
	snprintf(fdtext, sizeof(fdtext), "%d", pfd[1]);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* no Check calls here: they write to Check's own channel */
		close(pfd[0]);
		execl("/proc/self/exe", "test_os", "--temp-child", hows[how],
		      target, fdtext, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	memset(path, 0, size);
	n = read(pfd[0], path, size - 1);
	close(pfd[0]);
	ck_assert_int_gt(n, 0);
	ck_assert_msg(!strncmp(path, dir, strlen(dir)), "temp '%s'", path);
	if (how == END_SIGTERM) {
		ck_assert(exists(path)); /* it is there while the child runs */
		ck_assert_int_eq(kill(pid, SIGTERM), 0);
	}
	ck_assert_int_eq(waitpid(pid, status, 0), pid);
}

START_TEST(temp_removed_at_exit)
{
	char path[PATH_MAX];
	int status;

	temp_child(END_EXIT, path, sizeof(path), &status);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_msg(!exists(path), "'%s' left behind", path);
	ck_assert_int_eq(entries(), 0);
}
END_TEST

START_TEST(temp_removed_on_sigterm)
{
	char path[PATH_MAX];
	int status;

	temp_child(END_SIGTERM, path, sizeof(path), &status);
	/* it died of the signal, as it would have without the cleanup */
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGTERM);
	ck_assert_msg(!exists(path), "'%s' left behind", path);
	ck_assert_int_eq(entries(), 0);
}
END_TEST

START_TEST(temp_done_forgets)
{
	char path[PATH_MAX];
	int status;

	temp_child(END_DONE_EXIT, path, sizeof(path), &status);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	/* after temp_done the file is the caller's business */
	ck_assert(exists(path));
	assert_content(path, "partial");
}
END_TEST

START_TEST(temp_not_removed_by_forked_child)
{
	char path[PATH_MAX];
	pid_t pid;
	int fd = -1, status;

	ck_assert_int_eq(cohort__os_temp_open(&fd, path, sizeof(path),
					      at("target"), 0600, "parent"), 0);
	ck_assert(exists(path));
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		exit(0); /* a child that exits normally: its atexit runs */
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	/* "removed by this process ..., never by another" */
	ck_assert_msg(exists(path), "a forked child removed the parent's '%s'",
		      path);
	cohort__os_close_quiet(fd);
	ck_assert_int_eq(cohort__os_unlink(path), 0);
	cohort__os_temp_done(path);
}
END_TEST

#define TEMP_THREADS 16

struct temp_racer {
	pthread_barrier_t *go;
	int index;
	int rc;
};

static void *temp_thread(void *arg)
{
	struct temp_racer *r = arg;
	char p[PATH_MAX], target[PATH_MAX];
	int fd = -1;

	/* not at(): its buffers are shared */
	int n = snprintf(target, sizeof(target), "%s/target%d", dir, r->index);

	pthread_barrier_wait(r->go);
	r->rc = n > 0 && n < (int)sizeof(target) ?
		cohort__os_temp_open(&fd, p, sizeof(p), target, 0644, "th") :
		-100;
	return NULL;
}

START_TEST(temp_threads_all_removed)
{
	int round;

	/* Threads registering at once must each get their own slot. */
	for (round = 0; round < 40; round++) {
		pid_t pid;
		int status;

		fflush(NULL);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			pthread_barrier_t go;
			pthread_t th[TEMP_THREADS];
			struct temp_racer r[TEMP_THREADS];
			int i;

			pthread_barrier_init(&go, NULL, TEMP_THREADS);
			for (i = 0; i < TEMP_THREADS; i++) {
				r[i].go = &go;
				r[i].index = i;
				if (pthread_create(&th[i], NULL, temp_thread, &r[i]))
					_exit(30);
			}
			for (i = 0; i < TEMP_THREADS; i++) {
				pthread_join(th[i], NULL);
				if (r[i].rc)
					_exit(31);
			}
			if (count_temps() != TEMP_THREADS)
				_exit(32);
			exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status));
		ck_assert_int_eq(WEXITSTATUS(status), 0);
		ck_assert_msg(entries() == 0, "round %d: %d temp files left", round,
			      entries());
	}
}
END_TEST

START_TEST(temp_open_paths)
{
	char path[PATH_MAX], path2[PATH_MAX], small[16];
	int fd = -1, fd2 = -1;
	struct stat st;

	ck_assert_int_eq(cohort__os_temp_open(&fd, path, sizeof(path), at("x"),
					      0600, NULL), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert(cohort__os_is_temp_name(strrchr(path, '/') + 1));
	ck_assert_ptr_nonnull(strstr(path, ".x.tmp.-."));
	/* a buffer too small for the name */
	ck_assert_int_eq(cohort__os_temp_open(&fd2, small, sizeof(small),
					      at("x"), 0600, NULL),
			 COHORT_EINVAL);
	ck_assert_int_eq(cohort__os_temp_open(&fd2, path2, sizeof(path2),
					      at("x"), 0600, "t"), 0);
	ck_assert_str_ne(path, path2);
	/* two temp files for one target do not collide */
	cohort__os_close_quiet(fd);
	cohort__os_close_quiet(fd2);
	ck_assert_int_eq(temps_left(), 2);
	/* an open failure forgets and reports */
	cohort__os_fault_set(COHORT__OP_OPEN, 1, EIO, 0);
	ck_assert_int_eq(cohort__os_temp_open(&fd, path, sizeof(path), at("z"),
					      0600, "t"), COHORT_ERROR);
	ck_assert_int_eq(temps_left(), 2);

	ck_assert(cohort__os_is_temp_name(".journal.tmp.a.12.abcdef"));
	ck_assert(!cohort__os_is_temp_name("journal.tmp.a.12.abcdef"));
	ck_assert(!cohort__os_is_temp_name(".nfs000000001234"));
	ck_assert(!cohort__os_is_temp_name("plain"));
}
END_TEST

/* ---- odds and ends ------------------------------------------------------ */

START_TEST(mount_info_tmp)
{
	char type[64], opts[1024];

	ck_assert_int_eq(cohort__os_mount_info("/tmp", type, sizeof(type), opts,
					       sizeof(opts)), 0);
	ck_assert_str_ne(type, "");
	ck_assert_str_ne(type, "unknown");
	ck_assert_str_ne(type, "?");
	ck_assert_msg(!strncmp(opts, "rw", 2) || !strncmp(opts, "ro", 2),
		      "options '%s'", opts);
	/* a folder below gives the same answer */
	{
		char type2[64], opts2[1024];

		ck_assert_int_eq(cohort__os_mount_info(dir, type2, sizeof(type2),
						       opts2, sizeof(opts2)), 0);
		ck_assert_str_eq(type, type2);
	}
	ck_assert_int_eq(cohort__os_mount_info("/proc", type, sizeof(type), opts,
					       sizeof(opts)), 0);
	ck_assert_str_eq(type, "proc");
	ck_assert_int_eq(cohort__os_mount_info(at("missing"), type, sizeof(type),
					       opts, sizeof(opts)),
			 COHORT_ENOTFOUND);
}
END_TEST

START_TEST(misc_helpers)
{
	unsigned char a[32], b[32];
	int64_t t0, t1;
	pid_t pid;
	int status;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	cohort__os_random(a, sizeof(a));
	cohort__os_random(b, sizeof(b));
	ck_assert(memcmp(a, b, sizeof(a)) != 0);

	t0 = cohort__os_mono_ms();
	cohort__os_sleep_ms(30);
	t1 = cohort__os_mono_ms();
	ck_assert_int_ge(t1 - t0, 30);
	ck_assert_int_lt(t1 - t0, 2000);
	ck_assert_int_gt(cohort__os_wall_ms(), 1500000000000LL);
	cohort__os_sleep_ms(0);
	cohort__os_sleep_ms(-5);

	ck_assert_uint_eq(strlen(cohort__os_boot_id()), 36);
	ck_assert_str_eq(cohort__os_boot_id(), cohort__os_boot_id());
	ck_assert_str_ne(cohort__os_host(), "");

	ck_assert(cohort__os_pid_alive(getpid()));
	ck_assert(cohort__os_pid_alive(1));
	ck_assert(!cohort__os_pid_alive(0));
	ck_assert(!cohort__os_pid_alive(-1));
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(!cohort__os_pid_alive(pid));

	ck_assert_int_eq(cohort__os_code(ENOENT), COHORT_ENOTFOUND);
	ck_assert_int_eq(cohort__os_code(EEXIST), COHORT_EEXISTS);
	ck_assert_int_eq(cohort__os_code(ENOSPC), COHORT_ENOSPACE);
	ck_assert_int_eq(cohort__os_code(EDQUOT), COHORT_ENOSPACE);
	ck_assert_int_eq(cohort__os_code(ESTALE), COHORT_ESTALE);
	ck_assert_int_eq(cohort__os_code(EROFS), COHORT_EREADONLY);
	ck_assert_int_eq(cohort__os_code(EIO), COHORT_ERROR);
	ck_assert(cohort__os_errno_is_cutoff(ENOTCONN));
	ck_assert(cohort__os_errno_is_cutoff(ESTALE));
	ck_assert(cohort__os_errno_is_cutoff(EIO));
	ck_assert(!cohort__os_errno_is_cutoff(ENOENT));
	ck_assert(!cohort__os_errno_is_cutoff(EEXIST));
}
END_TEST

/* ---- permissions of what is created -------------------------------------- */

/* A group to give files: another one than ours where we may (root may
 * give any; others only one of their groups), else our own. */
static gid_t other_group(void)
{
	gid_t list[64];
	int n, i;

	if (geteuid() == 0)
		return getegid() == 1 ? 2 : 1;
	n = getgroups(64, list);
	for (i = 0; i < n; i++)
		if (list[i] != getegid())
			return list[i];
	return getegid();
}

static void assert_perm(const char *path, mode_t mode, gid_t gid)
{
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == mode, "'%s' has mode %04o, not %04o",
		      path, (unsigned)(st.st_mode & 07777), (unsigned)mode);
	ck_assert_msg(st.st_gid == gid, "'%s' has group %lu, not %lu", path,
		      (unsigned long)st.st_gid, (unsigned long)gid);
}

/* What a rename saw at its source: the temp file's group and mode before
 * it got its name. */
static mode_t renamed_mode;
static gid_t renamed_gid;

static int rename_seeing(const char *from, const char *to)
{
	struct stat st;

	if (lstat(from, &st) == 0) {
		renamed_mode = st.st_mode & 07777;
		renamed_gid = st.st_gid;
	}
	return cohort__sys_default.rename(from, to);
}

static int fchown_fails(int fd, uid_t uid, gid_t gid)
{
	(void)fd;
	(void)uid;
	(void)gid;
	calls++;
	if (eintr_left > 0) {
		eintr_left--;
		errno = EINTR;
		return -1;
	}
	if (!inject_errno)
		return cohort__sys_default.fchown(fd, uid, gid);
	errno = inject_errno;
	return -1;
}

static int fchmod_fails(int fd, mode_t mode)
{
	calls++;
	if (eintr_left > 0) {
		eintr_left--;
		errno = EINTR;
		return -1;
	}
	if (!inject_errno)
		return cohort__sys_default.fchmod(fd, mode);
	errno = inject_errno;
	return -1;
}

START_TEST(perm_mode_exact_under_any_umask)
{
	static const mode_t masks[] = { 0, 022, 077, 0777 };
	char tmp[PATH_MAX], name[64];
	size_t i;
	int fd;

	for (i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		umask(masks[i]);
		snprintf(name, sizeof(name), "w%zu", i);
		ck_assert_int_eq(cohort__os_write_atomic(at(name), "x", 1, 0660,
							 "n"), 0);
		assert_perm(at(name), 0660, getegid());
		snprintf(name, sizeof(name), "c%zu", i);
		ck_assert_int_eq(cohort__os_create_exclusive(at(name), "x", 1,
							     0604, "n", 1), 0);
		assert_perm(at(name), 0604, getegid());
		snprintf(name, sizeof(name), "o%zu", i);
		ck_assert_int_eq(cohort__os_open(&fd, at(name), O_RDWR | O_CREAT |
						 O_EXCL, 0640), 0);
		cohort__os_close_quiet(fd);
		assert_perm(at(name), 0640, getegid());
		/* mkdir() drops the set-group-id bit and applies the umask */
		snprintf(name, sizeof(name), "d%zu", i);
		ck_assert_int_eq(cohort__os_mkdir(at(name), 02770), 0);
		assert_perm(at(name), 02770, getegid());
		snprintf(name, sizeof(name), "p%zu/q/r", i);
		ck_assert_int_eq(cohort__os_mkdir_p(at(name), 0750), 0);
		assert_perm(at(name), 0750, getegid());
		snprintf(name, sizeof(name), "p%zu", i);
		assert_perm(at(name), 0750, getegid());
		snprintf(name, sizeof(name), "t%zu", i);
		ck_assert_int_eq(cohort__os_temp_open(&fd, tmp, sizeof(tmp),
						      at(name), 0600, NULL), 0);
		cohort__os_close_quiet(fd);
		assert_perm(tmp, 0600, getegid());
		ck_assert_int_eq(unlink(tmp), 0);
		cohort__os_temp_done(tmp);
	}
	umask(022);
	/* an existing folder keeps its mode: it is not ours to change */
	ck_assert_int_eq(mkdir(at("mine"), 0700), 0);
	ck_assert_int_eq(cohort__os_mkdir(at("mine"), COHORT__PERM(0750, 0)), 0);
	assert_perm(at("mine"), 0700, getegid());
}
END_TEST

START_TEST(perm_group_set_before_the_name)
{
	gid_t g = other_group();
	cohort__perm p = COHORT__PERM(0640, g);
	char tmp[PATH_MAX];
	int fd;

	umask(0);
	cohort__sys.rename = rename_seeing;
	renamed_gid = (gid_t)-1;
	ck_assert_int_eq(cohort__os_write_atomic(at("w"), "x", 1, p, "n"), 0);
	assert_perm(at("w"), 0640, g);
	/* the temp file had them already when it was renamed into place */
	ck_assert_uint_eq(renamed_gid, g);
	ck_assert_uint_eq(renamed_mode, 0640);
	ck_assert_int_eq(cohort__os_create_exclusive(at("c"), "x", 1, p, "n", 0),
			 0);
	assert_perm(at("c"), 0640, g);
	ck_assert_int_eq(cohort__os_open(&fd, at("o"), O_RDWR | O_CREAT | O_EXCL,
					 p), 0);
	cohort__os_close_quiet(fd);
	assert_perm(at("o"), 0640, g);
	ck_assert_int_eq(cohort__os_open(&fd, at("n"), O_RDWR | O_CREAT, p), 0);
	cohort__os_close_quiet(fd);
	assert_perm(at("n"), 0640, g);
	ck_assert_int_eq(cohort__os_mkdir(at("d"), COHORT__PERM(02770, g)), 0);
	assert_perm(at("d"), 02770, g);
	ck_assert_int_eq(cohort__os_mkdir_p(at("a/b"), COHORT__PERM(0750, g)), 0);
	assert_perm(at("a"), 0750, g);
	assert_perm(at("a/b"), 0750, g);
	ck_assert_int_eq(cohort__os_temp_open(&fd, tmp, sizeof(tmp), at("t"), p,
					      "n"), 0);
	cohort__os_close_quiet(fd);
	assert_perm(tmp, 0640, g);
	ck_assert_int_eq(unlink(tmp), 0);
	cohort__os_temp_done(tmp);
	/* a plain mode never calls fchown */
	cohort__sys.fchown = fchown_fails;
	calls = 0;
	ck_assert_int_eq(cohort__os_write_atomic(at("w2"), "x", 1, 0640, "n"), 0);
	ck_assert_int_eq(cohort__os_mkdir(at("d2"), 0750), 0);
	ck_assert_int_eq(calls, 0);
	/* EINTR is retried */
	eintr_left = 2;
	ck_assert_int_eq(cohort__os_write_atomic(at("w3"), "x", 1, p, "n"), 0);
	ck_assert_int_eq(calls, 3);
	assert_perm(at("w3"), 0640, g);
}
END_TEST

/* Every creating call fails whole when fchown or fchmod fails, naming the
 * path, and leaves nothing behind (no temp file, no file, no folder). */
static void perm_failure_leaves_nothing(const char *what)
{
	cohort__perm p = COHORT__PERM(0640, other_group());
	char tmp[PATH_MAX];
	int fd = -1;

	ck_assert_int_eq(cohort__os_write_atomic(at("w"), "x", 1, p, "n"),
			 COHORT_ERROR);
	assert_msg_has(what);
	assert_msg_has(dir);
	ck_assert(!exists(at("w")));
	ck_assert_int_eq(cohort__os_create_exclusive(at("c"), "x", 1, p, "n", 1),
			 COHORT_ERROR);
	assert_msg_has(what);
	ck_assert(!exists(at("c")));
	ck_assert_int_eq(cohort__os_open(&fd, at("o"), O_RDWR | O_CREAT | O_EXCL,
					 p), COHORT_ERROR);
	assert_msg_has(what);
	assert_msg_has(at("o"));
	ck_assert_int_eq(fd, -1);
	ck_assert(!exists(at("o")));
	ck_assert_int_eq(cohort__os_temp_open(&fd, tmp, sizeof(tmp), at("t"), p,
					      "n"), COHORT_ERROR);
	assert_msg_has(what);
	ck_assert_int_eq(cohort__os_mkdir(at("d"), COHORT__PERM(02770,
							       other_group())),
			 COHORT_ERROR);
	assert_msg_has(what);
	assert_msg_has(at("d"));
	/* not left for a later mkdir to take for an existing folder */
	ck_assert(!exists(at("d")));
	ck_assert_int_eq(cohort__os_mkdir_p(at("a/b"), COHORT__PERM(0750,
								   other_group())),
			 COHORT_ERROR);
	ck_assert(!exists(at("a")));
	ck_assert_int_eq(temps_left(), 0);
	ck_assert_int_eq(entries(), 0);
}

START_TEST(perm_chown_refused)
{
	cohort__sys.fchown = fchown_fails;
	inject_errno = EPERM;
	perm_failure_leaves_nothing("the group");
	assert_msg_has("[cluster] group");
	assert_msg_has("ermitted");
}
END_TEST

START_TEST(perm_chmod_refused)
{
	cohort__sys.fchmod = fchmod_fails;
	inject_errno = EIO;
	perm_failure_leaves_nothing("cannot set the mode of");
}
END_TEST

START_TEST(perm_existing_file_of_ours)
{
	gid_t g = other_group();
	cohort__perm p = COHORT__PERM(0660, g);
	int fd;

	/* O_CREAT without O_EXCL on a file of ours: given mode and group */
	put(at("f"), "x");
	ck_assert_int_eq(chmod(at("f"), 0600), 0);
	ck_assert_int_eq(cohort__os_open(&fd, at("f"), O_RDWR | O_CREAT, p), 0);
	cohort__os_close_quiet(fd);
	assert_perm(at("f"), 0660, g);
	/* already right: neither call is made */
	cohort__sys.fchown = fchown_fails;
	cohort__sys.fchmod = fchmod_fails;
	calls = 0;
	ck_assert_int_eq(cohort__os_open(&fd, at("f"), O_RDWR | O_CREAT, p), 0);
	cohort__os_close_quiet(fd);
	ck_assert_int_eq(calls, 0);
	/* a file with a second link (one planted to a file of ours
	 * elsewhere) is left alone */
	put(at("victim"), "v");
	ck_assert_int_eq(chmod(at("victim"), 0600), 0);
	ck_assert_int_eq(link(at("victim"), at("planted")), 0);
	ck_assert_int_eq(cohort__os_open(&fd, at("planted"), O_RDWR | O_CREAT, p),
			 0);
	cohort__os_close_quiet(fd);
	ck_assert_int_eq(calls, 0);
	assert_perm(at("victim"), 0600, getegid());
	/* and a refused chown of a file of ours is an error, not ignored */
	put(at("g"), "x");
	inject_errno = EPERM;
	ck_assert_int_eq(cohort__os_open(&fd, at("g"), O_RDWR | O_CREAT, p),
			 COHORT_ERROR);
	assert_msg_has("[cluster] group");
	/* the file was there before: not ours to remove */
	ck_assert(exists(at("g")));
}
END_TEST

START_TEST(opendir_refuses_a_link)
{
	DIR *d;

	ck_assert_int_eq(mkdir(at("d"), 0750), 0);
	put(at("d/f"), "x");
	d = cohort__os_opendir(at("d"));
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(fcntl(dirfd(d), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	closedir(d);
	/* a link to a folder, planted where a folder should be */
	ck_assert_int_eq(symlink(at("d"), at("l")), 0);
	errno = 0;
	ck_assert_ptr_null(cohort__os_opendir(at("l")));
	ck_assert(errno == ELOOP || errno == ENOTDIR);
	errno = 0;
	ck_assert_ptr_null(cohort__os_opendir(at("missing")));
	ck_assert_int_eq(errno, ENOENT);
	errno = 0;
	ck_assert_ptr_null(cohort__os_opendir(at("d/f")));
	ck_assert_int_eq(errno, ENOTDIR);
	/* EINTR is retried */
	cohort__sys.open = open_eintr;
	eintr_left = 2;
	d = cohort__os_opendir(at("d"));
	ck_assert_ptr_nonnull(d);
	closedir(d);
}
END_TEST

/* ---- confinement: no link followed below a confined folder ---------------- */

static int openat2_calls;

static int openat2_enosys(int dirfd, const char *path, void *how, size_t size)
{
	(void)dirfd;
	(void)path;
	(void)how;
	(void)size;
	openat2_calls++;
	errno = ENOSYS;
	return -1;
}

/* A seccomp filter that does not know openat2 (Docker before 20.10). */
static int openat2_eperm(int dirfd, const char *path, void *how, size_t size)
{
	(void)dirfd;
	(void)path;
	(void)how;
	(void)size;
	openat2_calls++;
	errno = EPERM;
	return -1;
}

/* A failure of a call through a planted link: ELOOP (or EXDEV). */
#define ck_refused(expr)                                                     \
	do {                                                                 \
		errno = 0;                                                   \
		ck_assert_int_ne((expr), 0);                                 \
		ck_assert_msg(errno == ELOOP || errno == EXDEV,              \
			      "%s: errno %d (%s)", #expr, errno,             \
			      strerror(errno));                              \
	} while (0)

/*
 * ROOT (confined) with ROOT/nodes, ROOT/x (a file) and the victim folder
 * VICTIM outside it holding 'f' ("victim") and an empty 'sub'.
 */
static void plant_setup(const char *root, const char *victim)
{
	char p[PATH_MAX];

	ck_assert_int_eq(mkdir(root, 0750), 0);
	snprintf(p, sizeof(p), "%s/nodes", root);
	ck_assert_int_eq(mkdir(p, 0750), 0);
	snprintf(p, sizeof(p), "%s/x", root);
	put(p, "x");
	ck_assert_int_eq(mkdir(victim, 0750), 0);
	snprintf(p, sizeof(p), "%s/f", victim);
	put(p, "victim");
	snprintf(p, sizeof(p), "%s/sub", victim);
	ck_assert_int_eq(mkdir(p, 0750), 0);
}

/* VICTIM holds exactly 'f' ("victim", one link) and an empty 'sub'. */
static void victim_intact(const char *victim)
{
	char p[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int n = 0;

	d = opendir(victim);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ck_assert_msg(!strcmp(de->d_name, "f") ||
			      !strcmp(de->d_name, "sub"),
			      "'%s' appeared in the victim folder", de->d_name);
		n++;
	}
	closedir(d);
	ck_assert_int_eq(n, 2);
	snprintf(p, sizeof(p), "%s/f", victim);
	assert_content(p, "victim");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_nlink, 1);
	snprintf(p, sizeof(p), "%s/sub", victim);
	ck_assert_int_eq(rmdir(p), 0); /* empty */
	ck_assert_int_eq(mkdir(p, 0750), 0);
}

/* Every wrapper through the link 'via' (a folder path below a confined
 * root whose last folder is a planted link to the victim). */
static void all_refused(const char *root, const char *via)
{
	char f[PATH_MAX], nw[PATH_MAX], sub[PATH_MAX], x[PATH_MAX];
	struct cohort__stat st;
	int fd = -1;

	snprintf(f, sizeof(f), "%s/f", via);
	snprintf(nw, sizeof(nw), "%s/new", via);
	snprintf(sub, sizeof(sub), "%s/sub", via);
	snprintf(x, sizeof(x), "%s/x", root);

	ck_refused(cohort__os_open(&fd, f, O_RDONLY, 0));
	assert_msg_has("cannot open '");
	assert_msg_has("Too many levels of symbolic links");
	ck_refused(cohort__os_open(&fd, f, O_RDONLY | O_NOFOLLOW, 0));
	ck_refused(cohort__os_open(&fd, f, O_WRONLY | O_TRUNC, 0));
	ck_refused(cohort__os_open(&fd, nw, O_WRONLY | O_CREAT, 0640));
	ck_refused(cohort__os_open(&fd, nw, O_WRONLY | O_CREAT | O_EXCL |
					    O_NOFOLLOW, 0640));
	ck_refused(cohort__os_write_atomic(f, "evil", 4, 0640, "t"));
	ck_refused(cohort__os_write_atomic(nw, "evil", 4, 0640, "t"));
	ck_refused(cohort__os_create_exclusive(nw, "evil", 4, 0640, "t", 1));
	ck_refused(cohort__os_rename(x, f));
	assert_msg_has("cannot rename '");
	ck_refused(cohort__os_rename(f, x));
	ck_refused(cohort__os_link(x, nw));
	ck_refused(cohort__os_link(f, x));
	ck_refused(cohort__os_unlink(f));
	assert_msg_has("Too many levels of symbolic links");
	ck_refused(cohort__os_rmdir(sub));
	ck_refused(cohort__os_mkdir(nw, 0750));
	ck_refused(cohort__os_mkdir_p(nw, 0750));
	ck_refused(cohort__os_stat(&st, f, 0));
	ck_refused(cohort__os_stat(&st, f, 1));
	ck_refused(cohort__os_fsync_dir(sub));
	errno = 0;
	ck_assert_ptr_null(cohort__os_opendir(sub));
	ck_assert_int_eq(errno, ELOOP);
	{
		char *text = NULL;
		size_t len;

		ck_refused(cohort__os_read_file(&text, &len, f, 100));
		ck_assert_ptr_null(text);
	}
	{
		char *got = get(x);

		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, "x");
		free(got);
	}
}

START_TEST(confine_middle_link_refused)
{
	char root[PATH_MAX], victim[PATH_MAX];
	const char *l, *deep;

	snprintf(root, sizeof(root), "%s", at("root"));
	snprintf(victim, sizeof(victim), "%s", at("victim"));
	plant_setup(root, victim);
	ck_assert_int_eq(cohort__os_confine(root), 0);
	ck_assert_int_eq(cohort__os_confine(root), 0); /* idempotent */
	ck_assert(cohort__os_confined(at("root/nodes")));
	ck_assert(!cohort__os_confined(root));
	ck_assert(!cohort__os_confined(at("root2/x")));
	ck_assert(!cohort__os_confined(at("victim/f")));

	/* ROOT/nodes/b -> VICTIM: nodes/ID planted */
	l = at("root/nodes/b");
	ck_assert_int_eq(symlink(victim, l), 0);
	all_refused(root, l);
	victim_intact(victim);

	/* a first-level folder (ROOT/journal) and a relative link */
	l = at("root/journal");
	ck_assert_int_eq(symlink("../victim", l), 0);
	all_refused(root, l);
	victim_intact(victim);

	/* deeper: ROOT/nodes/c/d/e -> VICTIM, and a link in the middle of
	 * the middle (ROOT/nodes/m -> ROOT/nodes/c: inside the root, still
	 * a link) */
	deep = at("root/nodes/c/d");
	ck_assert_int_eq(cohort__os_mkdir_p(deep, 0750), 0);
	l = at("root/nodes/c/d/e");
	ck_assert_int_eq(symlink(victim, l), 0);
	all_refused(root, l);
	l = at("root/nodes/m");
	ck_assert_int_eq(symlink(at("root/nodes/c"), l), 0);
	l = at("root/nodes/m/d");
	all_refused(root, l);
	victim_intact(victim);

	/* a trailing slash on the confined folder's name changes nothing */
	ck_assert_int_eq(cohort__os_confine(at("root2/")), 0);
	ck_assert(cohort__os_confined(at("root2/a")));
}
END_TEST

START_TEST(confine_normal_paths_work)
{
	char root[PATH_MAX], victim[PATH_MAX];
	struct cohort__stat st;
	int fd = -1;
	DIR *d;

	snprintf(root, sizeof(root), "%s", at("root"));
	snprintf(victim, sizeof(victim), "%s", at("victim"));
	plant_setup(root, victim);
	ck_assert_int_eq(cohort__os_confine(root), 0);
	ck_assert_int_eq(cohort__os_mkdir_p(at("root/nodes/a/b"), 0750), 0);
	ck_assert_int_eq(cohort__os_write_atomic(at("root/nodes/a/b/f"), "1", 1,
						 0640, "t"), 0);
	assert_content(at("root/nodes/a/b/f"), "1");
	ck_assert_int_eq(cohort__os_create_exclusive(at("root/nodes/a/e"), "2",
						     1, 0640, "t", 1), 0);
	ck_assert_int_eq(cohort__os_create_exclusive(at("root/nodes/a/e"), "3",
						     1, 0640, "t", 1),
			 COHORT_EEXISTS);
	ck_assert_int_eq(cohort__os_rename(at("root/nodes/a/e"),
					   at("root/nodes/e")), 0);
	ck_assert_int_eq(cohort__os_link(at("root/nodes/e"),
					 at("root/nodes/a/e2")), 0);
	ck_assert_int_eq(cohort__os_stat(&st, at("root/nodes/a/e2"), 1), 0);
	ck_assert_uint_eq(st.nlink, 2);
	ck_assert_int_eq(cohort__os_unlink(at("root/nodes/a/e2")), 0);
	ck_assert_int_eq(cohort__os_unlink(at("root/nodes/a/e2")),
			 COHORT_ENOTFOUND);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(cohort__os_stat(&st, at("root/nodes/zz/y"), 0),
			 COHORT_ENOTFOUND);
	ck_assert_int_eq(cohort__os_open(&fd, at("root/nodes/zz/y"), O_RDONLY, 0),
			 COHORT_ENOTFOUND);
	ck_assert_int_eq(cohort__os_mkdir(at("root/nodes/zz/y"), 0750),
			 COHORT_ENOTFOUND);
	ck_assert_int_eq(cohort__os_rmdir(at("root/nodes/a/b")), COHORT_ERROR);
	ck_assert_int_eq(errno, ENOTEMPTY);
	d = cohort__os_opendir(at("root/nodes/a/b"));
	ck_assert_ptr_nonnull(d);
	closedir(d);
	ck_assert_int_eq(cohort__os_fsync_dir(at("root/nodes/a/b")), 0);
	/* the last component keeps its semantics: a link to a file is
	 * followed unless O_NOFOLLOW, replaced (not followed) by a rename */
	ck_assert_int_eq(symlink("../x", at("root/nodes/lx")), 0);
	fd = open_ro(at("root/nodes/lx"));
	close(fd);
	ck_assert_int_eq(cohort__os_stat(&st, at("root/nodes/lx"), 0), 0);
	ck_assert(S_ISREG(st.mode));
	ck_assert_int_eq(cohort__os_stat(&st, at("root/nodes/lx"), 1), 0);
	ck_assert(S_ISLNK(st.mode));
	ck_refused(cohort__os_open(&fd, at("root/nodes/lx"),
				   O_RDONLY | O_NOFOLLOW, 0));
	ck_assert_int_eq(cohort__os_write_atomic(at("root/nodes/lx"), "r", 1,
						 0640, "t"), 0);
	assert_content(at("root/nodes/lx"), "r");
	assert_content(at("root/x"), "x");
	/* a folder planted as a link: mkdir says so */
	ck_assert_int_eq(symlink(victim, at("root/nodes/v")), 0);
	ck_refused(cohort__os_mkdir(at("root/nodes/v"), 0750));
	assert_msg_has("Too many levels of symbolic links");
	/* unlink of the link itself removes the link, not the folder */
	ck_assert_int_eq(cohort__os_unlink(at("root/nodes/v")), 0);
	victim_intact(victim);
	/* ".." below the root cannot leave it */
	ck_refused(cohort__os_open(&fd, at("root/nodes/../../victim/f"),
				   O_RDONLY, 0));
	ck_refused(cohort__os_unlink(at("root/nodes/../../victim/f")));
	victim_intact(victim);
}
END_TEST

START_TEST(confine_prefix_may_be_a_link)
{
	char p[PATH_MAX];
	struct cohort__stat st;
	int fd = -1;

	/* /mnt/shared -> /srv/x: the folder given is resolved normally */
	ck_assert_int_eq(mkdir(at("real"), 0750), 0);
	ck_assert_int_eq(mkdir(at("real/nodes"), 0750), 0);
	ck_assert_int_eq(symlink(at("real"), at("alias")), 0);
	ck_assert_int_eq(mkdir(at("victim"), 0750), 0);
	ck_assert_int_eq(cohort__os_confine(at("alias")), 0);
	ck_assert_int_eq(cohort__os_mkdir(at("alias/nodes/a"), 0750), 0);
	ck_assert_int_eq(cohort__os_write_atomic(at("alias/nodes/a/f"), "1", 1,
						 0640, "t"), 0);
	assert_content(at("real/nodes/a/f"), "1");
	fd = open_ro(at("alias/nodes/a/f"));
	close(fd);
	ck_assert_int_eq(cohort__os_stat(&st, at("alias/nodes/a/f"), 1), 0);
	ck_assert_int_eq(cohort__os_rename(at("alias/nodes/a/f"),
					   at("alias/nodes/g")), 0);
	ck_assert_int_eq(cohort__os_unlink(at("alias/nodes/g")), 0);
	ck_assert_int_eq(cohort__os_rmdir(at("alias/nodes/a")), 0);
	/* ... but a link below it is not */
	ck_assert_int_eq(symlink(at("victim"), at("real/nodes/b")), 0);
	snprintf(p, sizeof(p), "%s", at("alias/nodes/b/f"));
	ck_refused(cohort__os_write_atomic(p, "evil", 4, 0640, "t"));
	ck_assert(!exists(at("victim/f")));
	/* the prefix's own link changed (a remount elsewhere): followed
	 * anew on the next call */
	ck_assert_int_eq(unlink(at("alias")), 0);
	ck_assert_int_eq(mkdir(at("real2"), 0750), 0);
	ck_assert_int_eq(mkdir(at("real2/nodes"), 0750), 0);
	ck_assert_int_eq(symlink(at("real2"), at("alias")), 0);
	ck_assert_int_eq(cohort__os_write_atomic(at("alias/nodes/h"), "2", 1,
						 0640, "t"), 0);
	assert_content(at("real2/nodes/h"), "2");
}
END_TEST

START_TEST(unconfined_paths_follow_links)
{
	struct cohort__stat st;
	int fd = -1;
	DIR *d;

	/* package files, a materialize target, /proc: as before */
	ck_assert(!cohort__os_confined(at("link/f")));
	ck_assert_int_eq(mkdir(at("real"), 0750), 0);
	ck_assert_int_eq(symlink(at("real"), at("link")), 0);
	ck_assert_int_eq(cohort__os_write_atomic(at("link/f"), "1", 1, 0640,
						 "t"), 0);
	assert_content(at("real/f"), "1");
	fd = open_ro(at("link/f"));
	close(fd);
	ck_assert_int_eq(cohort__os_stat(&st, at("link/f"), 1), 0);
	ck_assert_int_eq(cohort__os_mkdir(at("link/d"), 0750), 0);
	d = cohort__os_opendir(at("link/d"));
	ck_assert_ptr_nonnull(d);
	closedir(d);
	ck_assert_int_eq(cohort__os_rmdir(at("link/d")), 0);
	ck_assert_int_eq(cohort__os_link(at("link/f"), at("link/g")), 0);
	ck_assert_int_eq(cohort__os_rename(at("link/g"), at("link/h")), 0);
	ck_assert_int_eq(cohort__os_unlink(at("link/h")), 0);
	ck_assert_int_eq(cohort__os_open(&fd, "/proc/self/status", O_RDONLY,
					 0), 0);
	close(fd);
	/* a sibling whose name starts like a confined folder's */
	ck_assert_int_eq(cohort__os_confine(at("real")), 0);
	ck_assert_int_eq(mkdir(at("realx"), 0750), 0);
	ck_assert_int_eq(symlink(at("real"), at("realx/l")), 0);
	ck_assert_int_eq(cohort__os_write_atomic(at("realx/l/f2"), "2", 1,
						 0640, "t"), 0);
	assert_content(at("real/f2"), "2");
}
END_TEST

/* The same without openat2 (kernels before 5.6): the walk. */
START_TEST(confine_without_openat2)
{
	char root[PATH_MAX], victim[PATH_MAX];
	const char *l;
	struct cohort__stat st;
	int fd = -1;

	snprintf(root, sizeof(root), "%s", at("root"));
	snprintf(victim, sizeof(victim), "%s", at("victim"));
	plant_setup(root, victim);
	ck_assert_int_eq(cohort__os_confine(root), 0);
	cohort__os_openat2 = openat2_enosys;
	openat2_calls = 0;
	l = at("root/nodes/b");
	ck_assert_int_eq(symlink(victim, l), 0);
	all_refused(root, l);
	victim_intact(victim);
	/* asked once, then remembered */
	ck_assert_int_eq(openat2_calls, 1);
	l = at("root/nodes/c/d");
	ck_assert_int_eq(cohort__os_mkdir_p(l, 0750), 0);
	ck_assert_int_eq(symlink(victim, at("root/nodes/c/d/e")), 0);
	all_refused(root, at("root/nodes/c/d/e"));
	victim_intact(victim);
	/* what is normal works */
	ck_assert_int_eq(cohort__os_write_atomic(at("root/nodes/c/d/f"), "1", 1,
						 0640, "t"), 0);
	assert_content(at("root/nodes/c/d/f"), "1");
	ck_assert_int_eq(cohort__os_create_exclusive(at("root/nodes/c/g"), "2",
						     1, 0640, "t", 1), 0);
	ck_assert_int_eq(cohort__os_rename(at("root/nodes/c/g"),
					   at("root/nodes/c/d/h")), 0);
	ck_assert_int_eq(cohort__os_stat(&st, at("root/nodes/c/d/h"), 1), 0);
	ck_assert_int_eq(cohort__os_unlink(at("root/nodes/c/d/h")), 0);
	ck_assert_int_eq(cohort__os_open(&fd, at("root/nodes/c/./d/f"),
					 O_RDONLY | O_NOFOLLOW, 0), 0);
	close(fd);
	ck_assert_int_eq(cohort__os_open(&fd, at("root/nodes/zz/f"), O_RDONLY,
					 0), COHORT_ENOTFOUND);
	ck_refused(cohort__os_open(&fd, at("root/nodes/../../victim/f"),
				   O_RDONLY, 0));
	ck_assert_int_eq(openat2_calls, 1);

	/* EPERM from a seccomp filter that does not know openat2 */
	cohort__os_openat2 = openat2_eperm;
	openat2_calls = 0;
	all_refused(root, at("root/nodes/b"));
	victim_intact(victim);
	ck_assert_int_eq(openat2_calls, 2); /* the call, and the probe */
	ck_assert_int_eq(cohort__os_write_atomic(at("root/nodes/c/d/f"), "3", 1,
						 0640, "t"), 0);
	assert_content(at("root/nodes/c/d/f"), "3");
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *os_suite(void)
{
	Suite *s = suite_create("os");
	TCase *tc;

	tc = tcase(s, "fault");
	tcase_add_test(tc, fault_parse_accepts_spec);
	tcase_add_test(tc, fault_parse_rejects_garbage);
	tcase_add_test(tc, fault_every_name);
	tcase_add_test(tc, fault_set_counts_from_now);
	tcase_add_test(tc, fault_kill);
	tcase_add_test(tc, fault_from_environment);

	tc = tcase(s, "open_close");
	tcase_add_test(tc, open_success_cloexec);
	tcase_add_test(tc, open_eintr_retried);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, close_errors_reported);
	tcase_add_test(tc, close_eintr_is_success);
	tcase_add_test(tc, close_quiet_keeps_errno);

	tc = tcase(s, "read_write");
	tcase_add_test(tc, read_success_and_eof);
	tcase_add_test(tc, read_eintr_retried);
	tcase_add_test(tc, read_short_completed);
	tcase_add_test(tc, read_errors);
	tcase_add_test(tc, write_success_and_positional);
	tcase_add_test(tc, write_eintr_retried);
	tcase_add_test(tc, write_short_completed);
	tcase_add_test(tc, write_zero_is_enospace);
	tcase_add_test(tc, write_nospace_errors);

	tc = tcase(s, "sync");
	tcase_add_test(tc, fsync_success_and_eintr);
	tcase_add_test(tc, fsync_errors_reported);
	tcase_add_test(tc, fsync_dir_tolerates_einval);
	tcase_add_test(tc, ftruncate_paths);

	tc = tcase(s, "names");
	tcase_add_test(tc, rename_success);
	tcase_add_test(tc, rename_eintr_retried);
	tcase_add_test(tc, rename_lie_is_success);
	tcase_add_test(tc, rename_failure_names_both);
	tcase_add_test(tc, link_success_and_eintr);
	tcase_add_test(tc, link_lie_is_success);
	tcase_add_test(tc, link_failures);
	tcase_add_test(tc, unlink_paths);
	tcase_add_test(tc, rmdir_paths);
	tcase_add_test(tc, mkdir_paths);
	tcase_add_test(tc, mkdir_p_paths);
	tcase_add_test(tc, stat_paths);

	tc = tcase(s, "locks");
	tcase_add_test(tc, lock_ofd_conflicts);
	tcase_add_test(tc, lock_ofd_survives_other_close);
	tcase_add_test(tc, lock_eintr_and_errors);

	tc = tcase(s, "read_file");
	tcase_add_test(tc, read_file_success);
	tcase_add_test(tc, read_file_estale_once);
	tcase_add_test(tc, read_file_estale_always);
	tcase_add_test(tc, read_file_too_large);
	tcase_add_test(tc, read_file_size_not_trusted);
	tcase_add_test(tc, read_file_refuses_symlink);

	tc = tcase(s, "write_atomic");
	tcase_add_test(tc, write_atomic_success);
	tcase_add_test(tc, write_atomic_temp_name);
	tcase_add_test(tc, write_atomic_fail_open);
	tcase_add_test(tc, write_atomic_fail_write);
	tcase_add_test(tc, write_atomic_fail_fsync);
	tcase_add_test(tc, write_atomic_fail_close);
	tcase_add_test(tc, write_atomic_fail_rename);
	tcase_add_test(tc, write_atomic_dir_fsync_refused);
	tcase_add_test(tc, write_atomic_rename_lie);
	tcase_add_test(tc, write_atomic_short_writes);

	tc = tcase(s, "create_exclusive");
	tcase_add_test(tc, create_exclusive_success);
	tcase_add_test(tc, create_exclusive_exists);
	tcase_add_test(tc, create_exclusive_failures);
	tcase_add_test(tc, create_exclusive_link_lie);
	tcase_add_test(tc, create_exclusive_thread_race);
	tcase_add_test(tc, create_exclusive_process_race);

	tc = tcase(s, "temps");
	tcase_add_test(tc, temp_removed_at_exit);
	tcase_add_test(tc, temp_removed_on_sigterm);
	tcase_add_test(tc, temp_done_forgets);
	tcase_add_test(tc, temp_not_removed_by_forked_child);
	tcase_add_test(tc, temp_threads_all_removed);
	tcase_add_test(tc, temp_open_paths);

	tc = tcase(s, "perms");
	tcase_add_test(tc, perm_mode_exact_under_any_umask);
	tcase_add_test(tc, perm_group_set_before_the_name);
	tcase_add_test(tc, perm_chown_refused);
	tcase_add_test(tc, perm_chmod_refused);
	tcase_add_test(tc, perm_existing_file_of_ours);
	tcase_add_test(tc, opendir_refuses_a_link);

	tc = tcase(s, "confine");
	tcase_add_test(tc, confine_middle_link_refused);
	tcase_add_test(tc, confine_normal_paths_work);
	tcase_add_test(tc, confine_prefix_may_be_a_link);
	tcase_add_test(tc, unconfined_paths_follow_links);
	tcase_add_test(tc, confine_without_openat2);

	tc = tcase(s, "misc");
	tcase_add_test(tc, mount_info_tmp);
	tcase_add_test(tc, misc_helpers);
	return s;
}

/* The run's folder: /tmp/cohort-test-os-XXXXXX. */
int main(int argc, char **argv)
{
	int failed;

	if (argc == 3 && !strcmp(argv[1], "--fault-env-child"))
		return fault_env_child(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "--temp-child"))
		return temp_child_main(argv[2], argv[3], argv[4]);
	if (make_run_dir(run_dir, sizeof(run_dir), "os"))
		return 1;
	failed = run_suite(os_suite());
	rm_rf(run_dir);
	return failed ? 1 : 0;
}
