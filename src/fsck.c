/*
 * fsck.c - check and repair the shared root ('cohort fsck').  What is
 * checked and what repair does, and why repair never loses data, is at the
 * top of cohort/fsck.h.
 *
 * One pass lists every file under the root (lost+found excepted, '.nfsXXXX'
 * files never looked at); then the checks run in this order: identity,
 * locks (before repair takes its own), journal (with the store's records
 * replayed on the way, so the index is rebuilt in the same pass), nodes,
 * temporary files, store, and last the generic zero-length and unreadable
 * checks for every file no other check has reported.
 *
 * Nothing here deletes: a file that goes is renamed into
 * lost+found/<UTC time>/ under its relative path, and bytes cut from a
 * segment are copied there (and synced) before the cut.  Each entry is
 * written to that folder's MANIFEST (and synced) before the file moves.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json.h>
#include <xxhash.h>

#include "cluster.h"
#include "cohort/fsck.h"
#include "cohort/journal.h"
#include "cohort/lock.h"
#include "cohort/snapshot.h"
#include "cohort/store.h"
#include "journal_format.h"
#include "journal_repair.h"
#include "lock_int.h"
#include "os/os.h"
#include "store_int.h"

#define BUF_SIZE (4u << 20)
#define GRACE_DEFAULT_MS (3600 * 1000)
/*
 * Check-only: how long one run may wait, in all, for something that looks
 * like an interrupted write to turn out to be a write in flight (a head
 * that moves, a segment a janitor unlinks), and how often it looks.
 */
#define SETTLE_BUDGET_MS 3000
#define SETTLE_STEP_MS 20
/* How many looks before a file is believed absent (see stat_settled). */
#define ABSENT_LOOKS 5
/* How long repair waits to break one stale lease through the protocol. */
#define BREAK_TIMEOUT_MS 5000
#define HB_SIZE 96
#define LF_DIR "lost+found"

/* F_DONE: read whole by a specific check (a verified blob): no more. */
enum { F_REPORTED = 1, F_MOVED = 2, F_STATERR = 4, F_DONE = 8 };

struct file {
	char *rel;
	uint64_t size;
	int64_t mtime_ns;
	uint64_t ino;
	uint32_t mode;
	int flags;
	int err; /* errno of a failed stat */
};

/* A lease judged stale, to break once repair holds its locks. */
struct stale_lease {
	char name[COHORT_NODE_ID_MAX + 1];
	char rel[COHORT_NODE_ID_MAX + 16];
	char *text;
	size_t len;
	char detail[512];
};

/* A segment the head's range names, by its header. */
struct seg {
	uint64_t no;
	uint64_t size;
	uint64_t first;
	uint64_t epoch; /* the header's fencing epoch (0: version 1) */
	uint64_t next;	/* after a whole scan: the revision after its last */
	int state; /* 1 header ok, 0 bad header, -1 missing, -2 unreadable */
	int eno;   /* -2: the errno */
	char err[256];
};

enum { ST_END, ST_REV, ST_BAD, ST_SHORT, ST_WRONGREV };

struct scan_res {
	uint64_t end_off;  /* after the last good record */
	uint64_t next_rev; /* revision after the last good record */
	uint64_t keep_off; /* after the last whole commit */
	uint64_t keep_rev;
	uint64_t bad_rev;  /* ST_WRONGREV: the revision found */
	int stop;
	int last;	   /* the last good record ends a commit */
};

/* Repair: revisions of segment 'seg' that cannot be read (a region of
 * it, or the whole segment when it is missing), for lost records. */
struct lost_fix {
	uint64_t seg, seg_first;
	int missing;
	struct cohort__lost_region r;
	char why[256];
};

enum { SNAP_ABSENT = 0, SNAP_OK = 1, SNAP_DAMAGED = -1 };
enum { MODE_NONE, MODE_FULL, MODE_FROM_SNAPSHOT };

struct fsck {
	cohort_cluster *c;
	cohort_fsck_options o;
	cohort_fsck_problem_fn fn;
	void *arg;
	cohort_fsck_summary *sum;
	int repair;
	/* the file server's clock */
	int64_t now_ns;
	/* the first error that says the root's mount is gone, and its text */
	int cut_errno;
	char cut_msg[512];
	int64_t stale_ms;
	int64_t grace_ms;
	int64_t settle_spent_ms;
	/* every file under the root, sorted by path */
	struct file *files;
	size_t nfiles, capfiles;
	/* this run's lost+found */
	char lf_rel[64];
	int lf_fd;
	uint64_t lf_off;
	/* locks held while repairing */
	cohort_lock *store_lock, *journal_lock;
	struct stale_lease *stale;
	size_t nstale;
	/* journal */
	int head_ok;
	struct cohort__head h;
	/* repair: committed revisions to replace by lost records */
	struct lost_fix *fixes;
	size_t nfixes;
	int chain_ok;
	uint64_t first_phys;
	unsigned char *buf;
	size_t bufcap;
	uint64_t buf_off;
	size_t buf_len;
	uint64_t bytes_done, bytes_total;
	int64_t progress_at;
	/* store */
	cohort_store *st;
	int snap_state;
	char snap_err[512];
	struct cohort__index *snap, *jix;
	int mode;
	int jix_ok;
	int compared;
	char mismatch[512];
	char (*refs)[33];
	size_t nrefs, caprefs;
};

/* ---- reporting ---------------------------------------------------------- */

static struct file *file_find(struct fsck *f, const char *rel);
static int stat_settled(struct cohort__stat *st, const char *path,
			int confirm_absent);
static void rebuild_seg_header(struct fsck *f, struct seg *s);
static int rebuild_head(struct fsck *f, char *moved, size_t msize);

static int note_cutoff_msg(struct fsck *f, int e, const char *msg);
static void report(struct fsck *f, const char *kind, const char *rel,
		   int repaired, uint64_t rev, int64_t off, const char *moved,
		   const char *fmt, ...) COHORT__PRINTF(8, 9);
static void report(struct fsck *f, const char *kind, const char *rel,
		   int repaired, uint64_t rev, int64_t off, const char *moved,
		   const char *fmt, ...)
{
	cohort_fsck_problem p;
	struct file *fl;
	char detail[1024];
	va_list ap;

	/* Once the mount is gone nothing read says anything about the root:
	 * the run ends with an operational error, not with problems. */
	if (f->cut_errno)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/* Backstop for the checks that pass on a failed call's message, not
	 * its errno: the OS layer ends every message with strerror(). */
	{
		static const int cut[] = { ENOTCONN, ENODEV, EHOSTDOWN,
					   EHOSTUNREACH, ETIMEDOUT };
		size_t k;

		for (k = 0; k < sizeof(cut) / sizeof(cut[0]); k++)
			if (strstr(detail, strerror(cut[k])) &&
			    note_cutoff_msg(f, cut[k], detail))
				return;
	}
	p.kind = kind;
	p.path = rel;
	p.detail = detail;
	p.repaired = repaired;
	p.rev = rev;
	p.offset = off;
	p.moved_to = moved && moved[0] ? moved : NULL;
	f->sum->problems++;
	if (repaired)
		f->sum->repaired++;
	if ((fl = file_find(f, rel)))
		fl->flags |= F_REPORTED;
	if (f->fn)
		f->fn(&p, f->arg);
}

#define REPORT(f, kind, rel, repaired, ...) \
	report(f, kind, rel, repaired, 0, -1, NULL, __VA_ARGS__)

static void progress(struct fsck *f, const char *phase, uint64_t done,
		     uint64_t total, int force)
{
	int64_t now;

	if (!f->o.progress)
		return;
	now = cohort__os_mono_ms();
	if (!force && now - f->progress_at < 100)
		return;
	f->progress_at = now;
	f->o.progress(phase, done, total, f->o.progress_arg);
}

/* snprintf without truncation warnings: details are cut, by design. */
static void bprintf(char *out, size_t size, const char *fmt, ...)
	COHORT__PRINTF(3, 4);
static void bprintf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
}

/* The message of the last error, for a detail; clears it. */
static const char *why_failed(char *buf, size_t size)
{
	snprintf(buf, size, "%s", cohort_error_last());
	cohort__error_clear();
	return buf;
}

/*
 * A lost mount (ENOTCONN, ENODEV, EHOSTDOWN, ...) is no answer about the
 * file asked for: fsck cannot run, and reports nothing it read after it.
 * EIO and ESTALE are answers about one file: it is unreadable.  ENOENT
 * alone means missing.
 */
static int mount_gone(int e)
{
	return cohort__os_errno_is_cutoff(e) && e != EIO && e != ESTALE;
}

/* 1 (and the error remembered, the thread's message cleared) if 'e', the
 * errno of the call that failed, says the mount is gone; 'msg' is that
 * call's message (NULL: the thread's). */
static int note_cutoff_msg(struct fsck *f, int e, const char *msg)
{
	if (!mount_gone(e))
		return 0;
	if (!msg)
		msg = cohort_error_last();
	if (!f->cut_errno) {
		f->cut_errno = e;
		snprintf(f->cut_msg, sizeof(f->cut_msg), "%s",
			 msg[0] ? msg : strerror(e));
	}
	cohort__error_clear();
	return 1;
}

static int note_cutoff(struct fsck *f, int e)
{
	return note_cutoff_msg(f, e, NULL);
}

/* The operational error once the mount is gone, else 0. */
static int cutoff_rc(const struct fsck *f)
{
	if (!f->cut_errno)
		return 0;
	return cohort__error_sys(COHORT_ERROR, f->cut_errno,
				 "%s: the root's mount is gone", f->cut_msg);
}

/* ---- paths and the file list -------------------------------------------- */

static int abs_path(struct fsck *f, char *buf, size_t size, const char *rel)
{
	return cohort__root_path(buf, size, f->c, "%s", rel);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->rel,
		      ((const struct file *)b)->rel);
}

static struct file *file_find(struct fsck *f, const char *rel)
{
	struct file key;

	if (!f->nfiles)
		return NULL;
	key.rel = (char *)rel;
	return bsearch(&key, f->files, f->nfiles, sizeof(key), cmp_file);
}

static const char *base_of(const char *rel)
{
	const char *s = strrchr(rel, '/');

	return s ? s + 1 : rel;
}

/* Age of a file by the file server's clock; -1 when it cannot be told. */
static int64_t age_ms(const struct fsck *f, int64_t mtime_ns)
{
	int64_t a;

	if (!f->sum->server_clock)
		return -1;
	a = (f->now_ns - mtime_ns) / 1000000;
	return a < 0 ? 0 : a;
}

static void fmt_age(char *out, size_t size, int64_t ms)
{
	if (ms < 0)
		snprintf(out, size, "of unknown age");
	else if (ms < 120000)
		snprintf(out, size, "%lld s old", (long long)(ms / 1000));
	else if (ms < 7200000)
		snprintf(out, size, "%lld min old", (long long)(ms / 60000));
	else if (ms < 172800000)
		snprintf(out, size, "%lld h old", (long long)(ms / 3600000));
	else
		snprintf(out, size, "%lld days old", (long long)(ms / 86400000));
}

static int add_file(struct fsck *f, const char *rel,
		    const struct cohort__stat *st, int err)
{
	struct file *fl;

	if (f->nfiles == f->capfiles) {
		size_t cap = f->capfiles ? f->capfiles * 2 : 256;
		struct file *g = realloc(f->files, cap * sizeof(*g));

		if (!g)
			return cohort__error(COHORT_ERROR, "out of memory");
		f->files = g;
		f->capfiles = cap;
	}
	fl = &f->files[f->nfiles];
	memset(fl, 0, sizeof(*fl));
	if (!(fl->rel = strdup(rel)))
		return cohort__error(COHORT_ERROR, "out of memory");
	if (st) {
		fl->size = st->size;
		fl->mtime_ns = st->mtime_ns;
		fl->ino = st->ino;
		fl->mode = st->mode;
	} else {
		fl->flags = F_STATERR;
		fl->err = err;
	}
	f->nfiles++;
	return 0;
}

/* '.nfsXXXX': an NFS client's silly rename of an open, deleted file.  Not
 * ours, never damage (NFS fact 10). */
static int is_nfs_name(const char *name)
{
	return !strncmp(name, ".nfs", 4);
}

/*
 * List every regular file under the root, with fresh attributes.  The
 * folder itself is opened through the OS layer; a folder that cannot be
 * read is a problem, not an operational error (unless it is the root).
 */
static int walk(struct fsck *f)
{
	char **stack = NULL, path[PATH_MAX], msg[512];
	size_t nstack = 0, capstack = 0;
	int rc = 0;

	stack = malloc(sizeof(*stack) * 16);
	if (!stack || !(stack[0] = strdup("")))
		return cohort__error(COHORT_ERROR, "out of memory");
	capstack = 16;
	nstack = 1;
	while (nstack) {
		char *rel = stack[--nstack];
		struct dirent *de;
		DIR *d;
		int fd;

		if (rel[0])
			rc = abs_path(f, path, sizeof(path), rel);
		else
			snprintf(path, sizeof(path), "%s",
				 cohort_cluster_root(f->c));
		if (!rc)
			rc = cohort__os_open(&fd, path,
					     O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
		if (rc) {
			if (note_cutoff(f, errno)) {
				rc = cutoff_rc(f);
				free(rel);
				goto out;
			}
			if (!rel[0]) {
				free(rel);
				goto out;
			}
			if (rc != COHORT_ENOTFOUND)
				REPORT(f, "unreadable", rel, 0,
				       "folder cannot be read: %s",
				       why_failed(msg, sizeof(msg)));
			cohort__error_clear();
			rc = 0;
			free(rel);
			continue;
		}
		if (!(d = fdopendir(fd))) {
			cohort__os_close_quiet(fd);
			REPORT(f, "unreadable", rel[0] ? rel : ".", 0,
			       "folder cannot be listed: %s", strerror(errno));
			free(rel);
			continue;
		}
		for (;;) {
			char crel[PATH_MAX], cpath[PATH_MAX];
			struct cohort__stat st;
			int n;

			errno = 0;
			if (!(de = readdir(d)))
				break;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			    is_nfs_name(de->d_name) ||
			    (!rel[0] && !strcmp(de->d_name, LF_DIR)))
				continue;
			n = snprintf(crel, sizeof(crel), "%s%s%s", rel,
				     rel[0] ? "/" : "", de->d_name);
			if (n < 0 || (size_t)n >= sizeof(crel) ||
			    abs_path(f, cpath, sizeof(cpath), crel)) {
				cohort__error_clear();
				continue;
			}
			rc = stat_settled(&st, cpath, 0);
			if (rc == COHORT_ENOTFOUND) { /* gone meanwhile */
				cohort__error_clear();
				rc = 0;
				continue;
			}
			if (rc) {
				int e = errno;

				if (note_cutoff(f, e)) {
					rc = cutoff_rc(f);
					break;
				}
				cohort__error_clear();
				if ((rc = add_file(f, crel, NULL, e)))
					break;
				continue;
			}
			if (S_ISDIR(st.mode)) {
				char *s = strdup(crel);

				if (!s) {
					rc = cohort__error(COHORT_ERROR,
							   "out of memory");
					break;
				}
				if (nstack == capstack) {
					char **g = realloc(stack, capstack * 2 *
								  sizeof(*g));

					if (!g) {
						free(s);
						rc = cohort__error(COHORT_ERROR,
								   "out of memory");
						break;
					}
					stack = g;
					capstack *= 2;
				}
				stack[nstack++] = s;
			} else if (S_ISREG(st.mode)) {
				if ((rc = add_file(f, crel, &st, 0)))
					break;
				if ((f->nfiles & 1023) == 0)
					progress(f, "listing files", f->nfiles,
						 0, 0);
			}
		}
		if (!rc && errno && !de)
			REPORT(f, "unreadable", rel[0] ? rel : ".", 0,
			       "folder cannot be listed: %s", strerror(errno));
		closedir(d);
		free(rel);
		if (rc)
			break;
	}
out:
	while (nstack)
		free(stack[--nstack]);
	free(stack);
	if (f->nfiles)
		qsort(f->files, f->nfiles, sizeof(f->files[0]), cmp_file);
	f->sum->files = f->nfiles;
	progress(f, "listing files", f->nfiles, f->nfiles, 1);
	return rc;
}

