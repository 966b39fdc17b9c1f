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
#include <pthread.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "../error.h"

/* ---- confinement ------------------------------------------------------- */

/*
 * The folders below which no link is followed (os.h).  A node is prepended
 * under 'confine_mu' and never freed, so the system-call wrappers walk the
 * list without a lock, from any thread (and in a forked child).
 */
struct confined {
	struct confined *next;
	size_t len;
	char dir[];
};

static struct confined *confined_head;
static pthread_mutex_t confine_mu = PTHREAD_MUTEX_INITIALIZER;

int cohort__os_confine(const char *dir)
{
	struct confined *p;
	size_t n;

	if (!dir)
		return 0;
	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	/* "/" would confine /proc and every package named on a command
	 * line: a root there protects nothing anyway. */
	if (n == 0 || (n == 1 && dir[0] == '/'))
		return 0;
	pthread_mutex_lock(&confine_mu);
	for (p = confined_head; p; p = p->next)
		if (p->len == n && !memcmp(p->dir, dir, n))
			break;
	if (!p) {
		p = malloc(sizeof(*p) + n + 1);
		if (!p) {
			pthread_mutex_unlock(&confine_mu);
			return cohort__error(COHORT_ERROR, "out of memory");
		}
		memcpy(p->dir, dir, n);
		p->dir[n] = '\0';
		p->len = n;
		p->next = confined_head;
		__atomic_store_n(&confined_head, p, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&confine_mu);
	return 0;
}

/*
 * The longest confined folder that 'path' lies strictly below, and in
 * '*rel' the part below it (without its leading slashes); NULL if none.
 */
static const struct confined *confined_find(const char *path,
					    const char **rel)
{
	const struct confined *p, *best = NULL;

	if (!path)
		return NULL;
	for (p = __atomic_load_n(&confined_head, __ATOMIC_ACQUIRE); p;
	     p = p->next) {
		const char *r;

		if ((best && p->len <= best->len) ||
		    strncmp(path, p->dir, p->len) || path[p->len] != '/')
			continue;
		for (r = path + p->len; *r == '/'; r++)
			;
		if (!*r)
			continue;
		best = p;
		*rel = r;
	}
	return best;
}

int cohort__os_confined(const char *path)
{
	const char *rel;

	return confined_find(path, &rel) != NULL;
}

static int sys_openat2(int dirfd, const char *path, void *how, size_t size)
{
#ifdef SYS_openat2
	return (int)syscall(SYS_openat2, dirfd, path, how, size);
#else
	(void)dirfd; (void)path; (void)how; (void)size;
	errno = ENOSYS;
	return -1;
#endif
}

int (*cohort__os_openat2)(int dirfd, const char *path, void *how,
			  size_t size) = sys_openat2;

/* The openat2 found missing (or refused by a seccomp filter): later calls
 * of that same function go straight to the walk. */
static int (*openat2_missing)(int, const char *, void *, size_t);

/*
 * EPERM from openat2 is either the file's answer or a seccomp filter that
 * does not know the call (Docker before 20.10): ask about "/".
 */
static int openat2_refused(int (*call)(int, const char *, void *, size_t))
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_CLOEXEC;
	fd = call(AT_FDCWD, "/", &how, sizeof(how));
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == EPERM || errno == ENOSYS;
}

/*
 * openat2(dirfd, rel) following no link and never leaving 'dirfd'; -1 and
 * ENOSYS when the kernel lacks it (then the caller walks).
 */
static int beneath_openat2(int dirfd, const char *rel, int flags, mode_t mode)
{
	int (*call)(int, const char *, void *, size_t) = cohort__os_openat2;
	struct open_how how;
	int fd, tries = 0;

	if (call == openat2_missing) {
		errno = ENOSYS;
		return -1;
	}
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);
	/* openat2 refuses a mode without O_CREAT or O_TMPFILE. */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		how.mode = mode;
	how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;
	for (;;) {
		fd = call(dirfd, rel, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno == EINTR)
			continue;
		/* RESOLVE_BENEATH: a rename raced a ".." lookup. */
		if (errno == EAGAIN && ++tries < 8)
			continue;
		if (errno == ENOSYS ||
		    (errno == EPERM && openat2_refused(call))) {
			openat2_missing = call;
			errno = ENOSYS;
		}
		return -1;
	}
}

