/*
 * os.c - system call wrappers, the syscall table and the fault injector.
 *
 * Frank notes on what the calls really do on shared mounts are in NFS.md
 * (shared/) and NOTES.md; the short version: close() and fsync() report
 * write errors late, rename() and link() can report failure after they
 * succeeded, old handles go stale, and directory fsync may be refused.
 */
#include "os.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../error.h"

/* ---- the table ---------------------------------------------------------- */

static int sys_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

static int sys_statx(int dirfd, const char *path, int flags,
		     unsigned int mask, struct statx *st)
{
	return statx(dirfd, path, flags, mask, st);
}

static int sys_fcntl_lock(int fd, int cmd, struct flock *fl)
{
	return fcntl(fd, cmd, fl);
}

static int sys_ftruncate(int fd, off_t len)
{
	return ftruncate(fd, len);
}

const struct cohort__syscalls cohort__sys_default = {
	.open = sys_open,
	.close = close,
	.read = read,
	.pread = pread,
	.write = write,
	.pwrite = pwrite,
	.fsync = fsync,
	.fdatasync = fdatasync,
	.rename = rename,
	.link = link,
	.unlink = unlink,
	.mkdir = mkdir,
	.rmdir = rmdir,
	.statx = sys_statx,
	.fcntl_lock = sys_fcntl_lock,
	.flock = flock,
	.ftruncate = sys_ftruncate,
};

struct cohort__syscalls cohort__sys = {
	.open = sys_open,
	.close = close,
	.read = read,
	.pread = pread,
	.write = write,
	.pwrite = pwrite,
	.fsync = fsync,
	.fdatasync = fdatasync,
	.rename = rename,
	.link = link,
	.unlink = unlink,
	.mkdir = mkdir,
	.rmdir = rmdir,
	.statx = sys_statx,
	.fcntl_lock = sys_fcntl_lock,
	.flock = flock,
	.ftruncate = sys_ftruncate,
};

/* ---- fault injection ---------------------------------------------------- */

#define FAULTS_MAX 16

struct fault {
	int op;
	unsigned long nth;
	int what;
	int sticky;
};

static struct fault faults[FAULTS_MAX];
static unsigned int nfaults;
static unsigned long calls[COHORT__OP_COUNT];
static int env_loaded;

static const char *op_names[COHORT__OP_COUNT] = {
	"open", "close", "read", "write", "fsync", "rename", "link",
	"unlink", "mkdir", "rmdir", "stat", "lock", "truncate",
};

const char *cohort__os_op_name(enum cohort__os_op op)
{
	return (unsigned)op < COHORT__OP_COUNT ? op_names[op] : "?";
}

void cohort__os_fault_set(enum cohort__os_op op, unsigned long nth, int what,
			  int sticky)
{
	if (nfaults >= FAULTS_MAX || (unsigned)op >= COHORT__OP_COUNT)
		return;
	faults[nfaults].op = (int)op;
	faults[nfaults].nth = __atomic_load_n(&calls[op], __ATOMIC_SEQ_CST) + nth;
	faults[nfaults].what = what;
	faults[nfaults].sticky = sticky;
	nfaults++;
}

void cohort__os_fault_clear(void)
{
	unsigned int i;

	nfaults = 0;
	for (i = 0; i < COHORT__OP_COUNT; i++)
		__atomic_store_n(&calls[i], 0, __ATOMIC_SEQ_CST);
	env_loaded = 1;
}

unsigned long cohort__os_fault_count(enum cohort__os_op op)
{
	return (unsigned)op < COHORT__OP_COUNT ?
		__atomic_load_n(&calls[op], __ATOMIC_SEQ_CST) : 0;
}