/* ---- lost+found ----------------------------------------------------------- */

static int lf_write(struct fsck *f, const char *text)
{
	char path[PATH_MAX];
	size_t len = strlen(text);
	int rc;

	if ((rc = cohort__root_path(path, sizeof(path), f->c, "%s/MANIFEST",
				    f->lf_rel)) ||
	    (rc = cohort__os_pwrite_full(f->lf_fd, text, len, f->lf_off, path)) ||
	    (rc = cohort__os_fdatasync(f->lf_fd, path)))
		return rc;
	f->lf_off += len;
	return 0;
}

/*
 * This run's folder, lost+found/<UTC time>, and its MANIFEST, created on
 * the first need.  The MANIFEST is created O_EXCL: of two runs that pick
 * the same second, the second takes the next name.
 */
static int lf_begin(struct fsck *f)
{
	char stamp[32], path[PATH_MAX], text[1024];
	time_t t = (time_t)(cohort__os_wall_ms() / 1000);
	struct tm tm;
	int rc, i;

	if (f->lf_fd >= 0)
		return 0;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if ((rc = cohort__root_path(path, sizeof(path), f->c, LF_DIR)) ||
	    (rc = cohort__os_mkdir(path, cohort__dir_mode(f->c))))
		return rc;
	for (i = 0; i < 1000; i++) {
		if (i)
			snprintf(f->lf_rel, sizeof(f->lf_rel), LF_DIR "/%s-%d",
				 stamp, i);
		else
			snprintf(f->lf_rel, sizeof(f->lf_rel), LF_DIR "/%s",
				 stamp);
		if ((rc = cohort__root_path(path, sizeof(path), f->c, "%s",
					    f->lf_rel)) ||
		    (rc = cohort__os_mkdir(path, cohort__dir_mode(f->c))) ||
		    (rc = cohort__root_path(path, sizeof(path), f->c,
					    "%s/MANIFEST", f->lf_rel)))
			return rc;
		rc = cohort__os_open(&f->lf_fd, path,
				     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
				     cohort__file_mode(f->c));
		if (rc != COHORT_EEXISTS)
			break;
		cohort__error_clear();
	}
	if (rc) {
		f->lf_fd = -1;
		return rc;
	}
	snprintf(f->sum->lost_found, sizeof(f->sum->lost_found), "%s",
		 f->lf_rel);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(text, sizeof(text),
		 "# cohort fsck --repair: what was moved or cut out of the root\n"
		 "# cluster %s, node %s, started %s\n"
		 "# one line per item: FILE (under this folder) <TAB> WHAT IT "
		 "WAS <TAB> WHY IT MOVED\n",
		 cohort_cluster_id(f->c),
		 cohort_cluster_node(f->c) ? cohort_cluster_node(f->c) : "-",
		 stamp);
	return lf_write(f, text);
}

/* MANIFEST line: tabs and newlines in the fields become spaces. */
static int lf_note(struct fsck *f, const char *file, const char *what,
		   const char *why)
{
	char line[2048];
	size_t i;
	int n = snprintf(line, sizeof(line), "%s\t%s\t%s", file, what, why);

	if (n < 0)
		return COHORT_ERROR;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	for (i = 0; i < (size_t)n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[n] = '\n';
	line[n + 1] = '\0';
	return lf_write(f, line);
}

static int mkdir_parent(struct fsck *f, const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash || (size_t)(slash - path) >= sizeof(dir))
		return cohort__error(COHORT_EINVAL, "bad path '%s'", path);
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return cohort__os_mkdir_p(dir, cohort__dir_mode(f->c));
}

/*
 * Move 'rel' into this run's lost+found under the same relative path;
 * 'moved' (size 'size') gets where, relative to the root.  The MANIFEST
 * line is durable before the rename.
 */
static int lf_move(struct fsck *f, const char *rel, const char *what,
		   const char *why, char *moved, size_t size)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct file *fl;
	int rc;

	moved[0] = '\0';
	if ((rc = lf_begin(f)))
		return rc;
	if (snprintf(moved, size, "%s/%s", f->lf_rel, rel) >= (int)size) {
		moved[0] = '\0';
		return cohort__error(COHORT_EINVAL, "path too long: '%s'", rel);
	}
	if ((rc = abs_path(f, from, sizeof(from), rel)) ||
	    (rc = abs_path(f, to, sizeof(to), moved)) ||
	    (rc = mkdir_parent(f, to)) || (rc = lf_note(f, rel, what, why)) ||
	    (rc = cohort__os_rename(from, to))) {
		moved[0] = '\0';
		return rc;
	}
	if ((fl = file_find(f, rel)))
		fl->flags |= F_MOVED;
	return 0;
}

/* Create 'name' (relative to this run's folder) holding 'len' bytes. */
static int lf_create(struct fsck *f, const char *name, int *fd, char *path,
		     size_t size)
{
	int rc;

	if ((rc = lf_begin(f)) ||
	    (rc = cohort__root_path(path, size, f->c, "%s/%s", f->lf_rel,
				    name)) ||
	    (rc = mkdir_parent(f, path)))
		return rc;
	return cohort__os_open(fd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
			       cohort__file_mode(f->c));
}

/* Save a copy of 'buf' as 'name' in this run's folder (synced). */
static int lf_save_buf(struct fsck *f, const char *name, const void *buf,
		       size_t len, const char *what, const char *why,
		       char *moved, size_t size)
{
	char path[PATH_MAX];
	int fd, rc;

	moved[0] = '\0';
	if ((rc = lf_create(f, name, &fd, path, sizeof(path))))
		return rc;
	rc = cohort__os_write_full(fd, buf, len, path);
	if (!rc)
		rc = cohort__os_fsync(fd, path);
	if (rc) {
		cohort__os_close_quiet(fd);
		return rc;
	}
	if ((rc = cohort__os_close(fd, path)) || (rc = lf_note(f, name, what, why)))
		return rc;
	bprintf(moved, size, "%s/%s", f->lf_rel, name);
	return 0;
}

/* Copy bytes [off, end) of 'src_fd' into 'name' in this run's folder. */
static int lf_save_range(struct fsck *f, const char *name, int src_fd,
			 const char *src, uint64_t off, uint64_t end,
			 const char *what, const char *why, char *moved,
			 size_t size)
{
	char path[PATH_MAX];
	int fd, rc = 0;

	moved[0] = '\0';
	if ((rc = lf_create(f, name, &fd, path, sizeof(path))))
		return rc;
	while (!rc && off < end) {
		size_t want = end - off > f->bufcap ? f->bufcap : (size_t)(end - off);
		size_t got;

		rc = cohort__os_pread_full(src_fd, f->buf, want, off, &got, src);
		if (!rc && got != want)
			rc = cohort__error(COHORT_ERROR, "'%s' shrank while read",
					   src);
		if (!rc)
			rc = cohort__os_write_full(fd, f->buf, got, path);
		off += got;
	}
	f->buf_len = 0; /* the read window is gone */
	if (!rc)
		rc = cohort__os_fsync(fd, path);
	if (rc) {
		cohort__os_close_quiet(fd);
		return rc;
	}
	if ((rc = cohort__os_close(fd, path)) || (rc = lf_note(f, name, what, why)))
		return rc;
	bprintf(moved, size, "%s/%s", f->lf_rel, name);
	return 0;
}

/* ---- the file server's clock -------------------------------------------- */

static void server_clock(struct fsck *f)
{
	if (cohort__server_now_ns(&f->now_ns, f->c, "nodes") == 0)
		f->sum->server_clock = 1;
	cohort__error_clear();
}

/*
 * Check-only: poll 'done' until it says the thing in question was a write
 * in flight, while this run's settle budget lasts.  A healthy busy cluster
 * is never caught mid-step for long (a commit between its data write and
 * its head publish, a janitor between publishing the tail and unlinking);
 * a step that stays undone for SETTLE_BUDGET_MS is one a dead process left.
 * The budget is the run's, not each check's: a root with many leftovers
 * costs one wait, not one per leftover.
 */
static int settled(struct fsck *f, int (*done)(struct fsck *, const void *),
		   const void *arg)
{
	for (;;) {
		if (done(f, arg))
			return 1;
		if (f->settle_spent_ms >= SETTLE_BUDGET_MS)
			return 0;
		cohort__os_sleep_ms(SETTLE_STEP_MS);
		f->settle_spent_ms += SETTLE_STEP_MS;
	}
}

/*
 * stat 'path' where another process may be renaming a new file over it.
 * Two answers can be transient then: ESTALE (an NFS client holding the
 * replaced file's handle, NFS.md fact 8) and, on a FUSE view whose own
 * process did the rename, ENOENT (libfuse's path-based node table has the
 * name unhashed for a moment; measured on bindfs: one stat in ten during a
 * tight rename loop).  Both are looked at again a few times; ENOENT is
 * believed only when every look agrees, and only with 'confirm_absent'
 * (where "gone meanwhile" is an answer, one look is enough).
 */
static int stat_settled(struct cohort__stat *st, const char *path,
			int confirm_absent)
{
	int k, rc;

	for (k = 0;; k++) {
		rc = cohort__os_stat(st, path, 1);
		if (k + 1 >= ABSENT_LOOKS ||
		    !(rc == COHORT_ESTALE ||
		      (rc == COHORT_ENOTFOUND && confirm_absent)))
			return rc;
		cohort__error_clear();
		cohort__os_sleep_ms(k);
	}
}

/* ---- identity and layout ------------------------------------------------- */

static void check_identity(struct fsck *f)
{
	char path[PATH_MAX], val[64], msg[512], *text = NULL;
	size_t len;
	int rc;

	if (abs_path(f, path, sizeof(path), "cohort.id")) {
		cohort__error_clear();
		return;
	}
	rc = cohort__os_read_file(&text, &len, path, 4096);
	if (rc && note_cutoff(f, errno))
		return;
	if (rc) {
		REPORT(f, "identity", "cohort.id", 0, "cannot be read: %s",
		       why_failed(msg, sizeof(msg)));
		return;
	}
	if (strncmp(text, "cohort-format ", 14) ||
	    cohort__kv_get(text, "cohort-format", val, sizeof(val)))
		REPORT(f, "identity", "cohort.id", 0,
		       "is not a cohort identity file (no 'cohort-format' line)");
	else if (strtol(val, NULL, 10) != COHORT_FORMAT_VERSION)
		REPORT(f, "identity", "cohort.id", 0,
		       "has format version %s; this cohort reads version %d",
		       val, COHORT_FORMAT_VERSION);
	else if (cohort__kv_get(text, "cluster", val, sizeof(val)) ||
		 strcmp(val, cohort_cluster_id(f->c)))
		REPORT(f, "identity", "cohort.id", 0,
		       "names no cluster, or not the one it named when opened");
	else if (cohort__kv_get(text, "created", val, sizeof(val)))
		REPORT(f, "identity", "cohort.id", 0, "has no 'created' line");
	cohort__error_clear();
	free(text);
}

static void check_layout(struct fsck *f)
{
	static const char *const dirs[] = { "journal", "nodes", "locks" };
	char path[PATH_MAX], msg[512];
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		struct cohort__stat st;
		int rc, e, fixed = 0;

		if (abs_path(f, path, sizeof(path), dirs[i]))
			continue;
		rc = cohort__os_stat(&st, path, 1);
		e = errno;
		if (rc == 0 && S_ISDIR(st.mode))
			continue;
		if (rc && rc != COHORT_ENOTFOUND) {
			/* Not known to be missing: never "created". */
			if (note_cutoff(f, e))
				return;
			REPORT(f, "unreadable", dirs[i], 0,
			       "folder is unreadable%s: %s",
			       e == EIO || e == ESTALE ? " (I/O error)" : "",
			       why_failed(msg, sizeof(msg)));
			continue;
		}
		cohort__error_clear();
		if (rc == 0) {
			REPORT(f, "layout", dirs[i], 0,
			       "is not a folder (move it away by hand)");
			continue;
		}
		/* A missing journal folder is not cured by a new one. */
		if (f->repair && strcmp(dirs[i], "journal")) {
			if (cohort__os_mkdir(path, cohort__dir_mode(f->c)) == 0)
				fixed = 1;
			else
				why_failed(msg, sizeof(msg));
		}
		REPORT(f, "layout", dirs[i], fixed, "folder is missing%s",
		       fixed ? "; created" : "");
	}
}

/* ---- locks --------------------------------------------------------------- */

/* Leases are parsed by lock.c's own parser (cohort__lease_parse), so fsck
 * and the lock protocol judge a lease the same way. */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/*
 * Leases, break files and leftovers of dead breakers, judged as the lock
 * protocol judges them: a lease written by a process of this very host and
 * boot whose pid is gone, or one unchanged for lease_timeout + skew_margin
 * by the file server's clock.  Stale leases are only collected here:
 * repair breaks them through the protocol once it holds its own locks.
 */
/*
 * Is the lease at 'path' still 'text'?  Read again after its holder was
 * judged: a holder that released the lock and exited between the first
 * read and the pid check looks dead while the lease it held is already
 * gone.  A process that is dead now released nothing after this read, so
 * one read more is exact.
 */
static int lease_unchanged(const char *path, const char *text, size_t len)
{
	char *now = NULL;
	size_t nlen;
	int same;

	if (cohort__os_read_file(&now, &nlen, path, 4096)) {
		cohort__error_clear();
		return 0;
	}
	same = nlen == len && !memcmp(now, text, len);
	free(now);
	return same;
}