/*
 * Without openat2: walk 'rel' (modified) from 'dirfd' one folder at a
 * time, opening each O_PATH|O_NOFOLLOW|O_DIRECTORY; a new descriptor of
 * the last folder, or -1.  A link met gives ELOOP, as openat2 would.
 */
static int beneath_walk(int dirfd, char *rel)
{
	char *save = NULL, *c;
	int cur = dirfd, next, e;

	for (c = strtok_r(rel, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			errno = EXDEV;
			goto fail;
		}
		while ((next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW |
						  O_CLOEXEC)) < 0 && errno == EINTR)
			;
		if (next < 0) {
			struct stat ls;

			/* O_PATH|O_NOFOLLOW on a link says ENOTDIR. */
			e = errno;
			if (e == ENOTDIR &&
			    fstatat(cur, c, &ls, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(ls.st_mode))
				e = ELOOP;
			errno = e;
			goto fail;
		}
		if (cur != dirfd)
			close(cur);
		cur = next;
	}
	if (cur == dirfd)
		return fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	return cur;
fail:
	e = errno;
	if (cur != dirfd)
		close(cur);
	errno = e;
	return -1;
}

/* A descriptor of the confined folder itself, resolved as given (it may
 * be, or lie under, a link: /mnt/shared -> /srv/x).  Opened on each call:
 * a cached one would miss a remount (and go on writing to the folder
 * below a mount that came up later). */
