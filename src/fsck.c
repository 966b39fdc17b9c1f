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
 *
 * This file holds the run (cohort_fsck) and what every check shares:
 * reporting, the file list, waiting out a write in flight, the read
 * buffer.  The checks are in fsck_files.c, fsck_journal.c (its repairs in
 * fsck_journal_repair.c) and fsck_store.c; fsck_int.h is what they share.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cohort/fsck.h"
#include "cohort/lock.h"
#include "cohort/store.h"
#include "fsck_int.h"
#include "os/os.h"
#include "store_int.h"

#define GRACE_DEFAULT_MS (3600 * 1000)
/*
 * Check-only: how long one run may wait, in all, for something that looks
 * like an interrupted write to turn out to be a write in flight (a head
 * that moves, a segment a janitor unlinks), and how often it looks.
 */
#define SETTLE_BUDGET_MS 3000
#define SETTLE_STEP_MS 20

/* ---- reporting ---------------------------------------------------------- */

void cohort__fsck_report(struct fsck *f, const char *kind, const char *rel,
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
			    cohort__fsck_note_cutoff_msg(f, cut[k], detail))
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
	if ((fl = cohort__fsck_file_find(f, rel)))
		fl->flags |= F_REPORTED;
	if (f->fn)
		f->fn(&p, f->arg);
}

void cohort__fsck_progress(struct fsck *f, const char *phase, uint64_t done,
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
void cohort__fsck_bprintf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
}

/* The message of the last error, for a detail; clears it. */
const char *cohort__fsck_why_failed(char *buf, size_t size)
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
int cohort__fsck_note_cutoff_msg(struct fsck *f, int e, const char *msg)
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

int cohort__fsck_note_cutoff(struct fsck *f, int e)
{
	return cohort__fsck_note_cutoff_msg(f, e, NULL);
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

int cohort__fsck_abs_path(struct fsck *f, char *buf, size_t size, const char *rel)
{
	return cohort__root_path(buf, size, f->c, "%s", rel);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->rel,
		      ((const struct file *)b)->rel);
}

struct file *cohort__fsck_file_find(struct fsck *f, const char *rel)
{
	struct file key;

	if (!f->nfiles)
		return NULL;
	key.rel = (char *)rel;
	return bsearch(&key, f->files, f->nfiles, sizeof(key), cmp_file);
}

const char *cohort__fsck_base_of(const char *rel)
{
	const char *s = strrchr(rel, '/');

	return s ? s + 1 : rel;
}

/* Age of a file by the file server's clock; -1 when it cannot be told. */
int64_t cohort__fsck_age_ms(const struct fsck *f, int64_t mtime_ns)
{
	int64_t a;

	if (!f->sum->server_clock)
		return -1;
	a = (f->now_ns - mtime_ns) / 1000000;
	return a < 0 ? 0 : a;
}

void cohort__fsck_fmt_age(char *out, size_t size, int64_t ms)
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
			rc = cohort__fsck_abs_path(f, path, sizeof(path), rel);
		else
			snprintf(path, sizeof(path), "%s",
				 cohort_cluster_root(f->c));
		if (!rc)
			rc = cohort__os_open(&fd, path,
					     O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
		if (rc) {
			if (cohort__fsck_note_cutoff(f, errno)) {
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
				       cohort__fsck_why_failed(msg, sizeof(msg)));
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
			    cohort__fsck_abs_path(f, cpath, sizeof(cpath), crel)) {
				cohort__error_clear();
				continue;
			}
			rc = cohort__fsck_stat_settled(&st, cpath, 0);
			if (rc == COHORT_ENOTFOUND) { /* gone meanwhile */
				cohort__error_clear();
				rc = 0;
				continue;
			}
			if (rc) {
				int e = errno;

				if (cohort__fsck_note_cutoff(f, e)) {
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
					cohort__fsck_progress(f, "listing files", f->nfiles,
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
	cohort__fsck_progress(f, "listing files", f->nfiles, f->nfiles, 1);
	return rc;
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
int cohort__fsck_settled(struct fsck *f, int (*done)(struct fsck *, const void *),
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
int cohort__fsck_stat_settled(struct cohort__stat *st, const char *path,
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

/* ---- the read buffer ----------------------------------------------------- */

int cohort__fsck_buf_reserve(struct fsck *f, size_t need)
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
	if ((rc = cohort__fsck_buf_reserve(&f, BUF_SIZE)))
		return rc;

	cohort__fsck_check_identity(&f);
	cohort__fsck_check_layout(&f);
	server_clock(&f);
	if ((rc = cutoff_rc(&f)) || (rc = walk(&f)) || (rc = cohort__fsck_check_locks(&f)))
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
	cohort__fsck_repair_leases(&f);
	if ((rc = cutoff_rc(&f)) || (rc = cohort__fsck_check_journal(&f)) ||
	    (rc = cutoff_rc(&f)))
		goto out;
	cohort__fsck_check_nodes(&f);
	cohort__fsck_check_temps(&f);
	cohort__fsck_check_store(&f);
	cohort__fsck_check_app_snapshot(&f);
	cohort__fsck_check_files(&f);
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