static int check_locks(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->nfiles; i++) {
		struct file *fl = &f->files[i];
		const char *name = fl->rel + 6;
		char agebuf[32], msg[512], moved[PATH_MAX];
		int64_t age;

		if (strncmp(fl->rel, "locks/", 6) || strchr(name, '/') ||
		    cohort__os_is_temp_name(name) || (fl->flags & F_STATERR))
			continue;
		age = age_ms(f, fl->mtime_ns);
		fmt_age(agebuf, sizeof(agebuf), age);
		if (ends_with(name, ".lease")) {
			char path[PATH_MAX], *text = NULL;
			struct stale_lease *sl, *g;
			struct cohort__lease_view v;
			size_t len, nl = strlen(name) - 6;
			int dead_here, old;

			f->sum->leases++;
			if (abs_path(f, path, sizeof(path), fl->rel) ||
			    cohort__os_read_file(&text, &len, path, 4096)) {
				cohort__error_clear();
				continue; /* released meanwhile, or unreadable:
					     the generic check says which */
			}
			cohort__lease_parse(&v, text, len);
			dead_here = v.valid && !strcmp(v.host, cohort__os_host()) &&
				    !strcmp(v.boot, cohort__os_boot_id()) &&
				    !cohort__os_pid_alive(v.pid);
			old = age >= 0 && age >= f->stale_ms;
			if ((!dead_here && !old) ||
			    !lease_unchanged(path, text, len)) {
				free(text);
				continue;
			}
			g = realloc(f->stale, (f->nstale + 1) * sizeof(*g));
			if (!g) {
				free(text);
				return cohort__error(COHORT_ERROR, "out of memory");
			}
			f->stale = g;
			sl = &f->stale[f->nstale++];
			memset(sl, 0, sizeof(*sl));
			snprintf(sl->name, sizeof(sl->name), "%.*s", (int)nl, name);
			snprintf(sl->rel, sizeof(sl->rel), "%s", fl->rel);
			sl->text = text;
			sl->len = len;
			if (!v.valid)
				snprintf(sl->detail, sizeof(sl->detail),
					 "lease of lock '%s' is damaged and unchanged "
					 "for %s (stale after %lld ms)", sl->name,
					 agebuf, (long long)f->stale_ms);
			else
				snprintf(sl->detail, sizeof(sl->detail),
					 "lease of lock '%s' held by node '%s' on "
					 "host '%s' (pid %ld) is stale: %s",
					 sl->name, v.node, v.host, v.pid,
					 dead_here ? "that process is gone" :
					 "not refreshed for longer than lease_timeout"
					 " + skew_margin");
			if (!sl->name[0] || !cohort__name_valid(sl->name))
				sl->name[0] = '\0';
			continue;
		}
		if (age < 0 || age < f->stale_ms)
			continue;
		if (ends_with(name, ".break")) {
			int rc = 0;

			if (f->repair)
				rc = lf_move(f, fl->rel, "break file of a lock",
					     "left by a breaker that died; unchanged "
					     "past lease_timeout + skew_margin",
					     moved, sizeof(moved));
			report(f, "lock.break", fl->rel, f->repair && !rc, 0, -1,
			       moved, "break file left by a dead breaker, %s%s%s",
			       agebuf, rc ? "; cannot move it: " : "",
			       rc ? why_failed(msg, sizeof(msg)) : "");
		} else if (strstr(name, ".lease.broken.") ||
			   strstr(name, ".lease.released.")) {
			/* cohort_lock_release() sets its lease aside the same
			 * way before removing it: a holder killed in between
			 * leaves one. */
			const char *who = strstr(name, ".lease.broken.") ?
					  "breaker" : "holder releasing it";
			int rc = 0;

			if (f->repair)
				rc = lf_move(f, fl->rel, "a lease set aside",
					     "left by a process that died before "
					     "removing it", moved, sizeof(moved));
			report(f, "lock.leftover", fl->rel, f->repair && !rc, 0,
			       -1, moved, "lease a %s set aside and never "
			       "removed, %s%s%s", who, agebuf,
			       rc ? "; cannot move it: " : "",
			       rc ? why_failed(msg, sizeof(msg)) : "");
		}
	}
	return 0;
}

/* Repair: break each stale lease by taking its lock (lock.c breaks it). */
static void repair_leases(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->nstale; i++) {
		struct stale_lease *sl = &f->stale[i];
		char moved[PATH_MAX], msg[512];
		int rc = 0, broken = 0;

		if (!f->repair) {
			REPORT(f, "lock.stale", sl->rel, 0, "%s", sl->detail);
			continue;
		}
		/* A copy of what is broken, for the record. */
		rc = lf_save_buf(f, sl->rel, sl->text, sl->len, "a stale lease",
				 "broken by the lock protocol (fsck took the lock)",
				 moved, sizeof(moved));
		if (rc) {
			why_failed(msg, sizeof(msg));
			moved[0] = '\0';
			rc = 0;
		}
		if (!sl->name[0]) {
			rc = cohort__error(COHORT_EINVAL, "'%s' names no valid lock",
					   sl->rel);
		} else if (!strcmp(sl->name, "journal") ||
			   !strcmp(sl->name, "store")) {
			broken = 1; /* repair holds it: broken on the way in */
		} else if (cohort_lock_mode_effective(f->c) == COHORT_LOCK_FCNTL) {
			/* No lease in this mode: nobody reads the file. */
			char m2[PATH_MAX];

			rc = lf_move(f, sl->rel, "a stale lease",
				     "lock_mode fcntl does not use leases", m2,
				     sizeof(m2));
			broken = !rc;
		} else {
			cohort_lock *l = NULL;

			rc = cohort_lock_acquire(&l, f->c, sl->name,
						 BREAK_TIMEOUT_MS);
			if (!rc) {
				broken = 1;
				rc = cohort_lock_release(l);
				if (rc)
					cohort__error_clear();
				rc = 0;
			}
		}
		report(f, "lock.stale", sl->rel, broken, 0, -1, moved, "%s%s%s",
		       sl->detail, broken ? "; broken" : "; not broken: ",
		       broken ? "" : why_failed(msg, sizeof(msg)));
	}
}

/* ---- the journal --------------------------------------------------------- */

static int buf_reserve(struct fsck *f, size_t need)
{
	unsigned char *g;

	if (need <= f->bufcap)
		return 0;
	g = realloc(f->buf, need);
	if (!g)
		return cohort__error(COHORT_ERROR, "out of memory");
	f->buf = g;
	f->bufcap = need;
	f->buf_len = 0;
	return 0;
}

/*
 * Make bytes [off, off + need) of the segment available (as far as 'limit'
 * and the file allow): '*p' and '*avail' describe them.
 */
static int window(struct fsck *f, int fd, const char *path, uint64_t off,
		  size_t need, uint64_t limit, const unsigned char **p,
		  size_t *avail)
{
	size_t want, got;
	int rc;

	if (off >= f->buf_off && off + need <= f->buf_off + f->buf_len) {
		*p = f->buf + (off - f->buf_off);
		*avail = f->buf_len - (size_t)(off - f->buf_off);
		return 0;
	}
	want = need > BUF_SIZE ? need : BUF_SIZE;
	if (want > limit - off)
		want = (size_t)(limit - off);
	if ((rc = buf_reserve(f, want)))
		return rc;
	if ((rc = cohort__os_pread_full(fd, f->buf, want, off, &got, path)))
		return rc;
	f->buf_off = off;
	f->buf_len = got;
	*p = f->buf;
	*avail = got;
	return 0;
}

static void add_ref(struct fsck *f, const char *hash)
{
	if (strlen(hash) != 32 || strspn(hash, "0123456789abcdef") != 32)
		return;
	if (f->nrefs == f->caprefs) {
		size_t cap = f->caprefs ? f->caprefs * 2 : 64;
		char(*g)[33] = realloc(f->refs, cap * sizeof(*g));

		if (!g)
			return; /* conservative callers treat "unknown" as used */
		f->refs = g;
		f->caprefs = cap;
	}
	memcpy(f->refs[f->nrefs++], hash, 33);
}

static int cmp_pkg_key(const void *a, const void *b)
{
	const cohort_package *x = *(const cohort_package *const *)a;
	const cohort_package *y = *(const cohort_package *const *)b;
	int r = strcmp(x->ns, y->ns);

	return r ? r : strcmp(x->id, y->id);
}

static int pkg_same(const cohort_package *a, const cohort_package *b)
{
	size_t i;

	if (strcmp(a->version, b->version) || strcmp(a->hash, b->hash) ||
	    a->size != b->size || strcmp(a->ext, b->ext) ||
	    a->dependency != b->dependency || a->rev != b->rev ||
	    a->installed_ms != b->installed_ms || a->ndeps != b->ndeps)
		return 0;
	for (i = 0; i < a->ndeps; i++)
		if (strcmp(a->deps[i], b->deps[i]))
			return 0;
	return 1;
}

/*
 * Compare two indexes as sets of packages keyed by (namespace, id); write
 * the first difference into 'out' and return 1, or return 0 when equal.
 */
static int index_diff(const struct cohort__index *x, const struct cohort__index *y,
		      char *out, size_t size)
{
	const cohort_package *vx, *vy, **sx = NULL, **sy = NULL;
	size_t nx, ny, i = 0, k = 0;
	int diff = 0;

	vx = cohort__store_index_packages(x, &nx, NULL);
	vy = cohort__store_index_packages(y, &ny, NULL);
	sx = malloc((nx + 1) * sizeof(*sx));
	sy = malloc((ny + 1) * sizeof(*sy));
	if (!sx || !sy) {
		free(sx);
		free(sy);
		bprintf(out, size, "out of memory comparing");
		return 1;
	}
	for (i = 0; i < nx; i++)
		sx[i] = &vx[i];
	for (i = 0; i < ny; i++)
		sy[i] = &vy[i];
	qsort(sx, nx, sizeof(*sx), cmp_pkg_key);
	qsort(sy, ny, sizeof(*sy), cmp_pkg_key);
	for (i = 0, k = 0; !diff && (i < nx || k < ny);) {
		int c = i == nx ? 1 : k == ny ? -1 : cmp_pkg_key(&sx[i], &sy[k]);
		const cohort_package *p = c <= 0 ? sx[i] : sy[k];

		if (c < 0) {
			bprintf(out, size, "the snapshot lists '%s' %s%s%s that "
				 "the journal does not install", p->id, p->version,
				 p->ns[0] ? " in namespace " : "", p->ns);
			diff = 1;
		} else if (c > 0) {
			bprintf(out, size, "the journal installs '%s' %s%s%s, "
				 "missing from the snapshot", p->id, p->version,
				 p->ns[0] ? " in namespace " : "", p->ns);
			diff = 1;
		} else {
			if (!pkg_same(sx[i], sy[k])) {
				bprintf(out, size, "'%s'%s%s differs: the snapshot "
					 "has %s (%s, revision %llu), the journal "
					 "%s (%s, revision %llu)", p->id,
					 p->ns[0] ? " in namespace " : "", p->ns,
					 sx[i]->version, sx[i]->hash,
					 (unsigned long long)sx[i]->rev,
					 sy[k]->version, sy[k]->hash,
					 (unsigned long long)sy[k]->rev);
				diff = 1;
			}
			i++;
			k++;
			continue;
		}
		if (c < 0)
			i++;
		else
			k++;
	}
	free(sx);
	free(sy);
	return diff;
}

/* The index snapshot's revision (0 unless it loaded). */
static uint64_t snap_rev(const struct fsck *f)
{
	uint64_t rev = 0;
	size_t n;

	if (f->snap_state == SNAP_OK)
		(void)cohort__store_index_packages(f->snap, &n, &rev);
	return rev;
}

/* Before the index replay passes the snapshot's revision: compare. */
static void compare_at_snapshot(struct fsck *f)
{
	f->compared = 1;
	if (index_diff(f->snap, f->jix, f->mismatch, sizeof(f->mismatch)))
		f->snap_state = SNAP_DAMAGED;
}

/* A verified committed record, in revision order. */
static void on_record(struct fsck *f, const cohort__rec *r, const char *rel,
		      uint64_t off)
{
	char type[COHORT_NODE_ID_MAX + 1], node[COHORT_NODE_ID_MAX + 1];
	cohort_record out;
	uint64_t srev;

	f->sum->records++;
	if (r->type_len == strlen(COHORT_LOST_TYPE) &&
	    !memcmp(r->type, COHORT_LOST_TYPE, r->type_len)) {
		f->sum->lost_records++;
		/* It may have been a store record: a replay past it proves
		 * nothing about the index (the snapshot, if it covers it,
		 * is what is known). */
		if (f->mode == MODE_FULL ||
		    (f->mode == MODE_FROM_SNAPSHOT && r->rev > snap_rev(f)))
			f->jix_ok = 0;
		return;
	}
	if (r->type_len < 6 || memcmp(r->type, "store.", 6))
		return;
	memcpy(type, r->type, r->type_len);
	type[r->type_len] = '\0';
	memcpy(node, r->node, r->node_len);
	node[r->node_len] = '\0';
	if (!strcmp(type, "store.install")) {
		json_tokener *tok = json_tokener_new();
		json_object *o = tok ? json_tokener_parse_ex(tok, (const char *)r->data,
							     (int)r->len) : NULL,
			    *h;

		if (o && json_object_object_get_ex(o, "hash", &h) &&
		    json_object_is_type(h, json_type_string))
			add_ref(f, json_object_get_string(h));
		json_object_put(o);
		if (tok)
			json_tokener_free(tok);
	}
	if (f->mode == MODE_NONE || !f->jix_ok)
		return;
	srev = snap_rev(f);
	if (f->mode == MODE_FROM_SNAPSHOT && r->rev <= srev)
		return;
	if (f->mode == MODE_FULL && f->snap_state == SNAP_OK && !f->compared &&
	    r->rev > srev)
		compare_at_snapshot(f);
	out.rev = r->rev;
	out.time_ms = r->time_ms;
	out.node = node;
	out.type = type;
	out.data = r->data;
	out.len = r->len;
	if (cohort__store_index_apply(f->jix, &out)) {
		cohort__error_clear();
		f->jix_ok = 0;
		report(f, "store.record", rel, 0, r->rev, (int64_t)off, NULL,
		       "journal record %llu ('%s') at offset %llu is not a valid "
		       "store record: the index cannot be rebuilt past it",
		       (unsigned long long)r->rev, type, (unsigned long long)off);
	}
}

/*
 * Scan records from 'off' (revision 'rev') while off < 'limit' and
 * rev <= 'limit_rev'; 'deliver' passes each verified record on.
 */
static int scan(struct fsck *f, int fd, const char *path, const char *rel,
		uint64_t off, uint64_t limit, uint64_t rev, uint64_t limit_rev,
		int deliver, struct scan_res *res)
{
	int rc = 0;

	f->buf_len = 0;
	res->keep_off = off;
	res->keep_rev = rev - 1;
	res->last = 0;
	res->bad_rev = 0;
	for (;;) {
		const unsigned char *p;
		size_t avail, need = JREC_HDR;
		cohort__rec r;
		long size;

		if (off >= limit) {
			res->stop = ST_END;
			break;
		}
		if (rev > limit_rev) {
			res->stop = ST_REV;
			break;
		}
		if ((rc = window(f, fd, path, off, need, limit, &p, &avail)))
			break;
		size = cohort__rec_decode(&r, p, avail, &need);
		if (size == 0 && need <= limit - off && need > avail) {
			if ((rc = window(f, fd, path, off, need, limit, &p, &avail)))
				break;
			size = cohort__rec_decode(&r, p, avail, &need);
		}
		if (size == 0) {
			res->stop = ST_SHORT;
			break;
		}
		if (size < 0) {
			res->stop = ST_BAD;
			break;
		}
		if (r.rev != rev) {
			res->stop = ST_WRONGREV;
			res->bad_rev = r.rev;
			break;
		}
		if (deliver) {
			on_record(f, &r, rel, off);
			if ((f->sum->records & 4095) == 0)
				progress(f, "journal", f->bytes_done + off,
					 f->bytes_total, 0);
		}
		off += (uint64_t)size;
		res->last = r.last;
		if (r.last) {
			res->keep_off = off;
			res->keep_rev = rev;
		}
		rev++;
	}
	res->end_off = off;
	res->next_rev = rev;
	return rc;
}