static int confined_open(const struct confined *p)
{
	int fd;

	while ((fd = open(p->dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 &&
	       errno == EINTR)
		;
	return fd;
}

/* Where a name op acts: a folder descriptor and a name in it. */
struct at {
	int fd; /* AT_FDCWD, or a descriptor of the parent folder (ours) */
	const char *name;
	char buf[PATH_MAX];
};

/*
 * 'rel' below the confined folder open as 'pfd' (taken over): its parent
 * folder opened following no link, and its last component.
 */
static int at_below(struct at *a, int pfd, const char *rel)
{
	size_t n = strlen(rel);
	char *slash;
	int fd;

	a->fd = pfd;
	if (n >= sizeof(a->buf)) {
		close(pfd);
		a->fd = -1;
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(a->buf, rel, n + 1);
	while (n > 1 && a->buf[n - 1] == '/')
		a->buf[--n] = '\0';
	slash = strrchr(a->buf, '/');
	a->name = slash ? slash + 1 : a->buf;
	if (!strcmp(a->name, "..")) {
		close(pfd);
		a->fd = -1;
		errno = EXDEV;
		return -1;
	}
	if (!slash)
		return 0;
	*slash = '\0';
	fd = beneath_openat2(pfd, a->buf, O_PATH | O_DIRECTORY, 0);
	if (fd < 0 && errno == ENOSYS)
		fd = beneath_walk(pfd, a->buf);
	/* (the walk cut a->buf up; the name after it is intact) */
	close(pfd);
	a->fd = fd;
	return fd < 0 ? -1 : 0;
}

/* Resolve 'path' for a name op: as is outside confined folders. */
static int at_resolve(struct at *a, const char *path)
{
	const struct confined *p;
	const char *rel;
	int pfd;

	a->fd = AT_FDCWD;
	a->name = path;
	if (!(p = confined_find(path, &rel)))
		return 0;
	if ((pfd = confined_open(p)) < 0) {
		a->fd = -1;
		return -1;
	}
	return at_below(a, pfd, rel);
}

static void at_done(struct at *a)
{
	int e = errno;

	if (a->fd >= 0)
		close(a->fd);
	errno = e;
}

/* Resolve both names of a two-name op (rename, link); on failure neither
 * is left open. */
static int at_resolve2(struct at *f, const char *from, struct at *t,
		       const char *to)
{
	if (at_resolve(f, from) < 0)
		return -1;
	if (at_resolve(t, to) < 0) {
		at_done(f);
		return -1;
	}
	return 0;
}

/* ---- the table ---------------------------------------------------------- */

static int sys_open(const char *path, int flags, mode_t mode)
{
	const struct confined *p;
	const char *rel;
	struct at a;
	int pfd, fd, e;

	if (!(p = confined_find(path, &rel)))
		return open(path, flags, mode);
	if ((pfd = confined_open(p)) < 0)
		return -1;
	fd = beneath_openat2(pfd, rel, flags, mode);
	e = errno;
	if (fd >= 0 || !(e == ENOSYS || (e == ELOOP && !(flags & O_NOFOLLOW)))) {
		close(pfd);
		errno = e;
		return fd;
	}
	/* No openat2, or a link that may be the last component, which the
	 * caller lets open() follow: the folders following no link, then the
	 * name as open() would take it. */
	if (at_below(&a, pfd, rel) < 0)
		return -1;
	while ((fd = openat(a.fd, a.name, flags, mode)) < 0 && errno == EINTR)
		;
	at_done(&a);
	return fd;
}

static int sys_rename(const char *from, const char *to)
{
	struct at f, t;
	int r;

	if (at_resolve2(&f, from, &t, to) < 0)
		return -1;
	r = renameat(f.fd, f.name, t.fd, t.name);
	at_done(&f);
	at_done(&t);
	return r;
}

static int sys_link(const char *from, const char *to)
{
	struct at f, t;
	int r;

	if (at_resolve2(&f, from, &t, to) < 0)
		return -1;
	r = linkat(f.fd, f.name, t.fd, t.name, 0);
	at_done(&f);
	at_done(&t);
	return r;
}

static int sys_unlink(const char *path)
{
	struct at a;
	int r;

	if (at_resolve(&a, path) < 0)
		return -1;
	r = unlinkat(a.fd, a.name, 0);
	at_done(&a);
	return r;
}

static int sys_rmdir(const char *path)
{
	struct at a;
	int r;

	if (at_resolve(&a, path) < 0)
		return -1;
	r = unlinkat(a.fd, a.name, AT_REMOVEDIR);
	at_done(&a);
	return r;
}

static int sys_mkdir(const char *path, mode_t mode)
{
	struct at a;
	int r;

	if (at_resolve(&a, path) < 0)
		return -1;
	r = mkdirat(a.fd, a.name, mode);
	at_done(&a);
	return r;
}

static int sys_statx(int dirfd, const char *path, int flags,
		     unsigned int mask, struct statx *st)
{
	struct at a;
	int r;

	if (dirfd != AT_FDCWD)
		return statx(dirfd, path, flags, mask, st);
	if (at_resolve(&a, path) < 0)
		return -1;
	r = statx(a.fd, a.name, flags, mask, st);
	at_done(&a);
	return r;
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
	.rename = sys_rename,
	.link = sys_link,
	.unlink = sys_unlink,
	.mkdir = sys_mkdir,
	.rmdir = sys_rmdir,
	.statx = sys_statx,
	.fcntl_lock = sys_fcntl_lock,
	.flock = flock,
	.ftruncate = sys_ftruncate,
	.fchmod = fchmod,
	.fchown = fchown,
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
	.rename = sys_rename,
	.link = sys_link,
	.unlink = sys_unlink,
	.mkdir = sys_mkdir,
	.rmdir = sys_rmdir,
	.statx = sys_statx,
	.fcntl_lock = sys_fcntl_lock,
	.flock = flock,
	.ftruncate = sys_ftruncate,
	.fchmod = fchmod,
	.fchown = fchown,
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
	{ "kill", COHORT__FAULT_KILL }, { "stop", COHORT__FAULT_STOP },
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
			if (faults[i].what == COHORT__FAULT_STOP) {
				raise(SIGSTOP);
				return 0;
			}
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

/* ---- permissions of what we create --------------------------------------- */

/*
 * Give the file or folder open as 'fd', just created, the group and mode of
 * 'perm' (os.h).  fchown first: it may clear set-id bits, which fchmod then
 * sets as asked.  Through the table, but not counted by the fault injector:
 * crash points are named by the counts of the creating calls.
 */
static int perm_apply(int fd, const char *path, cohort__perm perm)
{
	mode_t mode = COHORT__PERM_MODE(perm);

	if (perm & COHORT__PERM_HAS_GROUP) {
		gid_t gid = COHORT__PERM_GID(perm);
		int r;

		while ((r = cohort__sys.fchown(fd, (uid_t)-1, gid)) < 0 &&
		       errno == EINTR)
			;
		if (r < 0)
			return cohort__error_sys(cohort__os_code(errno), errno,
						 "cannot give '%s' the group %lu "
						 "([cluster] group; is this user "
						 "a member of it?)", path,
						 (unsigned long)gid);
	}
	while (cohort__sys.fchmod(fd, mode) < 0) {
		if (errno != EINTR)
			return cohort__error_sys(cohort__os_code(errno), errno,
						 "cannot set the mode of '%s' to "
						 "%04o", path, (unsigned)mode);
	}
	return 0;
}

/*
 * After open(O_CREAT) without O_EXCL we cannot tell whether we created the
 * file.  Set 'perm' on a regular file of ours with a single link whose mode
 * or group differ: ours (another node's user keeps its own), and never
 * through a hard link an attacker planted to one of our files elsewhere.
 */
static int perm_maybe(int fd, const char *path, cohort__perm perm)
{
	struct statx sx;

	if (cohort__sys.statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) != 0)
		return fail(errno, "stat", path);
	if (!S_ISREG(sx.stx_mode) || sx.stx_nlink != 1 || sx.stx_uid != geteuid())
		return 0;
	if ((sx.stx_mode & 07777) == COHORT__PERM_MODE(perm) &&
	    (!(perm & COHORT__PERM_HAS_GROUP) ||
	     sx.stx_gid == COHORT__PERM_GID(perm)))
		return 0;
	return perm_apply(fd, path, perm);
}

/* ---- descriptors -------------------------------------------------------- */

int cohort__os_open(int *fd, const char *path, int flags, cohort__perm perm)
{
	int f, r, rc;

	for (;;) {
		if ((f = fault_hit(COHORT__OP_OPEN)) > 0) {
			if (f == EINTR)
				continue;
			return fail(f, "open", path);
		}
		r = cohort__sys.open(path, flags | O_CLOEXEC,
				     COHORT__PERM_MODE(perm));
		if (r >= 0)
			break;
		if (errno != EINTR)
			return fail(errno, "open", path);
	}
	if (flags & O_CREAT) {
		rc = (flags & O_EXCL) ? perm_apply(r, path, perm) :
					perm_maybe(r, path, perm);
		if (rc) {
			int saved = errno;

			cohort__sys.close(r);
			/* Created by us, so ours to take back. */
			if (flags & O_EXCL)
				(void)cohort__sys.unlink(path);
			errno = saved;
			return rc;
		}
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

DIR *cohort__os_opendir(const char *path)
{
	DIR *d;
	int fd, e;

	/* Not counted by the fault injector, as opendir() was not. */
	while ((fd = cohort__sys.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					    O_CLOEXEC, 0)) < 0 &&
	       errno == EINTR)
		;
	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		e = errno;
		(void)cohort__sys.close(fd);
		errno = e;
	}
	return d;
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

/*
 * A folder we just made gets 'perm' through a descriptor opened
 * O_NOFOLLOW: if someone swapped a link in, we touch nothing else.  When
 * that fails, the (empty) folder goes again, so that a later mkdir does not
 * take it for an existing one with the wrong group.
 */
static int mkdir_perm(const char *path, cohort__perm perm)
{
	int fd, rc, saved;

	while ((fd = cohort__sys.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					    O_CLOEXEC, 0)) < 0 &&
	       errno == EINTR)
		;
	if (fd < 0)
		rc = fail(errno, "open", path);
	else
		rc = perm_apply(fd, path, perm);
	saved = errno;
	if (fd >= 0)
		(void)cohort__sys.close(fd);
	if (rc)
		(void)cohort__sys.rmdir(path);
	errno = saved;
	return rc;
}

int cohort__os_mkdir(const char *path, cohort__perm perm)
{
	for (;;) {
		int f = fault_hit(COHORT__OP_MKDIR);

		if (f == EINTR)
			continue;
		if (f > 0)
			return fail(f, "create folder", path);
		if (cohort__sys.mkdir(path, COHORT__PERM_MODE(perm)) == 0)
			return mkdir_perm(path, perm);
		if (errno == EINTR)
			continue;
		if (errno == EEXIST) {
			struct cohort__stat st;

			if (raw_stat(&st, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW) != 0)
				return fail(errno, "create folder", path);
			if (S_ISDIR(st.mode))
				return 0;
			/* a link planted in place of the folder */
			return fail(S_ISLNK(st.mode) ? ELOOP : ENOTDIR,
				    "create folder", path);
		}
		return fail(errno, "create folder", path);
	}
}

int cohort__os_mkdir_p(const char *path, cohort__perm perm)
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
		rc = cohort__os_mkdir(buf, perm);
		buf[i] = '/';
		if (rc)
			return rc;
	}
	return cohort__os_mkdir(buf, perm);
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
			 const char *target, cohort__perm perm,
			 const char *tag)
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
				     perm);
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
		      const void *buf, size_t len, cohort__perm perm,
		      const char *tag, int durable, int *keep)
{
	int fd, rc;

	rc = cohort__os_temp_open(&fd, tmp, tmpsize, path, perm, tag);
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
			    cohort__perm perm, const char *tag)
{
	char tmp[PATH_MAX];
	int rc;

	rc = temp_write(tmp, sizeof(tmp), path, buf, len, perm, tag, 1, NULL);
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
				   size_t len, cohort__perm perm,
				   const char *tag, int durable, int *fd)
{
	char tmp[PATH_MAX];
	int rc, saved;

	if (fd)
		*fd = -1;
	rc = temp_write(tmp, sizeof(tmp), path, buf, len, perm, tag, durable,
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
				cohort__perm perm, const char *tag, int durable)
{
	return cohort__os_create_exclusive_fd(path, buf, len, perm, tag,
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

/* ---- Unix sockets (the node's committer) -------------------------------- */

static int unix_addr(struct sockaddr_un *sa, socklen_t *len, const char *path)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n >= sizeof(sa->sun_path))
		return cohort__error(COHORT_EINVAL, "socket path '%s' is over "
				     "%zu bytes", path, sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, path, n + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

int cohort__os_listen_unix(int *fd, const char *path)
{
	struct sockaddr_un sa;
	socklen_t len;
	char tmp[PATH_MAX], rnd[8];
	int f, rc, n;

	*fd = -1;
	cohort__os_random(rnd, sizeof(rnd));
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%02x%02x%02x%02x", path,
		     (long)getpid(), (unsigned char)rnd[0], (unsigned char)rnd[1],
		     (unsigned char)rnd[2], (unsigned char)rnd[3]);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return cohort__error(COHORT_EINVAL, "path too long: '%s'", path);
	if ((rc = unix_addr(&sa, &len, tmp))) /* longer than 'path' */
		return rc;
	f = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f < 0)
		return fail(errno, "make a socket for", path);
	if (bind(f, (struct sockaddr *)&sa, len) < 0) {
		rc = fail(errno, "bind a socket to", tmp);
		close(f);
		return rc;
	}
	/* The name appears with the mode the umask left: widen nothing
	 * before it gets its final name. */
	if (chmod(tmp, 0600) < 0) {
		rc = fail(errno, "chmod", tmp);
		goto bad;
	}
	if (listen(f, 64) < 0) {
		rc = fail(errno, "listen on", tmp);
		goto bad;
	}
	if ((rc = cohort__os_rename(tmp, path)))
		goto bad;
	*fd = f;
	return 0;
bad:
	(void)unlink(tmp);
	close(f);
	return rc;
}

int cohort__os_connect_unix(int *fd, const char *path)
{
	struct sockaddr_un sa;
	socklen_t len;
	int f, rc;

	*fd = -1;
	if ((rc = unix_addr(&sa, &len, path)))
		return rc;
	f = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f < 0)
		return fail(errno, "make a socket for", path);
	while (connect(f, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;

		if (e == EINTR)
			continue;
		close(f);
		if (e == ENOENT || e == ECONNREFUSED)
			return cohort__error(COHORT_ENOTFOUND, "nothing listens "
					     "at '%s'", path);
		return fail(e, "connect to", path);
	}
	*fd = f;
	return 0;
}

int cohort__os_peer(int fd, uid_t *uid, pid_t *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return fail(errno, "read the peer of", "socket");
	if (uid)
		*uid = cr.uid;
	if (pid)
		*pid = cr.pid;
	return 0;
}

int cohort__os_accept(int *fd, int lfd, int timeout_ms, uid_t *uid,
		      pid_t *pid)
{
	int f, rc;

	*fd = -1;
	if (!cohort__os_wait_fd(lfd, timeout_ms))
		return 0;
	f = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (f < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
			return 0;
		return fail(errno, "accept on", "socket");
	}
	if ((rc = cohort__os_peer(f, uid, pid))) {
		close(f);
		return rc;
	}
	*fd = f;
	return 0;
}

int cohort__os_send_full(int fd, const void *buf, size_t n, const char *what)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = send(fd, (const char *)buf + done, n - done,
				 MSG_NOSIGNAL);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return fail(errno, "send to", what);
		}
		done += (size_t)r;
	}
	return 0;
}

void cohort__os_shutdown_read(int fd)
{
	(void)shutdown(fd, SHUT_RD);
}