static const struct {
	const char *name;
	int what;
} fault_names[] = {
	{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
	{ "ESTALE", ESTALE }, { "EINTR", EINTR }, { "ENOTCONN", ENOTCONN },
	{ "EACCES", EACCES }, { "EROFS", EROFS },
	{ "short", COHORT__FAULT_SHORT }, { "lie", COHORT__FAULT_LIE },
	{ "kill", COHORT__FAULT_KILL },
};

int cohort__os_fault_parse(const char *spec)
{
	char buf[512], *save = NULL, *item;
	struct fault parsed[FAULTS_MAX];
	unsigned int nparsed = 0, i;

	if (strlen(spec) >= sizeof(buf))
		return cohort__error(COHORT_EINVAL, "fault spec too long");
	strcpy(buf, spec);
	/* Parse all of it before arming any: a bad spec arms nothing. */
	for (item = strtok_r(buf, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *c1 = strchr(item, ':'), *c2, *end;
		unsigned long nth;
		int op = -1, what = 0, sticky = 0, found = 0;

		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			goto bad;
		*c1 = *c2 = '\0';
		for (i = 0; i < COHORT__OP_COUNT; i++)
			if (!strcmp(item, op_names[i]))
				op = (int)i;
		/* strtoul alone would take " 1" and "-1" (as ULONG_MAX) */
		if (!isdigit((unsigned char)c1[1]))
			goto bad;
		errno = 0;
		nth = strtoul(c1 + 1, &end, 10);
		if (*end == '+') {
			sticky = 1;
			end++;
		}
		if (op < 0 || errno || *end || nth == 0 || nparsed >= FAULTS_MAX)
			goto bad;
		for (i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
			if (!strcmp(c2 + 1, fault_names[i].name)) {
				what = fault_names[i].what;
				found = 1;
			}
		if (!found)
			goto bad;
		parsed[nparsed].op = op;
		parsed[nparsed].nth = nth;
		parsed[nparsed].what = what;
		parsed[nparsed].sticky = sticky;
		nparsed++;
	}
	for (i = 0; i < nparsed; i++)
		cohort__os_fault_set((enum cohort__os_op)parsed[i].op,
				     parsed[i].nth, parsed[i].what,
				     parsed[i].sticky);
	return 0;
bad:
	return cohort__error(COHORT_EINVAL, "bad fault spec '%s'", spec);
}

/*
 * COHORT_FAULT_COUNTS=FILE: at exit, write "OP N" per operation to FILE, the
 * calls this process made; the crash sweep (tests/crash) runs a command once
 * this way to learn its crash points.  Written with stdio, not counted.
 */
static const char *counts_path;
static pid_t counts_pid;

static void counts_write(void)
{
	FILE *f;
	unsigned int i;

	if (!counts_path || getpid() != counts_pid)
		return;
	f = fopen(counts_path, "we");
	if (!f)
		return;
	for (i = 0; i < COHORT__OP_COUNT; i++)
		fprintf(f, "%s %lu\n", op_names[i],
			__atomic_load_n(&calls[i], __ATOMIC_SEQ_CST));
	fclose(f);
}

/*
 * Count a call of 'op'; return 0 to go ahead, or the fault to inject.
 * COHORT_FAULT and COHORT_FAULT_COUNTS are read at the first call (tests
 * and the crash sweep drive whole tools through them).
 */
static int fault_hit(enum cohort__os_op op)
{
	unsigned long n;
	unsigned int i;

	if (!env_loaded) {
		const char *spec = getenv("COHORT_FAULT");
		const char *cpath = getenv("COHORT_FAULT_COUNTS");

		env_loaded = 1;
		if (spec && *spec)
			(void)cohort__os_fault_parse(spec);
		if (cpath && *cpath) {
			counts_path = cpath;
			counts_pid = getpid();
			atexit(counts_write);
		}
	}
	n = __atomic_add_fetch(&calls[op], 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < nfaults; i++) {
		if (faults[i].op != (int)op)
			continue;
		if (n == faults[i].nth || (faults[i].sticky && n > faults[i].nth)) {
			if (faults[i].what == COHORT__FAULT_KILL)
				raise(SIGKILL);
			return faults[i].what;
		}
	}
	return 0;
}

/* ---- error mapping ------------------------------------------------------ */

int cohort__os_code(int e)
{
	switch (e) {
	case ENOENT: return COHORT_ENOTFOUND;
	case EEXIST: return COHORT_EEXISTS;
	case ENOSPC:
	case EDQUOT: return COHORT_ENOSPACE;
	case ESTALE: return COHORT_ESTALE;
	case EROFS: return COHORT_EREADONLY;
	case EAGAIN:
	case EACCES: return COHORT_ERROR;
	default: return COHORT_ERROR;
	}
}

int cohort__os_errno_is_cutoff(int e)
{
	return e == ENOTCONN || e == EIO || e == ESTALE || e == ETIMEDOUT ||
	       e == EHOSTDOWN || e == EHOSTUNREACH || e == ENODEV;
}

static int fail(int e, const char *what, const char *path)
{
	errno = e;
	return cohort__error_sys(cohort__os_code(e), e, "cannot %s '%s'", what,
				 path ? path : "?");
}

/* ---- descriptors -------------------------------------------------------- */

int cohort__os_open(int *fd, const char *path, int flags, mode_t mode)
{
	int f, r;

	for (;;) {
		if ((f = fault_hit(COHORT__OP_OPEN)) > 0) {
			if (f == EINTR)
				continue;
			return fail(f, "open", path);
		}
		r = cohort__sys.open(path, flags | O_CLOEXEC, mode);
		if (r >= 0)
			break;
		if (errno != EINTR)
			return fail(errno, "open", path);
	}
	*fd = r;
	return 0;
}

int cohort__os_close(int fd, const char *path)
{
	int f;

	if ((f = fault_hit(COHORT__OP_CLOSE)) > 0 && f != EINTR) {
		cohort__sys.close(fd);
		return fail(f, "close", path);
	}
	/* Linux frees the descriptor even when close() fails: never retry. */
	if (cohort__sys.close(fd) < 0 && errno != EINTR)
		return fail(errno, "close", path);
	return 0;
}

void cohort__os_close_quiet(int fd)
{
	int saved = errno;

	if (fd >= 0)
		(void)cohort__sys.close(fd);
	errno = saved;
}

static int read_loop(int fd, void *buf, size_t n, uint64_t off, int positional,
		     size_t *got, const char *path)
{
	size_t done = 0;

	while (done < n) {
		size_t want = n - done;
		ssize_t r;
		int f = fault_hit(COHORT__OP_READ);

		if (f == EINTR)
			continue;
		if (f > 0)
			return fail(f, "read", path);
		if (f == COHORT__FAULT_SHORT && want > 1)
			want /= 2;
		r = positional ?
			cohort__sys.pread(fd, (char *)buf + done, want,
					  (off_t)(off + done)) :
			cohort__sys.read(fd, (char *)buf + done, want);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return fail(errno, "read", path);
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return 0;
}

int cohort__os_read_full(int fd, void *buf, size_t n, size_t *got,
			 const char *path)
{
	return read_loop(fd, buf, n, 0, 0, got, path);
}

int cohort__os_pread_full(int fd, void *buf, size_t n, uint64_t off,
			  size_t *got, const char *path)
{
	return read_loop(fd, buf, n, off, 1, got, path);
}

static int write_loop(int fd, const void *buf, size_t n, uint64_t off,
		      int positional, const char *path)
{
	size_t done = 0;

	while (done < n) {
		size_t want = n - done;
		ssize_t r;
		int f = fault_hit(COHORT__OP_WRITE);

		if (f == EINTR)
			continue;
		if (f > 0)
			return fail(f, "write", path);
		if (f == COHORT__FAULT_SHORT && want > 1)
			want /= 2;
		r = positional ?
			cohort__sys.pwrite(fd, (const char *)buf + done, want,
					   (off_t)(off + done)) :
			cohort__sys.write(fd, (const char *)buf + done, want);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return fail(errno, "write", path);
		}
		if (r == 0) /* no progress: the device is full */
			return fail(ENOSPC, "write", path);
		done += (size_t)r;
	}
	return 0;
}

int cohort__os_write_full(int fd, const void *buf, size_t n, const char *path)
{
	return write_loop(fd, buf, n, 0, 0, path);
}

int cohort__os_pwrite_full(int fd, const void *buf, size_t n, uint64_t off,
			   const char *path)
{
	return write_loop(fd, buf, n, off, 1, path);
}

static int sync_common(int fd, const char *path, int data)
{
	for (;;) {
		int f = fault_hit(COHORT__OP_FSYNC), r;

		if (f == EINTR)
			continue;
		if (f > 0)
			return fail(f, "fsync", path);
		r = data ? cohort__sys.fdatasync(fd) : cohort__sys.fsync(fd);
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return fail(errno, "fsync", path);
	}
}

int cohort__os_fsync(int fd, const char *path)
{
	return sync_common(fd, path, 0);
}

int cohort__os_fdatasync(int fd, const char *path)
{
	return sync_common(fd, path, 1);
}

int cohort__os_fsync_dir(const char *path)
{
	int fd, rc;

	rc = cohort__os_open(&fd, path, O_RDONLY | O_DIRECTORY, 0);
	if (rc)
		return rc;
	rc = cohort__os_fsync(fd, path);
	if (rc && (errno == EINVAL || errno == EBADF || errno == EROFS ||
		   errno == ENOTSUP)) {
		/* NFS and some FUSE servers refuse directory fsync; their
		 * directory operations are synchronous anyway (NFS fact 11). */
		cohort__error_clear();
		rc = 0;
	}
	cohort__os_close_quiet(fd);
	return rc;
}

int cohort__os_ftruncate(int fd, uint64_t len, const char *path)
{
	for (;;) {
		int f = fault_hit(COHORT__OP_TRUNCATE);

		if (f == EINTR)
			continue;
		if (f > 0)
			return fail(f, "truncate", path);
		if (cohort__sys.ftruncate(fd, (off_t)len) == 0)
			return 0;
		if (errno != EINTR)
			return fail(errno, "truncate", path);
	}
}

/* ---- names -------------------------------------------------------------- */

static int raw_stat(struct cohort__stat *st, int fd, const char *path,
		    int flags)
{
	struct statx sx;

	for (;;) {
		int f = fault_hit(COHORT__OP_STAT);

		if (f == EINTR)
			continue;
		if (f > 0) {
			errno = f;
			return -1;
		}
		if (cohort__sys.statx(fd, path, flags | AT_STATX_FORCE_SYNC,
				      STATX_BASIC_STATS, &sx) == 0)
			break;
		if (errno != EINTR)
			return -1;
	}
	st->dev = ((uint64_t)sx.stx_dev_major << 32) | sx.stx_dev_minor;
	st->ino = sx.stx_ino;
	st->size = sx.stx_size;
	st->mode = sx.stx_mode;
	st->nlink = sx.stx_nlink;
	st->mtime_ns = (int64_t)sx.stx_mtime.tv_sec * 1000000000 +
		       sx.stx_mtime.tv_nsec;
	st->ctime_ns = (int64_t)sx.stx_ctime.tv_sec * 1000000000 +
		       sx.stx_ctime.tv_nsec;
	return 0;
}

int cohort__os_stat(struct cohort__stat *st, const char *path, int nofollow)
{
	if (raw_stat(st, AT_FDCWD, path, nofollow ? AT_SYMLINK_NOFOLLOW : 0))
		return fail(errno, "stat", path);
	return 0;
}

int cohort__os_fstat(struct cohort__stat *st, int fd, const char *path)
{
	if (raw_stat(st, fd, "", AT_EMPTY_PATH))
		return fail(errno, "stat", path);
	return 0;
}

/* After a failed rename/link: is 'to' now the inode 'from' was? */
static int target_is(const char *to, const struct cohort__stat *before)
{
	struct cohort__stat st;
	int saved = errno;

	if (raw_stat(&st, AT_FDCWD, to, AT_SYMLINK_NOFOLLOW) != 0) {
		errno = saved;
		return 0;
	}
	errno = saved;
	return st.dev == before->dev && st.ino == before->ino;
}

/*
 * rename() or link() 'from' to 'to', retrying EINTR, with the fault
 * injector's "lie" (done, then EIO).  After a failure, look at the target
 * (NFS fact 5: the reply may be lost after the server did the work, and a
 * retransmitted LINK answers EEXIST for our own success): if 'to' is now
 * the inode 'from' was (and, for a rename, 'from' is gone), it worked.
 */
static int name_op(enum cohort__os_op op, const char *from, const char *to)
{
	int (*call)(const char *, const char *) =
		op == COHORT__OP_RENAME ? cohort__sys.rename : cohort__sys.link;
	struct cohort__stat before;
	int have = raw_stat(&before, AT_FDCWD, from, AT_SYMLINK_NOFOLLOW) == 0;
	int f, e;

	for (;;) {
		f = fault_hit(op);
		if (f == EINTR)
			continue;
		if (f > 0)
			break;
		if (call(from, to) == 0) {
			if (f != COHORT__FAULT_LIE)
				return 0;
			f = EIO;
			break;
		}
		if (errno != EINTR) {
			f = errno;
			break;
		}
	}
	e = f;
	if (have && target_is(to, &before)) {
		struct cohort__stat gone;

		if (op == COHORT__OP_LINK ||
		    raw_stat(&gone, AT_FDCWD, from, AT_SYMLINK_NOFOLLOW) != 0 ||
		    gone.ino != before.ino)
			return 0;
	}
	errno = e;
	return cohort__error_sys(cohort__os_code(e), e, "cannot %s '%s' to '%s'",
				 op == COHORT__OP_RENAME ? "rename" : "link",
				 from, to);
}

int cohort__os_rename(const char *from, const char *to)
{
	return name_op(COHORT__OP_RENAME, from, to);
}

int cohort__os_link(const char *from, const char *to)
{
	return name_op(COHORT__OP_LINK, from, to);
}

int cohort__os_unlink(const char *path)
{
	for (;;) {
		int f = fault_hit(COHORT__OP_UNLINK);

		if (f == EINTR)
			continue;
		if (f > 0)
			return fail(f, "remove", path);
		if (cohort__sys.unlink(path) == 0)
			return 0;
		if (errno != EINTR)
			return fail(errno, "remove", path);
	}
}

int cohort__os_rmdir(const char *path)
{
	for (;;) {
		int f = fault_hit(COHORT__OP_RMDIR);

		if (f == EINTR)
			continue;
		if (f > 0)
			return fail(f, "remove folder", path);
		if (cohort__sys.rmdir(path) == 0)
			return 0;
		if (errno != EINTR)
			return fail(errno, "remove folder", path);
	}
}

int cohort__os_mkdir(const char *path, mode_t mode)
{
	for (;;) {
		int f = fault_hit(COHORT__OP_MKDIR);

		if (f == EINTR)
			continue;
		if (f > 0)
			return fail(f, "create folder", path);
		if (cohort__sys.mkdir(path, mode) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EEXIST) {
			struct cohort__stat st;

			if (raw_stat(&st, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW) != 0)
				return fail(errno, "create folder", path);
			if (S_ISDIR(st.mode))
				return 0;
			return fail(ENOTDIR, "create folder", path);
		}
		return fail(errno, "create folder", path);
	}
}

int cohort__os_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(path);
	int rc;

	if (n == 0 || n >= sizeof(buf))
		return cohort__error(COHORT_EINVAL, "bad folder name '%s'", path);
	memcpy(buf, path, n + 1);
	for (i = 1; i < n; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		rc = cohort__os_mkdir(buf, mode);
		buf[i] = '/';
		if (rc)
			return rc;
	}
	return cohort__os_mkdir(buf, mode);
}

/* ---- locks -------------------------------------------------------------- */

int cohort__os_lock_ofd(int fd, short type, const char *path)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	for (;;) {
		int f = fault_hit(COHORT__OP_LOCK);

		if (f == EINTR)
			continue;
		if (f > 0)
			return fail(f, "lock", path);
		if (cohort__sys.fcntl_lock(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EACCES)
			return cohort__error(COHORT_ELOCKED, "'%s' is locked",
					     path);
		return fail(errno, "lock", path);
	}
}

int cohort__os_flock(int fd, int op, const char *path)
{
	for (;;) {
		int f = fault_hit(COHORT__OP_LOCK);

		if (f == EINTR)
			continue;
		if (f > 0)
			return fail(f, "lock", path);
		if (cohort__sys.flock(fd, op) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			return cohort__error(COHORT_ELOCKED, "'%s' is locked",
					     path);
		return fail(errno, "lock", path);
	}
}

/* ---- whole files -------------------------------------------------------- */

#define ESTALE_RETRIES 5

int cohort__os_read_file(char **out, size_t *len, const char *path,
			 size_t max)
{
	int attempt, rc = COHORT_ERROR;

	for (attempt = 0; attempt < ESTALE_RETRIES; attempt++) {
		struct cohort__stat st;
		char *buf = NULL;
		size_t got = 0, cap;
		int fd;

		rc = cohort__os_open(&fd, path, O_RDONLY | O_NOFOLLOW, 0);
		if (rc)
			goto retry;
		rc = cohort__os_fstat(&st, fd, path);
		if (rc) {
			cohort__os_close_quiet(fd);
			goto retry;
		}
		if (!S_ISREG(st.mode)) {
			cohort__os_close_quiet(fd);
			return cohort__error(COHORT_ECORRUPT,
					     "'%s' is not a regular file", path);
		}
		/* Read one byte past 'max' to tell "too large" apart. */
		cap = (st.size < max ? (size_t)st.size : max) + 1;
		buf = malloc(cap + 1);
		if (!buf) {
			cohort__os_close_quiet(fd);
			return cohort__error(COHORT_ERROR, "out of memory");
		}
		rc = cohort__os_read_full(fd, buf, cap, &got, path);
		/* The size is only a hint (it can be stale, or the file grew
		 * since): a full buffer may not be the whole file. */
		while (!rc && got == cap && got <= max) {
			size_t limit = max < SIZE_MAX / 4 ? max + 1 : SIZE_MAX / 4;
			size_t ncap = cap < limit / 2 ? cap * 2 : limit, more = 0;
			char *nbuf;

			if (ncap <= cap)
				break;
			nbuf = realloc(buf, ncap + 1);
			if (!nbuf) {
				free(buf);
				cohort__os_close_quiet(fd);
				return cohort__error(COHORT_ERROR, "out of memory");
			}
			buf = nbuf;
			rc = cohort__os_read_full(fd, buf + got, ncap - got, &more,
						  path);
			got += more;
			cap = ncap;
		}
		cohort__os_close_quiet(fd);
		if (rc) {
			free(buf);
			goto retry;
		}
		if (got > max) {
			free(buf);
			return cohort__error(COHORT_ECORRUPT,
					     "'%s' is larger than %zu bytes",
					     path, max);
		}
		buf[got] = '\0';
		*out = buf;
		*len = got;
		return 0;
retry:
		if (errno == ENOENT) {
			struct cohort__stat again;

			/* A rename over the name can make a FUSE view (and an
			 * NFS client with a stale dentry) miss it for a moment:
			 * if it is there now, look again. */
			if (raw_stat(&again, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW) != 0) {
				errno = ENOENT;
				return rc;
			}
			cohort__os_sleep_ms(1);
			continue;
		}
		if (errno != ESTALE)
			return rc;
		/* NFS fact 8: replaced by another node; reopen by path. */
	}
	return cohort__error_wrap(COHORT_ESTALE, "still stale after %d tries",
				  ESTALE_RETRIES);
}

/* ---- temp files and their registry --------------------------------------- */

#define TEMPS_MAX 32

/*
 * A slot is free (0), being filled (1) or registered (2); only registered
 * slots of this very process (a forked child inherits the array) are
 * removed.  Slots are claimed with a compare-and-swap, so threads never
 * share one, and a signal never sees a half-written path.
 */
static char temps[TEMPS_MAX][PATH_MAX];
static pid_t temps_pid[TEMPS_MAX];
static volatile sig_atomic_t temps_state[TEMPS_MAX];
static int temps_hooked;

static int temp_mine(int i, pid_t me)
{
	return __atomic_load_n(&temps_state[i], __ATOMIC_SEQ_CST) == 2 &&
	       temps_pid[i] == me;
}

static void temps_cleanup(void)
{
	pid_t me = getpid();
	int i;

	for (i = 0; i < TEMPS_MAX; i++)
		if (temp_mine(i, me)) {
			(void)unlink(temps[i]);
			__atomic_store_n(&temps_state[i], 0, __ATOMIC_SEQ_CST);
		}
}

static const int fatal_signals[] = { SIGHUP, SIGINT, SIGTERM, SIGQUIT,
				     SIGPIPE, SIGSEGV, SIGBUS, SIGABRT };

static void temps_signal(int sig)
{
	pid_t me = getpid();
	int i;

	/* unlink() and getpid() are async-signal-safe; the registry is plain
	 * arrays. */
	for (i = 0; i < TEMPS_MAX; i++)
		if (temp_mine(i, me))
			(void)unlink(temps[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void temps_hook(void)
{
	size_t i;

	if (__atomic_exchange_n(&temps_hooked, 1, __ATOMIC_SEQ_CST))
		return;
	atexit(temps_cleanup);
	for (i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction old, sa;

		/* Only where nobody else handles the signal: an application's
		 * handler stays in charge (it exits, and atexit runs). */
		if (sigaction(fatal_signals[i], NULL, &old) == 0 &&
		    !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) {
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = temps_signal;
			sigemptyset(&sa.sa_mask);
			sigaction(fatal_signals[i], &sa, NULL);
		}
	}
}

static void temps_add(const char *path)
{
	pid_t me = getpid();
	int i;

	temps_hook();
	for (i = 0; i < TEMPS_MAX; i++) {
		sig_atomic_t want = 0;

		/* A slot inherited from the parent across fork() is not ours:
		 * reuse it. */
		if (temps_state[i] == 2 && temps_pid[i] != me)
			want = 2;
		if (__atomic_compare_exchange_n(&temps_state[i], &want, 1, 0,
						__ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST)) {
			snprintf(temps[i], sizeof(temps[i]), "%s", path);
			temps_pid[i] = me;
			__atomic_store_n(&temps_state[i], 2, __ATOMIC_SEQ_CST);
			return;
		}
	}
	/* Full: the file is still removed on every normal path. */
}

void cohort__os_temp_done(const char *path)
{
	pid_t me = getpid();
	int i;

	for (i = 0; i < TEMPS_MAX; i++)
		if (temp_mine(i, me) && !strcmp(temps[i], path)) {
			__atomic_store_n(&temps_state[i], 0, __ATOMIC_SEQ_CST);
			return;
		}
}

int cohort__os_is_temp_name(const char *name)
{
	return name[0] == '.' && strstr(name, ".tmp.") != NULL;
}

int cohort__os_temp_open(int *fd, char *path_out, size_t path_size,
			 const char *target, mode_t mode, const char *tag)
{
	const char *slash = strrchr(target, '/');
	size_t dirlen = slash ? (size_t)(slash - target) + 1 : 0;
	const char *base = slash ? slash + 1 : target;
	unsigned char rnd[6];
	int attempt, rc = COHORT_ERROR, n;

	for (attempt = 0; attempt < 8; attempt++) {
		cohort__os_random(rnd, sizeof(rnd));
		n = snprintf(path_out, path_size,
			     "%.*s.%s.tmp.%s.%ld.%02x%02x%02x%02x%02x%02x",
			     (int)dirlen, target, base, tag ? tag : "-",
			     (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3],
			     rnd[4], rnd[5]);
		if (n < 0 || (size_t)n >= path_size)
			return cohort__error(COHORT_EINVAL, "path too long: '%s'",
					     target);
		/* Register first: a signal between create and register must
		 * not leave the file behind. */
		temps_add(path_out);
		rc = cohort__os_open(fd, path_out,
				     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
				     mode);
		if (rc == 0)
			return 0;
		cohort__os_temp_done(path_out);
		if (rc != COHORT_EEXISTS)
			return rc;
	}
	return rc;
}

/* Write a temp file next to 'path'; with 'keep' its descriptor stays
 * open and goes to '*keep' (the caller closes it). */
static int temp_write(char *tmp, size_t tmpsize, const char *path,
		      const void *buf, size_t len, mode_t mode, const char *tag,
		      int durable, int *keep)
{
	int fd, rc;

	rc = cohort__os_temp_open(&fd, tmp, tmpsize, path, mode, tag);
	if (rc)
		return rc;
	rc = cohort__os_write_full(fd, buf, len, tmp);
	if (!rc && durable)
		rc = cohort__os_fsync(fd, tmp);
	if (rc) {
		cohort__os_close_quiet(fd);
		goto fail;
	}
	if (keep) {
		*keep = fd;
		return 0;
	}
	rc = cohort__os_close(fd, tmp);
	if (rc)
		goto fail;
	return 0;
fail:
	(void)unlink(tmp);
	cohort__os_temp_done(tmp);
	return rc;
}

static int fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		return cohort__os_fsync_dir(".");
	if ((size_t)(slash - path) >= sizeof(dir))
		return cohort__error(COHORT_EINVAL, "path too long: '%s'", path);
	if (slash == path)
		return cohort__os_fsync_dir("/");
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return cohort__os_fsync_dir(dir);
}

int cohort__os_write_atomic(const char *path, const void *buf, size_t len,
			    mode_t mode, const char *tag)
{
	char tmp[PATH_MAX];
	int rc;

	rc = temp_write(tmp, sizeof(tmp), path, buf, len, mode, tag, 1, NULL);
	if (rc)
		return rc;
	rc = cohort__os_rename(tmp, path);
	if (rc) {
		int saved = errno;

		(void)unlink(tmp);
		cohort__os_temp_done(tmp);
		errno = saved;
		return rc;
	}
	cohort__os_temp_done(tmp);
	return fsync_parent(path);
}

int cohort__os_create_exclusive_fd(const char *path, const void *buf,
				   size_t len, mode_t mode, const char *tag,
				   int durable, int *fd)
{
	char tmp[PATH_MAX];
	int rc, saved;

	if (fd)
		*fd = -1;
	rc = temp_write(tmp, sizeof(tmp), path, buf, len, mode, tag, durable,
			fd);
	if (rc)
		return rc;
	rc = cohort__os_link(tmp, path);
	saved = errno;
	(void)cohort__sys.unlink(tmp);
	cohort__os_temp_done(tmp);
	errno = saved;
	if (!rc && durable)
		rc = fsync_parent(path);
	if (rc && fd) {
		cohort__os_close_quiet(*fd);
		*fd = -1;
	}
	return rc;
}

int cohort__os_create_exclusive(const char *path, const void *buf, size_t len,
				mode_t mode, const char *tag, int durable)
{
	return cohort__os_create_exclusive_fd(path, buf, len, mode, tag,
					      durable, NULL);
}

/* ---- odds and ends ------------------------------------------------------ */

void cohort__os_random(void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = getrandom((char *)buf + done, n - done, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (size_t)r;
	}
	if (done < n) { /* no getrandom: mix what we have */
		struct timespec ts;
		unsigned char *p = buf;
		unsigned long x;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 16);
		for (; done < n; done++) {
			x = x * 6364136223846793005UL + 1442695040888963407UL;
			p[done] = (unsigned char)(x >> 56);
		}
	}
}

int64_t cohort__os_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cohort__os_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *cohort__os_boot_id(void)
{
	static char boot[40];
	static int done;

	if (!done) {
		FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

		if (f) {
			if (fgets(boot, sizeof(boot), f))
				boot[strcspn(boot, "\n")] = '\0';
			fclose(f);
		}
		done = 1;
	}
	return boot;
}

const char *cohort__os_host(void)
{
	static char host[256];

	if (!host[0] && gethostname(host, sizeof(host) - 1) != 0)
		strcpy(host, "unknown");
	return host;
}

int cohort__os_pid_alive(long pid)
{
	char path[64], buf[256], *paren;
	FILE *f;
	int alive;

	if (pid <= 0)
		return 0;
	alive = kill((pid_t)pid, 0) == 0 || errno == EPERM;
	if (!alive)
		return 0;
	/* A zombie (killed, not yet reaped: containers whose init does not
	 * reap) answers kill(0) but holds nothing any more. */
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 1;
	if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')')) &&
	    paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'))
		alive = 0;
	fclose(f);
	return alive;
}

void cohort__os_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Undo the octal escapes of /proc/self/mountinfo ("\040" for a space). */
static void unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
			*o++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) |
				      (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

int cohort__os_mount_info(const char *path, char *fstype, size_t fstype_size,
			  char *options, size_t options_size)
{
	char real[PATH_MAX], line[4096];
	size_t best = 0;
	FILE *f;

	if (!realpath(path, real))
		return fail(errno, "resolve", path);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return fail(errno, "open", "/proc/self/mountinfo");
	snprintf(fstype, fstype_size, "unknown");
	snprintf(options, options_size, "%s", "");
	while (fgets(line, sizeof(line), f)) {
		char *field[12], *save = NULL, *tok, *dash;
		char mnt[PATH_MAX];
		int nf = 0;
		size_t ml;

		dash = strstr(line, " - ");
		if (!dash)
			continue;
		*dash = '\0';
		for (tok = strtok_r(line, " ", &save); tok && nf < 12;
		     tok = strtok_r(NULL, " ", &save))
			field[nf++] = tok;
		if (nf < 6)
			continue;
		snprintf(mnt, sizeof(mnt), "%s", field[4]);
		unescape(mnt);
		ml = strlen(mnt);
		if (!(ml == 1 || (!strncmp(real, mnt, ml) &&
				  (real[ml] == '/' || real[ml] == '\0'))))
			continue;
		if (ml < best)
			continue;
		best = ml;
		{
			char *rest = dash + 3, *s2 = NULL;
			char *type = strtok_r(rest, " ", &s2);
			char *src = type ? strtok_r(NULL, " ", &s2) : NULL;
			char *sup = src ? strtok_r(NULL, " \n", &s2) : NULL;

			snprintf(fstype, fstype_size, "%s", type ? type : "?");
			snprintf(options, options_size, "%s%s%s", field[5],
				 sup ? "," : "", sup ? sup : "");
		}
	}
	fclose(f);
	return 0;
}

/* ---- change notification ------------------------------------------------ */

int cohort__os_watch(int *fd, const char *path)
{
	int f = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	*fd = -1;
	if (f < 0)
		return 0; /* no inotify: polling alone still works */
	/* Only writes made through this mount on this host raise events
	 * (NFS fact 1); other hosts' commits are found by polling. */
	if (inotify_add_watch(f, path, IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB |
				      IN_MOVE_SELF | IN_DELETE_SELF) < 0) {
		close(f);
		return 0;
	}
	*fd = f;
	return 0;
}

int cohort__os_wait_fd(int fd, int timeout_ms)
{
	struct pollfd p;
	int r;

	if (fd < 0) {
		cohort__os_sleep_ms(timeout_ms);
		return 0;
	}
	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	r = poll(&p, 1, timeout_ms);
	return r > 0 ? 1 : 0;
}

void cohort__os_drain(int fd)
{
	char buf[4096];

	if (fd < 0)
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}