struct fsck_window {
	struct fsck *f;
	int fd;
	const char *path;
	uint64_t limit;
};

static int fsck_window(void *ctx, uint64_t off, size_t need,
		       const unsigned char **p, size_t *avail)
{
	struct fsck_window *w = ctx;

	return window(w->f, w->fd, w->path, off, need, w->limit, p, avail);
}

/*
 * After damage at 'off': the next offset before 'limit' where a verified
 * record with a revision in (after, limit_rev] starts (the readers' own
 * resynchronization).  Returns 1 and sets '*at', '*rev' if found; an
 * unreadable stretch counts as not found.
 */
static int resync(struct fsck *f, int fd, const char *path, uint64_t off,
		  uint64_t limit, uint64_t after, uint64_t limit_rev,
		  uint64_t *at, uint64_t *rev)
{
	struct fsck_window w = { f, fd, path, limit };
	int rc;

	f->buf_len = 0;
	rc = cohort__rec_resync(fsck_window, &w, off, limit, after, limit_rev,
				at, rev);
	if (rc < 0) {
		cohort__error_clear();
		return 0;
	}
	return rc;
}

static const char *stop_why(const struct scan_res *res, char *buf, size_t size)
{
	switch (res->stop) {
	case ST_SHORT: return "is cut short";
	case ST_WRONGREV:
		snprintf(buf, size, "has the wrong revision (%llu)",
			 (unsigned long long)res->bad_rev);
		return buf;
	default: return "fails verification";
	}
}

static int read_head(struct fsck *f, struct cohort__head *h, char *err,
		     size_t size)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	int rc;

	if ((rc = abs_path(f, path, sizeof(path), "journal/head")))
		return rc;
	rc = cohort__os_read_file(&text, &len, path, 4096);
	if (rc) {
		snprintf(err, size, "%s", rc == COHORT_ENOTFOUND ? "is missing" :
			 cohort_error_last());
		cohort__error_clear();
		return rc;
	}
	rc = cohort__head_decode(h, (unsigned char *)text, len);
	free(text);
	if (rc) {
		snprintf(err, size, "holds no valid slot (%zu bytes): every "
			 "committed revision is unknown", len);
		return COHORT_ECORRUPT;
	}
	return 0;
}

/* Publish 'h' (repair holds the journal lock): the slot seq % 2, synced. */
static int head_publish(struct fsck *f, struct cohort__head *h)
{
	unsigned char slot[JHEAD_SLOT];
	char path[PATH_MAX];
	int fd, rc;

	if ((rc = cohort_lock_check(f->journal_lock)) ||
	    (rc = abs_path(f, path, sizeof(path), "journal/head")) ||
	    (rc = cohort__os_open(&fd, path, O_RDWR | O_NOFOLLOW, 0)))
		return rc;
	h->seq++;
	if (h->epoch == 0) {
		/* A version 1 head turns into version 2 (journal.c). */
		h->epoch = 1;
		if ((rc = cohort__os_ftruncate(fd, JHEAD_SIZE, path))) {
			cohort__os_close_quiet(fd);
			return rc;
		}
	}
	cohort__head_encode(slot, h);
	rc = cohort__os_pwrite_full(fd, slot, JHEAD_SLOT,
				    cohort__head_slot_off(h), path);
	if (!rc)
		rc = cohort__os_fdatasync(fd, path);
	if (!rc)
		rc = cohort__os_close(fd, path);
	else
		cohort__os_close_quiet(fd);
	return rc;
}

/* Save [off, size) of a segment to lost+found, then cut it there. */
static int cut_segment(struct fsck *f, int fd, const char *path,
		       const char *rel, uint64_t off, uint64_t size,
		       const char *why, char *moved, size_t msize)
{
	char name[PATH_MAX], what[256];
	int rc;

	snprintf(name, sizeof(name), "%s.bytes-%llu-%llu", rel,
		 (unsigned long long)off, (unsigned long long)size);
	snprintf(what, sizeof(what), "bytes %llu-%llu of %s",
		 (unsigned long long)off, (unsigned long long)size, rel);
	if ((rc = lf_save_range(f, name, fd, path, off, size, what, why, moved,
				msize)) ||
	    (rc = cohort_lock_check(f->journal_lock)) ||
	    (rc = cohort__os_ftruncate(fd, off, path)) ||
	    (rc = cohort__os_fdatasync(fd, path)))
		return rc;
	return 0;
}

static void seg_rel(char *out, size_t size, uint64_t no)
{
	snprintf(out, size, "journal/seg-%016llx", (unsigned long long)no);
}

static int open_seg(struct fsck *f, uint64_t no, int rw, int *fd, char *path,
		    size_t size)
{
	int rc;

	if ((rc = cohort__seg_path(path, size, cohort_cluster_root(f->c), no)))
		return rc;
	return cohort__os_open(fd, path, (rw ? O_RDWR : O_RDONLY) | O_NOFOLLOW, 0);
}

/*
 * Bytes past the head in the head segment: whole verified commits there are
 * durable (a writer died before publishing them) and are published, as the
 * next writer would; the rest is cut after a copy goes to lost+found.  A
 * check-only run reports them only if the head stays still meanwhile.
 */
struct tail_look {
	const struct cohort__head *h;
	int fd;
	const char *path;
	uint64_t size;
};

/* Has the head or the head segment moved since 'arg' (a tail_look) saw
 * them?  An unreadable head counts as moved: it is not this check's. */
static int tail_moved(struct fsck *f, const void *arg)
{
	const struct tail_look *tl = arg;
	struct cohort__head h2;
	struct cohort__stat st2;
	char err[256];

	if (read_head(f, &h2, err, sizeof(err)) || h2.seq != tl->h->seq ||
	    cohort__os_fstat(&st2, tl->fd, tl->path) || st2.size != tl->size) {
		cohort__error_clear();
		return 1;
	}
	return 0;
}

static int check_tail(struct fsck *f)
{
	char path[PATH_MAX], rel[64], moved[PATH_MAX], msg[512];
	struct cohort__head h = f->h;
	struct cohort__stat st;
	struct scan_res res;
	int fd, rc;

	seg_rel(rel, sizeof(rel), h.seg);
	if ((rc = open_seg(f, h.seg, f->repair, &fd, path, sizeof(path))))
		return rc;
	if ((rc = cohort__os_fstat(&st, fd, path)))
		goto out;
	if (st.size <= h.off)
		goto out;
	if ((rc = scan(f, fd, path, rel, h.off, st.size, h.rev + 1, UINT64_MAX,
		       0, &res)))
		goto out;
	if (!f->repair) {
		struct tail_look tl = { &h, fd, path, st.size };

		/* A writer between its data write and its head publish, or one
		 * at work right now: the head moves, or the bytes do. */
		if (settled(f, tail_moved, &tl))
			goto out;
	}
	if (res.keep_rev > h.rev) {
		int done = 0;

		rc = 0;
		if (f->repair) {
			struct cohort__head nh = h;
			struct scan_res r2;

			nh.rev = res.keep_rev;
			nh.off = res.keep_off;
			rc = head_publish(f, &nh);
			if (!rc) {
				/* Now committed: count and replay them. */
				rc = scan(f, fd, path, rel, h.off, nh.off, h.rev + 1,
					  nh.rev, 1, &r2);
				f->h = nh;
				f->sum->head = nh.rev;
				done = 1;
			}
		}
		report(f, "journal.unpublished-commit", rel, done, h.rev + 1,
		       (int64_t)h.off, NULL,
		       "revisions %llu-%llu (whole, verified commits) are durable "
		       "past the head at offset %llu: a writer died before "
		       "publishing them%s%s",
		       (unsigned long long)h.rev + 1,
		       (unsigned long long)res.keep_rev,
		       (unsigned long long)h.off,
		       done ? "; published" :
		       f->repair ? "; cannot publish: " :
		       "; the next append or 'cohort fsck --repair' publishes them",
		       rc ? why_failed(msg, sizeof(msg)) : "");
		if (rc)
			goto out;
	}
	if (st.size > res.keep_off) {
		int done = 0;

		moved[0] = '\0';
		if (f->repair) {
			rc = cut_segment(f, fd, path, rel, res.keep_off, st.size,
					 "uncommitted tail past the head: a writer "
					 "died while writing (never acknowledged)",
					 moved, sizeof(moved));
			done = !rc;
		}
		report(f, "journal.uncommitted-tail", rel, done, 0,
		       (int64_t)res.keep_off, moved,
		       "%llu bytes past the %s at offset %llu are not a whole "
		       "commit (a writer died while writing them; never "
		       "acknowledged)%s%s",
		       (unsigned long long)(st.size - res.keep_off),
		       res.keep_rev > h.rev ? "last whole commit" : "head",
		       (unsigned long long)res.keep_off,
		       done ? "; cut, saved to lost+found" :
		       f->repair ? "; cannot cut: " : "",
		       f->repair && !done ? why_failed(msg, sizeof(msg)) : "");
		rc = 0;
	}
out:
	cohort__os_close_quiet(fd);
	return rc;
}

/* Segments outside [tail_seg, seg]: left below the tail by a janitor that
 * died, or created past the head by a writer that died in a rollover. */
/* Is the segment 'arg' (a struct file) gone now, or inside the head's
 * range?  An unreadable head counts as yes: it is not this check's. */
static int stray_resolved(struct fsck *f, const void *arg)
{
	const struct file *fl = arg;
	struct cohort__head h2;
	struct cohort__stat st;
	char path[PATH_MAX], err[256];
	unsigned long long no = strtoull(fl->rel + 12, NULL, 16);
	int rc;

	if (abs_path(f, path, sizeof(path), fl->rel)) {
		cohort__error_clear();
		return 1;
	}
	rc = stat_settled(&st, path, 0);
	cohort__error_clear();
	if (rc)
		return 1;
	if (read_head(f, &h2, err, sizeof(err)))
		return 1;
	return no >= h2.tail_seg && no <= h2.seg;
}

static void check_stray_segments(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->nfiles; i++) {
		struct file *fl = &f->files[i];
		char moved[PATH_MAX], msg[512], *end;
		unsigned long long no;
		int below, rc = 0;

		if (strncmp(fl->rel, "journal/seg-", 12) || strlen(fl->rel) != 28 ||
		    (fl->flags & (F_STATERR | F_REPORTED | F_MOVED)))
			continue;
		errno = 0;
		no = strtoull(fl->rel + 12, &end, 16);
		if (*end || errno)
			continue;
		if (no >= f->h.tail_seg && no <= f->h.seg)
			continue;
		below = no < f->h.tail_seg;
		/* A janitor between publishing the tail and unlinking, or a
		 * writer between creating and publishing. */
		if (!f->repair && settled(f, stray_resolved, fl))
			continue;
		if (f->repair)
			rc = lf_move(f, fl->rel,
				     below ? "a journal segment below the tail" :
					     "a journal segment past the head",
				     below ? "every record in it was removed from "
					     "the journal (a janitor died before "
					     "removing the file)" :
					     "never published (a writer died while "
					     "starting it)", moved, sizeof(moved));
		report(f, below ? "journal.old-segment" : "journal.unpublished-segment",
		       fl->rel, f->repair && !rc, 0, -1, f->repair ? moved : NULL,
		       "segment %s the %s (segments %llu-%llu are the journal)%s%s",
		       below ? "below" : "past", below ? "tail" : "head",
		       (unsigned long long)f->h.tail_seg,
		       (unsigned long long)f->h.seg,
		       f->repair && !rc ? "; moved to lost+found" :
		       rc ? "; cannot move it: " : "",
		       rc ? why_failed(msg, sizeof(msg)) : "");
	}
}

/* Load the index snapshot into f->snap and set f->snap_state. */
static void load_snapshot(struct fsck *f)
{
	char path[PATH_MAX];
	struct cohort__stat st;
	int rc;

	f->snap_state = SNAP_ABSENT;
	/* Missing only when it is: the janitor and installs replace it by
	 * a rename, which a look can meet half-way (stat_settled). */
	if (abs_path(f, path, sizeof(path), "store/index") == 0 &&
	    stat_settled(&st, path, 1) != COHORT_ENOTFOUND) {
		rc = cohort__store_snapshot_load(f->snap, f->st);
		if (rc) {
			f->snap_state = SNAP_DAMAGED;
			if (rc == COHORT_ECORRUPT)
				snprintf(f->snap_err, sizeof(f->snap_err),
					 "index snapshot does not verify (its "
					 "checksum or an entry is damaged)");
			else
				bprintf(f->snap_err, sizeof(f->snap_err),
					"index snapshot cannot be read: %s",
					cohort_error_last());
		} else {
			f->snap_state = SNAP_OK;
		}
	}
	cohort__error_clear();
}

/* Decide how the store's index is rebuilt while the journal is scanned. */
static void store_begin(struct fsck *f)
{
	uint64_t srev = 0;
	int k;

	f->mode = MODE_NONE;
	if (cohort_store_open(&f->st, f->c) ||
	    cohort__store_index_new(&f->snap) || cohort__store_index_new(&f->jix)) {
		cohort__error_clear();
		return;
	}
	/* A snapshot behind the journal's tail may be one a janitor replaced
	 * after this run read the head (check-only: it writes the snapshot,
	 * then trims), or a load that met the replacing rename half-way
	 * (ENOENT on a FUSE view: read as an empty index at revision 0, the
	 * false store.index-behind CI met once in 162 runs): look again. */
	for (k = 0; k < ABSENT_LOOKS; k++) {
		if (k)
			cohort__os_sleep_ms(k);
		load_snapshot(f);
		srev = snap_rev(f);
		if (!f->head_ok || f->snap_state == SNAP_DAMAGED ||
		    (f->snap_state == SNAP_OK && srev + 1 >= f->h.tail_rev) ||
		    (f->snap_state == SNAP_ABSENT && f->h.tail_rev <= 1))
			break;
	}
	f->jix_ok = 1;
	if (!f->head_ok) {
		f->jix_ok = 0;
	} else if (f->first_phys == 1) {
		f->mode = MODE_FULL; /* the whole history is here */
		if (f->snap_state == SNAP_OK && srev == 0)
			compare_at_snapshot(f);
	} else if (f->snap_state == SNAP_OK && srev + 1 >= f->first_phys) {
		f->mode = MODE_FROM_SNAPSHOT;
		if (cohort__store_index_copy(f->jix, f->snap)) {
			cohort__error_clear();
			f->mode = MODE_NONE;
		}
	}
}

/* Repair: queue revisions [first, last] of segment 's' (bytes [off, end);
 * 'off' 0: the segment is missing) for lost records.  0, or -1 if the
 * queue cannot grow (then it is reported as left). */
static int add_fix(struct fsck *f, const struct seg *s, uint64_t off,
		   uint64_t end, uint64_t first, uint64_t last,
		   const char *fmt, ...) COHORT__PRINTF(7, 8);
static int add_fix(struct fsck *f, const struct seg *s, uint64_t off,
		   uint64_t end, uint64_t first, uint64_t last,
		   const char *fmt, ...)
{
	struct lost_fix *g, *x;
	va_list ap;

	g = realloc(f->fixes, (f->nfixes + 1) * sizeof(*g));
	if (!g)
		return -1;
	f->fixes = g;
	x = &f->fixes[f->nfixes++];
	memset(x, 0, sizeof(*x));
	x->seg = s->no;
	x->seg_first = s->state == 1 ? s->first : first;
	x->missing = off == 0;
	x->r.off = off;
	x->r.end = end;
	x->r.first = first;
	x->r.last = last;
	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
	return 0;
}

/*
 * Seal the head segment (repair): start the next one and publish it, as a
 * writer's rollover does, so that the damaged one can be written again
 * while no writer keeps it open.
 */
static int seal_head(struct fsck *f)
{
	unsigned char hdr[JSEG_HDR];
	char path[PATH_MAX], dir[PATH_MAX];
	struct cohort__head nh = f->h;
	int fd, rc;

	if ((rc = cohort_lock_check(f->journal_lock)) ||
	    (rc = open_seg(f, f->h.seg + 1, 0, &fd, path, sizeof(path))) == 0) {
		if (!rc) {
			cohort__os_close_quiet(fd);
			rc = cohort__error(COHORT_EEXISTS, "'%s' exists past the "
					   "head", path);
		}
		return rc;
	}
	cohort__error_clear();
	if ((rc = cohort__os_open(&fd, path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW,
				  cohort__file_mode(f->c))))
		return rc;
	cohort__seg_header2(hdr, f->h.seg + 1, f->h.rev + 1, f->h.epoch, f->h.off);
	rc = cohort__os_pwrite_full(fd, hdr, JSEG_HDR, 0, path);
	if (!rc)
		rc = cohort__os_fsync(fd, path);
	cohort__os_close_quiet(fd);
	if (!rc && (rc = abs_path(f, dir, sizeof(dir), "journal")) == 0)
		rc = cohort__os_fsync_dir(dir);
	if (rc)
		return rc;
	nh.seg = f->h.seg + 1;
	nh.off = JSEG_HDR;
	if ((rc = head_publish(f, &nh)))
		return rc;
	f->h = nh;
	return 0;
}

/*
 * Repair: replace every queued unreadable revision by a lost record, one
 * segment at a time (journal_repair.c): the damaged bytes to lost+found
 * first, then the segment written again (or made again, when missing),
 * then the head republished (a new sequence number makes readers that
 * met the old file look again).  Revisions stay contiguous; the loss is
 * named in each lost record and in the report.
 */
static void fix_lost(struct fsck *f)
{
	size_t i, k, nreg;
	char msg[512];

	for (i = 0; i < f->nfixes; i = k) {
		struct lost_fix *x = &f->fixes[i];
		struct cohort__lost_region *v = NULL;
		char rel[64], path[PATH_MAX], moved[PATH_MAX], name[PATH_MAX];
		char what[256];
		uint64_t end = 0, size = 0;
		int rc = 0, fd = -1;

		for (k = i + 1; k < f->nfixes && f->fixes[k].seg == x->seg; k++)
			;
		nreg = k - i;
		seg_rel(rel, sizeof(rel), x->seg);
		moved[0] = '\0';
		if ((rc = cohort_lock_check(f->journal_lock)))
			goto done;
		if (x->missing) {
			rc = cohort__seg_create_lost(f->c, x->seg, x->r.first,
						     x->r.last, x->why);
			goto done;
		}
		if (x->seg == f->h.seg && (rc = seal_head(f)))
			goto done;
		if (!(v = calloc(nreg, sizeof(*v)))) {
			rc = cohort__error(COHORT_ERROR, "out of memory");
			goto done;
		}
		if ((rc = open_seg(f, x->seg, 0, &fd, path, sizeof(path))))
			goto done;
		{
			struct cohort__stat st;

			if ((rc = cohort__os_fstat(&st, fd, path)))
				goto done;
			end = st.size;
		}
		for (k = i; k < i + nreg; k++) {
			struct cohort__lost_region *r = &f->fixes[k].r;

			v[k - i] = *r;
			if (r->end > end)
				end = r->end;
			snprintf(name, sizeof(name), "%s.bytes-%llu-%llu", rel,
				 (unsigned long long)r->off,
				 (unsigned long long)r->end);
			snprintf(what, sizeof(what), "bytes %llu-%llu of %s "
				 "(revisions %llu-%llu)",
				 (unsigned long long)r->off,
				 (unsigned long long)r->end, rel,
				 (unsigned long long)r->first,
				 (unsigned long long)r->last);
			if ((rc = lf_save_range(f, name, fd, path, r->off, r->end,
						what, "damaged committed records, "
						"replaced by lost records",
						moved, sizeof(moved))))
				goto done;
		}
		rc = cohort__seg_rewrite_lost(f->c, x->seg, x->seg_first, end, v,
					      nreg, x->why, &size);
done:
		cohort__os_close_quiet(fd);
		free(v);
		if (!rc)
			rc = head_publish(f, &f->h); /* readers: look again */
		for (k = i; k < i + nreg; k++) {
			struct lost_fix *y = &f->fixes[k];

			report(f, y->missing ? "journal.segment-missing" :
			       "journal.record", rel, !rc, y->r.first,
			       y->missing ? -1 : (int64_t)y->r.off, moved,
			       "revisions %llu-%llu cannot be read (%s)%s%s",
			       (unsigned long long)y->r.first,
			       (unsigned long long)y->r.last, y->why,
			       rc ? "; cannot replace them: " :
			       y->missing ? "; replaced by lost records" :
			       "; replaced by lost records (the damaged bytes "
			       "are in lost+found)",
			       rc ? why_failed(msg, sizeof(msg)) : "");
			if (!rc)
				f->sum->lost += y->r.last - y->r.first + 1;
		}
		k = i + nreg;
	}
	free(f->fixes);
	f->fixes = NULL;
	f->nfixes = 0;
}

/*
 * Repair: a head with no valid slot, rebuilt from the segments: the tail
 * is the lowest segment file and its header, the head the highest one and
 * the end of its last whole verified commit.  Both slots are written (in
 * place: the head's inode never changes), after a copy of the old bytes
 * went to lost+found.  Commits past the last whole one are left for the
 * tail check that follows (published or cut, as after any crash).
 */
static int rebuild_head(struct fsck *f, char *moved, size_t msize)
{
	struct cohort__head h;
	unsigned char hdr[JSEG_HDR], slot[JHEAD_SLOT];
	char path[PATH_MAX], rel[64], *text = NULL;
	uint64_t lo = UINT64_MAX, hi = 0, first;
	struct cohort__stat st;
	struct scan_res res;
	size_t i, got, len;
	int fd, rc;

	moved[0] = '\0';
	for (i = 0; i < f->nfiles; i++) {
		const char *rel0 = f->files[i].rel;
		char *end;
		unsigned long long no;

		if (strncmp(rel0, "journal/seg-", 12) || strlen(rel0) != 28)
			continue;
		errno = 0;
		no = strtoull(rel0 + 12, &end, 16);
		if (*end || errno || no == 0)
			continue;
		lo = no < lo ? no : lo;
		hi = no > hi ? no : hi;
	}
	if (!hi)
		return cohort__error(COHORT_ECORRUPT, "no journal segment left");
	memset(&h, 0, sizeof(h));
	h.tail_seg = lo;
	h.seg = hi;
	if ((rc = open_seg(f, lo, 0, &fd, path, sizeof(path))))
		return rc;
	rc = cohort__os_pread_full(fd, hdr, JSEG_HDR, 0, &got, path);
	cohort__os_close_quiet(fd);
	if (rc)
		return rc;
	if (got != JSEG_HDR || cohort__seg_header_check(hdr, lo, &h.tail_rev))
		return cohort__error(COHORT_ECORRUPT, "the tail segment's header "
				     "is damaged too");
	if ((rc = open_seg(f, hi, 0, &fd, path, sizeof(path))))
		return rc;
	rc = cohort__os_pread_full(fd, hdr, JSEG_HDR, 0, &got, path);
	if (!rc && (got != JSEG_HDR || cohort__seg_header_check(hdr, hi, &first)))
		rc = cohort__error(COHORT_ECORRUPT, "the last segment's header is "
				   "damaged too");
	if (!rc)
		rc = cohort__os_fstat(&st, fd, path);
	seg_rel(rel, sizeof(rel), hi);
	if (!rc)
		rc = scan(f, fd, path, rel, JSEG_HDR, st.size, first, UINT64_MAX,
			  0, &res);
	cohort__os_close_quiet(fd);
	if (rc)
		return rc;
	h.rev = res.keep_rev;
	h.off = res.keep_off;
	/* A copy of what is replaced, then both slots, synced. */
	if ((rc = abs_path(f, path, sizeof(path), "journal/head")) ||
	    (rc = cohort__os_read_file(&text, &len, path, 4096)) ||
	    (rc = lf_save_buf(f, "journal/head", text, len, "the journal head",
			      "no valid slot; rebuilt from the segments", moved,
			      msize)))
		goto out;
	if ((rc = cohort_lock_check(f->journal_lock)) ||
	    (rc = cohort__os_open(&fd, path, O_RDWR | O_NOFOLLOW, 0)))
		goto out;
	/* Epoch 1, break token 0: the next writer takes over (a new
	 * epoch and segment) unless no lease of 'journal' was ever broken. */
	h.epoch = 1;
	rc = cohort__os_ftruncate(fd, JHEAD_SIZE, path);
	for (i = 0; !rc && i < 2; i++) {
		h.seq = i + 1;
		cohort__head_encode(slot, &h);
		rc = cohort__os_pwrite_full(fd, slot, JHEAD_SLOT,
					    cohort__head_slot_off(&h), path);
	}
	if (!rc)
		rc = cohort__os_fdatasync(fd, path);
	cohort__os_close_quiet(fd);
	if (!rc)
		f->h = h;
out:
	free(text);
	return rc;
}

/*
 * Repair: a segment header that does not verify, written again from the
 * segment's number (its name) and the revision of its first record, when
 * that record verifies; the old header goes to lost+found first.
 */
static void rebuild_seg_header(struct fsck *f, struct seg *s)
{
	unsigned char buf[JSEG_HDR + 512], hdr[JSEG_HDR];
	char path[PATH_MAX], rel[64], moved[PATH_MAX], msg[512], name[96];
	size_t got, need;
	cohort__rec r;
	int fd, rc;

	seg_rel(rel, sizeof(rel), s->no);
	if (open_seg(f, s->no, 1, &fd, path, sizeof(path))) {
		cohort__error_clear();
		return;
	}
	rc = cohort__os_pread_full(fd, buf, sizeof(buf), 0, &got, path);
	if (rc || got < JSEG_HDR + JREC_HDR) {
		cohort__error_clear();
		goto out;
	}
	if (cohort__rec_decode(&r, buf + JSEG_HDR, got - JSEG_HDR, &need) <= 0) {
		/* A longer first record: read it whole. */
		unsigned char *big;

		if (need <= got - JSEG_HDR || need > COHORT_RECORD_MAX + 4096 ||
		    !(big = malloc(need)))
			goto out;
		rc = cohort__os_pread_full(fd, big, need, JSEG_HDR, &got, path);
		if (rc || got != need || cohort__rec_decode(&r, big, got, &need) <= 0) {
			cohort__error_clear();
			free(big);
			goto out;
		}
		s->first = r.rev;
		free(big);
	} else {
		s->first = r.rev;
	}
	snprintf(name, sizeof(name), "%s.header", rel);
	cohort__seg_header(hdr, s->no, s->first);
	if ((rc = lf_save_range(f, name, fd, path, 0, JSEG_HDR, "a segment "
				"header", "damaged; written again from the "
				"segment's name and first record", moved,
				sizeof(moved))) ||
	    (rc = cohort_lock_check(f->journal_lock)) ||
	    (rc = cohort__os_pwrite_full(fd, hdr, JSEG_HDR, 0, path)) ||
	    (rc = cohort__os_fdatasync(fd, path))) {
		report(f, "journal.segment-header", rel, 0, 0, -1, NULL,
		       "segment header is damaged; cannot write it again: %s",
		       why_failed(msg, sizeof(msg)));
		goto out;
	}
	s->state = 1;
	report(f, "journal.segment-header", rel, 1, r.rev, 0, moved,
	       "segment header is damaged; written again (segment %llu, "
	       "first revision %llu)", (unsigned long long)s->no,
	       (unsigned long long)s->first);
out:
	cohort__os_close_quiet(fd);
}

/* The segments of the head's range: headers first, then every record. */
static int check_journal(struct fsck *f)
{
	struct seg *segs = NULL;
	char err[512], msg[512];
	uint64_t n, k;
	int rc = 0, tries = 0;

	f->chain_ok = 0;
again:
	if ((rc = read_head(f, &f->h, err, sizeof(err)))) {
		char moved[PATH_MAX];

		if (rc != COHORT_ECORRUPT && rc != COHORT_ENOTFOUND)
			return cohort__error(rc, "%s", err); /* read_head cleared it */
		if (f->repair && rc == COHORT_ECORRUPT && !tries &&
		    (rc = rebuild_head(f, moved, sizeof(moved))) == 0) {
			report(f, "journal.head", "journal/head", 1, 0, -1, moved,
			       "%s; rebuilt from the segments (revision %llu, "
			       "segments %llu-%llu)", err,
			       (unsigned long long)f->h.rev,
			       (unsigned long long)f->h.tail_seg,
			       (unsigned long long)f->h.seg);
			tries++;
			goto again;
		}
		REPORT(f, "journal.head", "journal/head", 0, "%s%s%s", err,
		       rc == COHORT_ECORRUPT && !f->repair ?
		       "; 'cohort fsck --repair' rebuilds it from the segments" :
		       f->repair ? "; cannot rebuild it: " : "",
		       f->repair ? why_failed(msg, sizeof(msg)) : "");
		store_begin(f);
		return 0;
	}
	f->head_ok = 1;
	f->sum->head = f->h.rev;
	f->sum->tail = f->h.tail_rev;
	n = f->h.seg - f->h.tail_seg + 1;
	if (n > (1u << 24))
		return cohort__error(COHORT_ECORRUPT, "journal head names %llu "
				     "segments", (unsigned long long)n);
	free(segs);
	segs = calloc((size_t)n, sizeof(*segs));
	if (!segs)
		return cohort__error(COHORT_ERROR, "out of memory");
	f->bytes_total = 0;
	for (k = 0; k < n; k++) {
		struct seg *s = &segs[k];
		unsigned char hdr[JSEG_HDR];
		char path[PATH_MAX];
		struct cohort__stat st;
		size_t got;
		int fd;

		s->no = f->h.tail_seg + k;
		rc = open_seg(f, s->no, 0, &fd, path, sizeof(path));
		if (rc) {
			s->state = rc == COHORT_ENOTFOUND ? -1 : -2;
			s->eno = errno;
			snprintf(s->err, sizeof(s->err), "%s", cohort_error_last());
			cohort__error_clear();
			rc = 0;
			continue;
		}
		rc = cohort__os_fstat(&st, fd, path);
		if (!rc)
			rc = cohort__os_pread_full(fd, hdr, JSEG_HDR, 0, &got, path);
		s->eno = errno;
		cohort__os_close_quiet(fd);
		if (rc) {
			s->state = -2;
			snprintf(s->err, sizeof(s->err), "%s", cohort_error_last());
			cohort__error_clear();
			rc = 0;
			continue;
		}
		s->size = st.size;
		f->bytes_total += st.size;
		s->state = got == JSEG_HDR &&
			   cohort__seg_header_check(hdr, s->no, &s->first) == 0;
		s->epoch = s->state ? cohort__seg_header_epoch(hdr) : 0;
		if (s->state == 0 && f->repair)
			rebuild_seg_header(f, s);
	}
	/* Check-only: a janitor may have trimmed the journal since the head
	 * was read (it publishes the new tail, then unlinks): look again. */
	for (k = 0; k < n && !f->repair && tries < 3; k++) {
		struct cohort__head h2;

		if (segs[k].state == -1 && read_head(f, &h2, err, sizeof(err)) == 0 &&
		    h2.tail_seg > segs[k].no) {
			tries++;
			goto again;
		}
	}
	f->sum->segments = n;
	f->first_phys = segs[0].state == 1 ? segs[0].first : 0;
	store_begin(f);
	f->chain_ok = segs[0].state == 1;
	if (segs[0].state == 1 && (f->h.tail_rev < segs[0].first ||
				   f->h.tail_rev > f->h.rev + 1)) {
		char rel[64];

		seg_rel(rel, sizeof(rel), segs[0].no);
		REPORT(f, "journal.head", "journal/head", 0,
		       "the tail revision %llu is not in the tail segment %s, "
		       "which starts at %llu", (unsigned long long)f->h.tail_rev,
		       rel, (unsigned long long)segs[0].first);
	}
	for (k = 0; k < n; k++) {
		struct seg *s = &segs[k];
		int head = s->no == f->h.seg;
		uint64_t limit, limit_rev;
		char path[PATH_MAX], rel[64];
		struct scan_res res;
		int fd;

		seg_rel(rel, sizeof(rel), s->no);
		if (s->state != 1) {
			f->chain_ok = 0;
			f->jix_ok = 0;
			if (s->state == -1) {
				/* Its range: after the segment before it, up
				 * to the one after it. */
				uint64_t lo = k == 0 ? f->h.tail_rev :
					      segs[k - 1].next;
				uint64_t hi = k + 1 < n && segs[k + 1].state == 1 ?
					      segs[k + 1].first - 1 : 0;

				if (!f->repair || !lo || hi < lo ||
				    add_fix(f, s, 0, 0, lo, hi, "segment %llu is "
					    "missing", (unsigned long long)s->no))
					REPORT(f, "journal.segment-missing", rel, 0,
					       "segment %llu of the journal (tail "
					       "%llu, head %llu) is missing: its "
					       "records are lost%s",
					       (unsigned long long)s->no,
					       (unsigned long long)f->h.tail_seg,
					       (unsigned long long)f->h.seg,
					       lo && hi >= lo ? "; 'cohort fsck "
					       "--repair' puts lost records in their "
					       "place" : "");
			}
			else if (s->state == -2) {
				if (!note_cutoff_msg(f, s->eno, s->err))
					REPORT(f, "unreadable", rel, 0, "%s",
					       s->err);
			}
			else
				REPORT(f, "journal.segment-header", rel, 0,
				       "segment header is damaged (%llu bytes): its "
				       "records cannot be placed%s",
				       (unsigned long long)s->size,
				       f->repair ? "" : "; 'cohort fsck --repair' "
				       "writes it again when its first record "
				       "verifies");
			f->bytes_done += s->size;
			continue;
		}
		limit = head ? (f->h.off < s->size ? f->h.off : s->size) : s->size;

		limit_rev = head ? f->h.rev :
			    (k + 1 < n && segs[k + 1].state == 1) ?
			    segs[k + 1].first - 1 : UINT64_MAX;
		if ((rc = open_seg(f, s->no, 0, &fd, path, sizeof(path)))) {
			struct cohort__head h2;
			int e = errno;

			f->chain_ok = f->jix_ok = 0;
			if (rc != COHORT_ENOTFOUND && note_cutoff(f, e)) {
				rc = 0;
				continue;
			}
			if (rc == COHORT_ENOTFOUND && !f->repair &&
			    read_head(f, &h2, err, sizeof(err)) == 0 &&
			    h2.tail_seg > s->no) {
				/* trimmed by a janitor meanwhile */
				cohort__error_clear();
				rc = 0;
				continue;
			}
			REPORT(f, rc == COHORT_ENOTFOUND ? "journal.segment-missing" :
			       "unreadable", rel, 0, "%s",
			       why_failed(msg, sizeof(msg)));
			rc = 0;
			continue;
		}
		if (!head && limit_rev != UINT64_MAX && limit_rev + 1 == s->first &&
		    k + 1 < n && segs[k + 1].epoch > s->epoch) {
			/* A takeover sealed it before any record went in (it
			 * must: a stale holder may still write there): the
			 * next one starts at its first revision.  Bytes past
			 * its header are a stale holder's, never read. */
			cohort__os_close_quiet(fd);
			f->bytes_done += s->size;
			s->next = s->first;
			continue;
		}
		if (!head && limit_rev != UINT64_MAX && limit_rev < s->first) {
			/* The next segment starts at or before this one: no
			 * end can be told, nothing is cut. */
			f->chain_ok = f->jix_ok = 0;
			REPORT(f, "journal.gap", rel, 0,
			       "segment starts at revision %llu but the next one "
			       "starts at %llu", (unsigned long long)s->first,
			       (unsigned long long)limit_rev + 1);
			limit_rev = UINT64_MAX;
		}
		{
			uint64_t start = JSEG_HDR, srev = s->first, at, nrev;
			int lost = 0, e;

			for (;;) {
				char b[64], lostmsg[256];
				int found;

				rc = scan(f, fd, path, rel, start, limit, srev,
					  limit_rev, 1, &res);
				if (rc || !(res.stop == ST_BAD ||
					    res.stop == ST_WRONGREV ||
					    res.stop == ST_SHORT))
					break;
				/* Damage below the head: report it, and read
				 * on from the next record that verifies. */
				f->chain_ok = f->jix_ok = 0;
				found = resync(f, fd, path, res.end_off, limit,
					       res.next_rev - 1, limit_rev, &at,
					       &nrev);
				if (found)
					bprintf(lostmsg, sizeof(lostmsg),
						"revisions %llu-%llu cannot be "
						"read (the segment verifies again "
						"from offset %llu)",
						(unsigned long long)res.next_rev,
						(unsigned long long)nrev - 1,
						(unsigned long long)at);
				else if (limit_rev != UINT64_MAX)
					bprintf(lostmsg, sizeof(lostmsg),
						"revisions %llu-%llu cannot be "
						"read (nothing after it in this "
						"segment verifies)",
						(unsigned long long)res.next_rev,
						(unsigned long long)limit_rev);
				else
					bprintf(lostmsg, sizeof(lostmsg),
						"nothing after it in this segment "
						"can be read");
				if (f->repair && (found || limit_rev != UINT64_MAX) &&
				    add_fix(f, s, res.end_off, found ? at : limit,
					    res.next_rev,
					    found ? nrev - 1 : limit_rev,
					    "committed record %llu at offset %llu "
					    "%s", (unsigned long long)res.next_rev,
					    (unsigned long long)res.end_off,
					    stop_why(&res, b, sizeof(b))) == 0) {
					/* reported when it is done */
				} else {
					report(f, "journal.record", rel, 0,
					       res.next_rev, (int64_t)res.end_off,
					       NULL, "committed record %llu at "
					       "offset %llu %s: %s; %s",
					       (unsigned long long)res.next_rev,
					       (unsigned long long)res.end_off,
					       stop_why(&res, b, sizeof(b)),
					       lostmsg, found || limit_rev !=
					       UINT64_MAX ? "'cohort fsck "
					       "--repair' replaces them by lost "
					       "records (the damaged bytes go to "
					       "lost+found)" : "left for the "
					       "operator");
				}
				if (!found) {
					lost = 1;
					break;
				}
				start = at;
				srev = nrev;
			}
			e = errno;
			cohort__os_close_quiet(fd);
			if (rc && note_cutoff(f, e)) {
				rc = 0;
				continue;
			}
			if (rc) {
				REPORT(f, "unreadable", rel, 0, "%s",
				       why_failed(msg, sizeof(msg)));
				f->chain_ok = f->jix_ok = 0;
				rc = 0;
				continue;
			}
			f->bytes_done += s->size;
			progress(f, "journal", f->bytes_done, f->bytes_total, 0);
			if (lost)
				continue;
			s->next = res.next_rev;
		}
		if (!head) {
			/* Sealed by a takeover (the next segment is of a
			 * later epoch): bytes past its last revision are a
			 * stale holder's late writes, which no reader reads
			 * (journal.h, "Fencing"), and more may still arrive:
			 * not damage, left alone. */
			int fenced = k + 1 < n && segs[k + 1].epoch > s->epoch;

			if (res.stop == ST_REV && res.end_off < s->size &&
			    limit_rev != UINT64_MAX && !fenced) {
				/* Past the last record: a stale writer's bytes.
				 * Readers would trip on them. */
				int fixed = 0, wfd;
				char moved[PATH_MAX];

				moved[0] = '\0';
				rc = 0;
				if (f->repair) {
					rc = open_seg(f, s->no, 1, &wfd, path,
						      sizeof(path));
					if (!rc) {
						rc = cut_segment(
							f, wfd, path, rel, res.end_off,
							s->size,
							"bytes past the end of a sealed "
							"segment (a writer that lost its "
							"lease)", moved, sizeof(moved));
						cohort__os_close_quiet(wfd);
					}
					fixed = !rc;
				}
				report(f, "journal.sealed-tail", rel, fixed, 0,
				       (int64_t)res.end_off, moved,
				       "sealed segment has %llu bytes past its last "
				       "record (revision %llu) at offset %llu%s%s",
				       (unsigned long long)(s->size - res.end_off),
				       (unsigned long long)res.next_rev - 1,
				       (unsigned long long)res.end_off,
				       fixed ? "; cut, saved to lost+found" :
				       rc ? "; cannot cut: " : "",
				       rc ? why_failed(msg, sizeof(msg)) : "");
				rc = 0;
			} else if (limit_rev != UINT64_MAX &&
				   res.next_rev - 1 < limit_rev) {
				f->chain_ok = f->jix_ok = 0;
				report(f, "journal.short", rel, 0, res.next_rev,
				       (int64_t)res.end_off, NULL,
				       "sealed segment ends at revision %llu but the "
				       "next one starts at %llu: revisions %llu-%llu "
				       "are missing", (unsigned long long)res.next_rev - 1,
				       (unsigned long long)limit_rev + 1,
				       (unsigned long long)res.next_rev,
				       (unsigned long long)limit_rev);
			}
			continue;
		}
		/* The head segment. */
		if (s->size < f->h.off) {
			f->chain_ok = f->jix_ok = 0;
			report(f, "journal.short", rel, 0, res.next_rev,
			       (int64_t)s->size, NULL,
			       "head segment is %llu bytes but the head says %llu "
			       "are committed: revisions from %llu are lost",
			       (unsigned long long)s->size,
			       (unsigned long long)f->h.off,
			       (unsigned long long)res.next_rev);
		} else if (res.stop == ST_REV || res.next_rev - 1 != f->h.rev) {
			f->chain_ok = f->jix_ok = 0;
			REPORT(f, "journal.head", "journal/head", 0,
			       "the head says revision %llu ends at offset %llu of "
			       "%s, but the records there end at revision %llu, "
			       "offset %llu", (unsigned long long)f->h.rev,
			       (unsigned long long)f->h.off, rel,
			       (unsigned long long)res.next_rev - 1,
			       (unsigned long long)res.end_off);
		} else if (!res.last && res.next_rev > s->first) {
			f->chain_ok = f->jix_ok = 0;
			REPORT(f, "journal.head", "journal/head", 0,
			       "the head (revision %llu) sits inside a commit in %s",
			       (unsigned long long)f->h.rev, rel);
		} else if (s->size > f->h.off && (rc = check_tail(f))) {
			if (!note_cutoff(f, errno))
				REPORT(f, "unreadable", rel, 0, "%s",
				       why_failed(msg, sizeof(msg)));
			rc = 0;
		}
	}
	free(segs);
	progress(f, "journal", f->bytes_total, f->bytes_total, 1);
	check_stray_segments(f);
	if (!rc && f->nfixes)
		fix_lost(f);
	return rc;
}

/* ---- nodes --------------------------------------------------------------- */

/* Check-only: has the head (read at the start) moved to 'rev' since? */
static int head_passed(struct fsck *f, uint64_t rev)
{
	struct cohort__head h2;
	char err[256];

	return read_head(f, &h2, err, sizeof(err)) == 0 && h2.rev >= rev;
}

static void check_node(struct fsck *f, const char *id)
{
	char rel[COHORT_NODE_ID_MAX + 32], path[PATH_MAX], val[80], msg[512];
	char moved[PATH_MAX], *text = NULL;
	struct file *fl;
	size_t len;
	uint64_t rev;
	int retired, rc;

	f->sum->nodes++;
	snprintf(rel, sizeof(rel), "nodes/%s/retired", id);
	retired = file_find(f, rel) != NULL;

	snprintf(rel, sizeof(rel), "nodes/%s/node", id);
	if ((fl = file_find(f, rel)) && !(fl->flags & F_STATERR) &&
	    abs_path(f, path, sizeof(path), rel) == 0) {
		rc = cohort__os_read_file(&text, &len, path, 4096);
		if (rc == 0 && (cohort__kv_get(text, "id", val, sizeof(val)) ||
				strcmp(val, id)))
			REPORT(f, "node.node", rel, 0,
			       "node file of '%s' is damaged: run 'cohort join' as "
			       "'%s' to write it again", id, id);
		cohort__error_clear();
		free(text);
		text = NULL;
	}

	snprintf(rel, sizeof(rel), "nodes/%s/revision", id);
	if ((fl = file_find(f, rel)) && !(fl->flags & F_STATERR) &&
	    abs_path(f, path, sizeof(path), rel) == 0) {
		rc = cohort__os_read_file(&text, &len, path, 4096);
		if (rc == COHORT_ENOTFOUND) {
			cohort__error_clear();
		} else if (rc) {
			REPORT(f, "node.revision", rel, 0,
			       "revision file of node '%s' cannot be read: %s", id,
			       why_failed(msg, sizeof(msg)));
		} else if (cohort__revision_parse(&rev, text, len)) {
			/* What it applied is unknown, but not less than what
			 * cleanup kept for it: replay from there (at least
			 * once, as after any crash of the node). */
			uint64_t to = f->head_ok && f->h.tail_rev ?
				      f->h.tail_rev - 1 : 0;

			rc = f->repair ? lf_save_buf(f, rel, text, len,
						     "a damaged revision file",
						     "written again", moved,
						     sizeof(moved)) : 0;
			if (f->repair && !rc && !f->head_ok)
				rc = cohort__error(COHORT_ECORRUPT, "the journal "
						   "head is unknown");
			if (f->repair && !rc)
				rc = cohort__revision_write_node(f->c, id, to);
			report(f, "node.revision", rel, f->repair && !rc, 0, -1,
			       f->repair && !rc ? moved : NULL,
			       "revision file of node '%s' is damaged: which "
			       "records it applied is unknown%s%s%s", id,
			       !f->repair ? "; 'cohort fsck --repair' sets it "
			       "before the oldest retained record (the node "
			       "applies those again)" :
			       rc ? "; cannot write it again: " :
			       "; set before the oldest retained record (the "
			       "node applies those again)",
			       f->repair && rc ? why_failed(msg, sizeof(msg)) : "",
			       "");
		} else if (f->head_ok && rev > f->h.rev &&
			   !(!f->repair && head_passed(f, rev))) {
			REPORT(f, "node.revision-ahead", rel, 0,
			       "node '%s' is at revision %llu, past the head %llu "
			       "(records it applied are missing from the journal)",
			       id, (unsigned long long)rev,
			       (unsigned long long)f->h.rev);
		} else if (f->head_ok && !retired && rev + 1 < f->h.tail_rev) {
			REPORT(f, "node.behind", rel, 0,
			       "node '%s' is at revision %llu but the oldest retained "
			       "record is %llu: bootstrap it from a snapshot "
			       "(--exec-snapshot) or retire it ('cohort leave')",
			       id, (unsigned long long)rev,
			       (unsigned long long)f->h.tail_rev);
		}
		free(text);
		text = NULL;
	}

	snprintf(rel, sizeof(rel), "nodes/%s/heartbeat", id);
	if ((fl = file_find(f, rel)) && !(fl->flags & F_STATERR) &&
	    abs_path(f, path, sizeof(path), rel) == 0) {
		unsigned long long count;
		char agebuf[32];
		int64_t age = age_ms(f, fl->mtime_ns);

		rc = cohort__os_read_file(&text, &len, path, 4096);
		if (rc == 0 && (len != HB_SIZE ||
				sscanf(text, "cohort-heartbeat %llu", &count) != 1)) {
			/* A live node rewrites it every heartbeat_interval (and
			 * a claim creates it empty, then writes it): only one
			 * that stays still past stale_after is damage.  The
			 * next claim makes a new one. */
			int64_t still = cohort__config_num(&f->c->cfg, "cluster",
							   "stale_after");

			if (age >= 0 && age >= still) {
				fmt_age(agebuf, sizeof(agebuf), age);
				rc = f->repair ?
					lf_move(f, rel, "a damaged heartbeat file",
						"not a heartbeat, and unchanged past "
						"stale_after", moved, sizeof(moved)) : 0;
				report(f, "node.heartbeat", rel, f->repair && !rc, 0,
				       -1, f->repair && !rc ? moved : NULL,
				       "heartbeat of node '%s' is damaged (%zu "
				       "bytes, %s)%s%s", id, len, agebuf,
				       f->repair && !rc ? "; moved to lost+found" :
				       rc ? "; cannot move it: " : "",
				       rc ? why_failed(msg, sizeof(msg)) : "");
			}
		}
		cohort__error_clear();
		free(text);
		text = NULL;
	}

	snprintf(rel, sizeof(rel), "nodes/%s/instance", id);
	if ((fl = file_find(f, rel)) && !(fl->flags & F_STATERR) &&
	    abs_path(f, path, sizeof(path), rel) == 0) {
		rc = cohort__os_read_file(&text, &len, path, 4096);
		if (rc == 0 && cohort__kv_get(text, "nonce", val, sizeof(val))) {
			/* Garbage claims nothing: a join replaces it anyway. */
			rc = f->repair ? lf_move(f, rel, "a damaged instance file",
						 "names no instance (no nonce)",
						 moved, sizeof(moved)) : 0;
			report(f, "node.instance", rel, f->repair && !rc, 0, -1,
			       f->repair && !rc ? moved : NULL,
			       "instance file of node '%s' is damaged%s%s", id,
			       f->repair && !rc ? "; moved to lost+found" :
			       rc ? "; cannot move it: " : "",
			       rc ? why_failed(msg, sizeof(msg)) : "");
		}
		cohort__error_clear();
		free(text);
	}
}

static void check_nodes(struct fsck *f)
{
	char last[COHORT_NODE_ID_MAX + 1] = "";
	size_t i;

	for (i = 0; i < f->nfiles; i++) {
		const char *rel = f->files[i].rel, *slash;
		char id[COHORT_NODE_ID_MAX + 1];
		size_t n;

		if (strncmp(rel, "nodes/", 6) || !(slash = strchr(rel + 6, '/')))
			continue;
		n = (size_t)(slash - (rel + 6));
		if (n == 0 || n > COHORT_NODE_ID_MAX)
			continue;
		memcpy(id, rel + 6, n);
		id[n] = '\0';
		if (!strcmp(id, last) || !cohort__name_valid(id))
			continue;
		snprintf(last, sizeof(last), "%s", id);
		check_node(f, id);
	}
}

/* ---- temporary files ----------------------------------------------------- */

static void check_temps(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->nfiles; i++) {
		struct file *fl = &f->files[i];
		char agebuf[32], moved[PATH_MAX], msg[512];
		int64_t age;
		int rc = 0;

		if (!cohort__os_is_temp_name(base_of(fl->rel)) ||
		    (fl->flags & (F_STATERR | F_MOVED)))
			continue;
		f->sum->temp_files++;
		age = age_ms(f, fl->mtime_ns);
		if (age < 0 || age < f->grace_ms)
			continue;
		fmt_age(agebuf, sizeof(agebuf), age);
		if (f->repair)
			rc = lf_move(f, fl->rel, "a temporary file",
				     "left by a writer that died (older than the "
				     "grace period)", moved, sizeof(moved));
		report(f, "temp", fl->rel, f->repair && !rc, 0, -1,
		       f->repair && !rc ? moved : NULL,
		       "temporary file left by a writer that died (%llu bytes, "
		       "%s)%s%s", (unsigned long long)fl->size, agebuf,
		       f->repair && !rc ? "; moved to lost+found" :
		       rc ? "; cannot move it: " : "",
		       rc ? why_failed(msg, sizeof(msg)) : "");
	}
}

/* ---- the store ----------------------------------------------------------- */

static int cmp_ref(const void *a, const void *b)
{
	return memcmp(a, b, 33);
}

static int is_ref(const struct fsck *f, const char *hash)
{
	char key[33];

	if (strlen(hash) != 32)
		return 0;
	memcpy(key, hash, 33);
	return f->nrefs && bsearch(key, f->refs, f->nrefs, 33, cmp_ref) != NULL;
}

static int blob_name_ok(const char *rel)
{
	/* store/blobs/ab/cd/<32 hex> */
	const char *n = rel + 18;

	return strlen(rel) == 18 + 32 && rel[14] == '/' && rel[17] == '/' &&
	       strspn(n, "0123456789abcdef") == 32 && !memcmp(rel + 12, n, 2) &&
	       !memcmp(rel + 15, n + 2, 2);
}

static int hash_file(struct fsck *f, const char *path, char out[33],
		     uint64_t *bytes)
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_canonical_t cn;
	uint64_t off = 0;
	int fd, rc, i;

	if (!st)
		return cohort__error(COHORT_ERROR, "out of memory");
	if ((rc = buf_reserve(f, BUF_SIZE)) ||
	    (rc = cohort__os_open(&fd, path, O_RDONLY | O_NOFOLLOW, 0))) {
		XXH3_freeState(st);
		return rc;
	}
	XXH3_128bits_reset(st);
	for (;;) {
		size_t got;

		if ((rc = cohort__os_pread_full(fd, f->buf, BUF_SIZE, off, &got,
						path)))
			break;
		if (got == 0)
			break;
		XXH3_128bits_update(st, f->buf, got);
		off += got;
		f->sum->blob_bytes_hashed += got;
		progress(f, "hashing blobs", f->bytes_done + off, f->bytes_total, 0);
	}
	f->buf_len = 0;
	cohort__os_close_quiet(fd);
	if (!rc) {
		XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(st));
		for (i = 0; i < 16; i++)
			sprintf(out + 2 * i, "%02x", cn.digest[i]);
		out[32] = '\0';
		*bytes = off;
	}
	XXH3_freeState(st);
	return rc;
}

/* "'a' 1.0, 'b' 2.0 in namespace x": the packages of a group (one blob). */
static void needed_by(const cohort_package *const *grp, size_t n, char *out,
		      size_t size)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < n && len + 1 < size; i++) {
		int k = snprintf(out + len, size - len, "%s'%s' %s%s%s",
				 len ? ", " : "", grp[i]->id, grp[i]->version,
				 grp[i]->ns[0] ? " in namespace " : "", grp[i]->ns);

		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (len >= size)
		out[size - 1] = '\0';
}

static int cmp_pkg_hash(const void *a, const void *b)
{
	return strcmp((*(const cohort_package *const *)a)->hash,
		      (*(const cohort_package *const *)b)->hash);
}

/*
 * Check-only (no lock held): has the head moved since this run read it?
 * Then what the store looks like now may be a writer's or a janitor's work
 * past that head, not damage.
 */
static int head_moved(struct fsck *f)
{
	struct cohort__head h2;
	char err[256];

	if (f->repair || !f->head_ok)
		return 0;
	if (read_head(f, &h2, err, sizeof(err))) {
		cohort__error_clear();
		return 0;
	}
	return h2.seq != f->h.seq;
}

/* Report the index snapshot's state, and rebuild it when it can be. */
static void store_index(struct fsck *f)
{
	const char *rel = "store/index";
	uint64_t srev = snap_rev(f);
	int rebuildable = f->mode != MODE_NONE && f->jix_ok && f->chain_ok &&
			  f->head_ok;
	char msg[512], what[640];
	const char *kind = NULL;

	what[0] = '\0';
	/* A snapshot past the head this run read, written by a writer that
	 * committed since (no lock is held in check-only mode): not damage,
	 * and not comparable with a replay that stopped at the old head. */
	if (f->snap_state == SNAP_OK && f->head_ok && srev > f->h.rev &&
	    head_moved(f))
		return;
	if (f->snap_state == SNAP_DAMAGED && f->mismatch[0]) {
		kind = "store.index-mismatch";
		snprintf(what, sizeof(what), "index snapshot (revision %llu) "
			 "disagrees with the journal: %s",
			 (unsigned long long)srev, f->mismatch);
	} else if (f->snap_state == SNAP_DAMAGED) {
		kind = "store.index";
		snprintf(what, sizeof(what), "%s", f->snap_err);
	} else if (f->snap_state == SNAP_OK && f->head_ok && srev > f->h.rev) {
		kind = "store.index-ahead";
		snprintf(what, sizeof(what), "index snapshot is at revision %llu, "
			 "past the head %llu", (unsigned long long)srev,
			 (unsigned long long)f->h.rev);
		if (f->mode != MODE_FULL)
			rebuildable = 0;
	} else if (f->snap_state == SNAP_OK && f->head_ok &&
		   srev + 1 < f->h.tail_rev) {
		kind = "store.index-behind";
		snprintf(what, sizeof(what), "index snapshot is at revision %llu "
			 "but the journal starts at %llu: the index cannot be "
			 "loaded", (unsigned long long)srev,
			 (unsigned long long)f->h.tail_rev);
	} else if (f->snap_state == SNAP_ABSENT && f->head_ok &&
		   f->h.tail_rev > 1) {
		kind = "store.index-missing";
		snprintf(what, sizeof(what), "index snapshot is missing and the "
			 "journal no longer starts at revision 1: the index cannot "
			 "be loaded");
	} else if (f->mode == MODE_FULL && f->snap_state == SNAP_OK &&
		   !f->compared && f->jix_ok && f->chain_ok) {
		/* The snapshot is at the head: compare now. */
		compare_at_snapshot(f);
		if (f->snap_state == SNAP_DAMAGED) {
			store_index(f);
			return;
		}
	}
	if (!kind)
		return;
	if (rebuildable && f->repair) {
		char path[PATH_MAX], moved[PATH_MAX], *text = NULL;
		size_t len;
		int rc;

		/* The old snapshot is replaced whole: a copy of it first. */
		moved[0] = '\0';
		rc = abs_path(f, path, sizeof(path), rel);
		if (!rc && f->snap_state != SNAP_ABSENT) {
			rc = cohort__os_read_file(&text, &len, path, 1u << 30);
			if (!rc)
				rc = lf_save_buf(f, rel, text, len,
						 "the index snapshot",
						 "replaced by one rebuilt from the "
						 "journal", moved, sizeof(moved));
			free(text);
		}
		cohort__store_index_set_rev(f->jix, f->h.rev);
		if (!rc)
			rc = cohort_lock_check(f->store_lock);
		if (!rc)
			rc = cohort__store_snapshot_write(f->st, f->jix);
		report(f, kind, rel, !rc, 0, -1, moved, "%s%s%s", what,
		       rc ? "; cannot rebuild it: " :
		       "; rebuilt from the journal (the old one is in lost+found)",
		       rc ? why_failed(msg, sizeof(msg)) : "");
		if (!rc)
			f->snap_state = SNAP_OK;
		return;
	}
	REPORT(f, kind, rel, 0, "%s%s", what,
	       rebuildable ? "; 'cohort fsck --repair' rebuilds it from the "
			     "journal" :
			     "; it cannot be rebuilt from the journal");
}

/* Check the blob of a group of indexed packages (one hash): its size, and
 * with read_data its hash. */
static void check_blob(struct fsck *f, const cohort_package *const *grp,
		       size_t ng)
{
	const cohort_package *v = grp[0];
	char rel[64], path[PATH_MAX], moved[PATH_MAX], need[1024], msg[512];
	char got[33], b[160];
	struct cohort__stat st;
	struct file *fl;
	uint64_t bytes = 0;
	int rc;

	snprintf(rel, sizeof(rel), "store/blobs/%.2s/%.2s/%s", v->hash,
		 v->hash + 2, v->hash);
	needed_by(grp, ng, need, sizeof(need));
	if (abs_path(f, path, sizeof(path), rel))
		return;
	rc = stat_settled(&st, path, 1);
	if (rc == COHORT_ENOTFOUND) {
		cohort__error_clear();
		/* Check-only: a package uninstalled since the head was read
		 * may have had its blob removed by a janitor meanwhile. */
		if (head_moved(f))
			return;
		REPORT(f, "store.blob-missing", rel, 0,
		       "content of %s is missing (%llu bytes): install the "
		       "package again", need, (unsigned long long)v->size);
		return;
	}
	if (rc) {
		REPORT(f, "unreadable", rel, 0, "%s", why_failed(msg, sizeof(msg)));
		return;
	}
	fl = file_find(f, rel);
	if (st.size == v->size && !f->o.read_data)
		return;
	if (st.size == v->size) {
		rc = hash_file(f, path, got, &bytes);
		if (rc) {
			REPORT(f, "unreadable", rel, 0, "%s",
			       why_failed(msg, sizeof(msg)));
			return;
		}
		f->bytes_done += bytes;
		if (fl)
			fl->flags |= F_DONE;
		if (!strcmp(got, v->hash))
			return;
		snprintf(b, sizeof(b), "hashes to %s", got);
	} else {
		snprintf(b, sizeof(b), "is %llu bytes, expected %llu",
			 (unsigned long long)st.size, (unsigned long long)v->size);
	}
	/* Damaged: set it aside (installing the package again would replace
	 * it, and nothing is deleted), so that 'cat' and 'materialize' say
	 * it is missing until the package is installed again. */
	rc = f->repair ? lf_move(f, rel, "a damaged blob",
				 "its content does not match its name; needed "
				 "by installed packages", moved, sizeof(moved)) : 0;
	report(f, st.size != v->size ? "store.blob-size" : "store.blob-damaged",
	       rel, 0, 0, -1, f->repair && !rc ? moved : NULL,
	       "content of %s is damaged: the blob %s%s%s%s; install the "
	       "package again", need, b,
	       f->repair && !rc ? " (moved to lost+found)" :
	       rc ? " (cannot move it: " : "",
	       rc ? why_failed(msg, sizeof(msg)) : "", rc ? ")" : "");
}

/* A file under store/blobs no indexed package's check covered. */
static void check_blob_file(struct fsck *f, struct file *fl, int have_index)
{
	char path[PATH_MAX], moved[PATH_MAX], agebuf[32], msg[512], got[33];
	const char *name = base_of(fl->rel);
	int64_t age = age_ms(f, fl->mtime_ns);
	uint64_t bytes;
	int rc = 0;

	fmt_age(agebuf, sizeof(agebuf), age);
	if (!blob_name_ok(fl->rel)) {
		if (age < 0 || age < f->grace_ms)
			return;
		if (f->repair)
			rc = lf_move(f, fl->rel, "a file that is no blob",
				     "in the blob store, named by no hash", moved,
				     sizeof(moved));
		report(f, "store.stray", fl->rel, f->repair && !rc, 0, -1,
		       f->repair && !rc ? moved : NULL,
		       "file in the blob store that is no blob (%s)%s%s", agebuf,
		       f->repair && !rc ? "; moved to lost+found" :
		       rc ? "; cannot move it: " : "",
		       rc ? why_failed(msg, sizeof(msg)) : "");
		return;
	}
	f->sum->blobs++;
	if (f->o.read_data && !(fl->flags & F_DONE)) {
		if (abs_path(f, path, sizeof(path), fl->rel))
			return;
		rc = hash_file(f, path, got, &bytes);
		if (rc == COHORT_ENOTFOUND) {
			cohort__error_clear();
			return;
		}
		if (rc) {
			REPORT(f, "unreadable", fl->rel, 0, "%s",
			       why_failed(msg, sizeof(msg)));
			return;
		}
		f->bytes_done += bytes;
		fl->flags |= F_DONE;
		if (strcmp(got, name)) {
			/* No indexed package needs it (those were checked
			 * first): setting it aside loses nothing. */
			if (f->repair)
				rc = lf_move(f, fl->rel, "a damaged blob",
					     "its content does not match its name",
					     moved, sizeof(moved));
			report(f, "store.blob-damaged", fl->rel, f->repair && !rc, 0,
			       -1, f->repair && !rc ? moved : NULL,
			       "blob content hashes to %s, not its name; no "
			       "installed package needs it%s%s", got,
			       f->repair && !rc ? "; moved to lost+found" :
			       rc ? "; cannot move it: " : "",
			       rc ? why_failed(msg, sizeof(msg)) : "");
			return;
		}
	}
	/* Referenced by the index, the snapshot or a retained install record;
	 * without a known index, everything counts as referenced.  A young
	 * blob may be an install's that waits for the store lock. */
	if (!have_index || is_ref(f, name) || age < 0 || age < f->grace_ms)
		return;
	if (f->repair)
		rc = lf_move(f, fl->rel, "an unreferenced blob",
			     "no installed package and no retained journal record "
			     "references it", moved, sizeof(moved));
	report(f, "store.blob-unreferenced", fl->rel, f->repair && !rc, 0, -1,
	       f->repair && !rc ? moved : NULL,
	       "blob that nothing references (%llu bytes, %s)%s%s",
	       (unsigned long long)fl->size, agebuf,
	       f->repair && !rc ? "; moved to lost+found" :
	       rc ? "; cannot move it: " : "",
	       rc ? why_failed(msg, sizeof(msg)) : "");
}

static void check_store(struct fsck *f)
{
	const cohort_package *v = NULL;
	const struct cohort__index *fin = NULL;
	size_t n = 0, i, k;

	if (!f->st)
		return;
	store_index(f);
	if (f->mode != MODE_NONE && f->jix_ok)
		fin = f->jix;
	else if (f->snap_state == SNAP_OK)
		fin = f->snap;
	if (fin) {
		v = cohort__store_index_packages(fin, &n, NULL);
		for (i = 0; i < n; i++)
			add_ref(f, v[i].hash);
	}
	if (f->snap_state == SNAP_OK) {
		const cohort_package *sv;
		size_t sn;

		sv = cohort__store_index_packages(f->snap, &sn, NULL);
		for (i = 0; i < sn; i++)
			add_ref(f, sv[i].hash);
	}
	if (f->nrefs)
		qsort(f->refs, f->nrefs, 33, cmp_ref);
	f->sum->packages = n;
	f->bytes_done = f->bytes_total = 0;
	if (f->o.read_data)
		for (i = 0; i < f->nfiles; i++)
			if (!strncmp(f->files[i].rel, "store/blobs/", 12))
				f->bytes_total += f->files[i].size;
	if (n) {
		/* One check per blob, with every package that needs it. */
		const cohort_package **byhash = malloc(n * sizeof(*byhash));

		if (!byhash) {
			REPORT(f, "unreadable", "store", 0, "out of memory");
			return;
		}
		for (i = 0; i < n; i++)
			byhash[i] = &v[i];
		qsort(byhash, n, sizeof(*byhash), cmp_pkg_hash);
		for (i = 0; i < n; i = k) {
			for (k = i + 1; k < n && !strcmp(byhash[k]->hash,
							 byhash[i]->hash); k++)
				;
			check_blob(f, byhash + i, k - i);
			progress(f, f->o.read_data ? "hashing blobs" : "store",
				 f->o.read_data ? f->bytes_done : k,
				 f->o.read_data ? f->bytes_total : n, 0);
		}
		free(byhash);
	}
	for (i = 0; i < f->nfiles; i++) {
		struct file *fl = &f->files[i];

		if (strncmp(fl->rel, "store/blobs/", 12) ||
		    cohort__os_is_temp_name(base_of(fl->rel)) ||
		    (fl->flags & (F_STATERR | F_MOVED | F_REPORTED)))
			continue;
		check_blob_file(f, fl, fin != NULL);
	}
	if (f->o.read_data)
		progress(f, "hashing blobs", f->bytes_total, f->bytes_total, 1);
}

/* The application's snapshot (snapshots/app), when there is one. */
static void check_app_snapshot(struct fsck *f)
{
	void *data = NULL;
	size_t len;
	uint64_t rev;
	char msg[512];
	int rc;

	if (!file_find(f, "snapshots/app"))
		return;
	rc = cohort_snapshot_get(f->c, &data, &len, &rev);
	free(data);
	if (rc == COHORT_ENOTFOUND) {
		cohort__error_clear();
		return;
	}
	if (rc)
		REPORT(f, "snapshot", "snapshots/app", 0, "%s",
		       why_failed(msg, sizeof(msg)));
	else if (f->head_ok && rev > f->h.rev)
		REPORT(f, "snapshot", "snapshots/app", 0,
		       "application snapshot is at revision %llu, past the head "
		       "%llu", (unsigned long long)rev,
		       (unsigned long long)f->h.rev);
}

/* ---- every file ---------------------------------------------------------- */

/*
 * Files the zero-length check leaves alone: the lock folder, markers, the
 * operator's file, temporary files, and files a specific check
 * owns (it judges them, with what a writer may be doing to them right now:
 * a segment being started, a heartbeat being created).
 */
static int may_be_empty(const char *rel)
{
	static const char *const node_files[] = { "node", "revision",
						  "heartbeat", "instance",
						  "retired" };
	const char *b = base_of(rel);
	size_t i;

	/* locks/: targets are empty by design, records (NAME.want) are
	 * created and then written, and leases are the lock check's. */
	if (!strncmp(rel, "locks/", 6))
		return 1;
	if (!strncmp(rel, "nodes/", 6))
		for (i = 0; i < sizeof(node_files) / sizeof(node_files[0]); i++)
			if (!strcmp(b, node_files[i]))
				return 1;
	if (!strncmp(rel, "store/blobs/", 12) || !strncmp(rel, "journal/seg-", 12))
		return 1;
	return !strcmp(rel, "cohort.conf") || !strcmp(rel, "cohort.id") ||
	       !strcmp(rel, "journal/head") || !strcmp(rel, "store/index") ||
	       !strcmp(rel, "snapshots/app") || cohort__os_is_temp_name(b);
}

static void check_files(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->nfiles; i++) {
		struct file *fl = &f->files[i];
		char path[PATH_MAX], msg[512], moved[PATH_MAX], byte;
		size_t got;
		int fd, rc, e;

		if ((i & 255) == 0)
			progress(f, "files", i, f->nfiles, 0);
		if (fl->flags & (F_REPORTED | F_MOVED | F_DONE))
			continue;
		if (fl->flags & F_STATERR) {
			if (note_cutoff(f, fl->err))
				return;
			REPORT(f, "unreadable", fl->rel, 0, "cannot stat%s: %s",
			       fl->err == EIO || fl->err == ESTALE ?
			       " (I/O error)" : "", strerror(fl->err));
			continue;
		}
		if (abs_path(f, path, sizeof(path), fl->rel))
			continue;
		rc = cohort__os_open(&fd, path, O_RDONLY | O_NOFOLLOW, 0);
		e = errno;
		if (!rc) {
			rc = cohort__os_pread_full(fd, &byte, 1, 0, &got, path);
			e = errno;
			cohort__os_close_quiet(fd);
		}
		if (rc == COHORT_ENOTFOUND) {
			cohort__error_clear();
			continue;
		}
		if (rc && note_cutoff(f, e))
			return;
		if (rc) {
			REPORT(f, "unreadable", fl->rel, 0, "%s",
			       why_failed(msg, sizeof(msg)));
			continue;
		}
		if (fl->size != 0 || may_be_empty(fl->rel))
			continue;
		{
			/* Fresh attributes: it may have been written since. */
			struct cohort__stat st;

			if (cohort__os_stat(&st, path, 1) || st.size != 0) {
				cohort__error_clear();
				continue;
			}
		}
		rc = f->repair ? lf_move(f, fl->rel, "an empty file",
					 "zero-length where cohort writes content "
					 "(a write lost in a crash)", moved,
					 sizeof(moved)) : 0;
		report(f, "zero-length", fl->rel, f->repair && !rc, 0, -1,
		       f->repair && !rc ? moved : NULL, "file is empty%s%s",
		       f->repair && !rc ? "; moved to lost+found" :
		       rc ? "; cannot move it: " : "",
		       rc ? why_failed(msg, sizeof(msg)) : "");
	}
	progress(f, "files", f->nfiles, f->nfiles, 1);
}

/* ---- the run ------------------------------------------------------------- */

int cohort_fsck(cohort_fsck_summary *out, cohort_cluster *c,
		const cohort_fsck_options *o, cohort_fsck_problem_fn fn,
		void *arg)
{
	cohort_fsck_options def = COHORT_FSCK_OPTIONS_INIT;
	char saved[1024] = "";
	struct fsck f;
	size_t i;
	int rc, r2;

	memset(out, 0, sizeof(*out));
	if (!o)
		o = &def;
	if (o->version != COHORT_FSCK_OPTIONS_VERSION)
		return cohort__error(COHORT_EINVAL, "bad fsck options version");
	if (o->repair && (rc = cohort__need_node(c)))
		return rc;
	memset(&f, 0, sizeof(f));
	f.c = c;
	f.o = *o;
	f.fn = fn;
	f.arg = arg;
	f.sum = out;
	f.repair = o->repair;
	f.lf_fd = -1;
	f.grace_ms = o->grace_ms >= 0 ? o->grace_ms : GRACE_DEFAULT_MS;
	f.stale_ms = cohort__config_num(&c->cfg, "cluster", "lease_timeout") +
		     cohort__config_num(&c->cfg, "cluster", "skew_margin");
	if ((rc = buf_reserve(&f, BUF_SIZE)))
		return rc;

	check_identity(&f);
	check_layout(&f);
	server_clock(&f);
	if ((rc = cutoff_rc(&f)) || (rc = walk(&f)) || (rc = check_locks(&f)))
		goto out;
	if (f.repair) {
		/* The order every writer uses: store, then journal.  A stale
		 * lease of either is broken on the way in, by the protocol. */
		if ((rc = cohort_lock_acquire(&f.store_lock, c, "store", -1)) ||
		    (rc = cohort_lock_acquire(&f.journal_lock, c, "journal", -1))) {
			cohort__error_wrap(rc, "cannot repair");
			goto out;
		}
	}
	repair_leases(&f);
	if ((rc = cutoff_rc(&f)) || (rc = check_journal(&f)) ||
	    (rc = cutoff_rc(&f)))
		goto out;
	check_nodes(&f);
	check_temps(&f);
	check_store(&f);
	check_app_snapshot(&f);
	check_files(&f);
	rc = cutoff_rc(&f);
out:
	if (rc) /* cleanup below must not lose the message */
		snprintf(saved, sizeof(saved), "%s", cohort_error_last());
	if (f.lf_fd >= 0) {
		char path[PATH_MAX];

		if (cohort__root_path(path, sizeof(path), c, "%s/MANIFEST",
				      f.lf_rel) == 0 &&
		    (r2 = cohort__os_close(f.lf_fd, path)) && !rc)
			rc = r2;
	}
	r2 = cohort_lock_release(f.journal_lock);
	if (!rc && r2)
		rc = r2;
	r2 = cohort_lock_release(f.store_lock);
	if (!rc && r2)
		rc = r2;
	cohort_store_close(f.st);
	cohort__store_index_free(f.snap);
	cohort__store_index_free(f.jix);
	for (i = 0; i < f.nfiles; i++)
		free(f.files[i].rel);
	free(f.files);
	free(f.fixes);
	for (i = 0; i < f.nstale; i++)
		free(f.stale[i].text);
	free(f.stale);
	free(f.refs);
	free(f.buf);
	if (rc && saved[0])
		cohort__error(rc, "%s", saved);
	return rc;
}
