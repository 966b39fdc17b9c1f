/*
 * fsck_files.c - the checks of 'cohort fsck' that judge files one by one:
 * the identity file and the root's folders, leases and what dead lock
 * holders left, the files under nodes/, temporary files, and last the
 * generic zero-length and unreadable checks; and this run's lost+found,
 * where repair moves what goes and copies what it cuts (every part uses
 * it).  fsck.c runs them; fsck_int.h is what they share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "cohort/lock.h"
#include "fsck_int.h"
#include "lock_int.h"
#include "os/os.h"

/* How long repair waits to break one stale lease through the protocol. */
#define BREAK_TIMEOUT_MS 5000
#define HB_SIZE 96

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
int cohort__fsck_lf_move(struct fsck *f, const char *rel, const char *what,
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
	if ((rc = cohort__fsck_abs_path(f, from, sizeof(from), rel)) ||
	    (rc = cohort__fsck_abs_path(f, to, sizeof(to), moved)) ||
	    (rc = mkdir_parent(f, to)) || (rc = lf_note(f, rel, what, why)) ||
	    (rc = cohort__os_rename(from, to))) {
		moved[0] = '\0';
		return rc;
	}
	if ((fl = cohort__fsck_file_find(f, rel)))
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
int cohort__fsck_lf_save_buf(struct fsck *f, const char *name, const void *buf,
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
	cohort__fsck_bprintf(moved, size, "%s/%s", f->lf_rel, name);
	return 0;
}

/* Copy bytes [off, end) of 'src_fd' into 'name' in this run's folder. */
int cohort__fsck_lf_save_range(struct fsck *f, const char *name, int src_fd,
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
	cohort__fsck_bprintf(moved, size, "%s/%s", f->lf_rel, name);
	return 0;
}

/* ---- identity and layout ------------------------------------------------- */

void cohort__fsck_check_identity(struct fsck *f)
{
	char path[PATH_MAX], val[64], msg[512], *text = NULL;
	size_t len;
	int rc;

	if (cohort__fsck_abs_path(f, path, sizeof(path), "cohort.id")) {
		cohort__error_clear();
		return;
	}
	rc = cohort__os_read_file(&text, &len, path, 4096);
	if (rc && cohort__fsck_note_cutoff(f, errno))
		return;
	if (rc) {
		REPORT(f, "identity", "cohort.id", 0, "cannot be read: %s",
		       cohort__fsck_why_failed(msg, sizeof(msg)));
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

void cohort__fsck_check_layout(struct fsck *f)
{
	static const char *const dirs[] = { "journal", "nodes", "locks" };
	char path[PATH_MAX], msg[512];
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		struct cohort__stat st;
		int rc, e, fixed = 0;

		if (cohort__fsck_abs_path(f, path, sizeof(path), dirs[i]))
			continue;
		rc = cohort__os_stat(&st, path, 1);
		e = errno;
		if (rc == 0 && S_ISDIR(st.mode))
			continue;
		if (rc && rc != COHORT_ENOTFOUND) {
			/* Not known to be missing: never "created". */
			if (cohort__fsck_note_cutoff(f, e))
				return;
			REPORT(f, "unreadable", dirs[i], 0,
			       "folder is unreadable%s: %s",
			       e == EIO || e == ESTALE ? " (I/O error)" : "",
			       cohort__fsck_why_failed(msg, sizeof(msg)));
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
				cohort__fsck_why_failed(msg, sizeof(msg));
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

int cohort__fsck_check_locks(struct fsck *f)
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
		age = cohort__fsck_age_ms(f, fl->mtime_ns);
		cohort__fsck_fmt_age(agebuf, sizeof(agebuf), age);
		if (ends_with(name, ".lease")) {
			char path[PATH_MAX], *text = NULL;
			struct stale_lease *sl, *g;
			struct cohort__lease_view v;
			size_t len, nl = strlen(name) - 6;
			int dead_here, old;

			f->sum->leases++;
			if (cohort__fsck_abs_path(f, path, sizeof(path), fl->rel) ||
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
				rc = cohort__fsck_lf_move(f, fl->rel, "break file of a lock",
							  "left by a breaker that died; unchanged "
							  "past lease_timeout + skew_margin",
							  moved, sizeof(moved));
			cohort__fsck_report(f, "lock.break", fl->rel, f->repair && !rc, 0, -1,
					    moved, "break file left by a dead breaker, %s%s%s",
					    agebuf, rc ? "; cannot move it: " : "",
					    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
		} else if (strstr(name, ".lease.broken.") ||
			   strstr(name, ".lease.released.")) {
			/* cohort_lock_release() sets its lease aside the same
			 * way before removing it: a holder killed in between
			 * leaves one. */
			const char *who = strstr(name, ".lease.broken.") ?
					  "breaker" : "holder releasing it";
			int rc = 0;

			if (f->repair)
				rc = cohort__fsck_lf_move(f, fl->rel, "a lease set aside",
							  "left by a process that died before "
							  "removing it", moved, sizeof(moved));
			cohort__fsck_report(f, "lock.leftover", fl->rel, f->repair && !rc, 0,
					    -1, moved, "lease a %s set aside and never "
					    "removed, %s%s%s", who, agebuf,
					    rc ? "; cannot move it: " : "",
					    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
		}
	}
	return 0;
}

/* Repair: break each stale lease by taking its lock (lock.c breaks it). */
void cohort__fsck_repair_leases(struct fsck *f)
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
		rc = cohort__fsck_lf_save_buf(f, sl->rel, sl->text, sl->len, "a stale lease",
					      "broken by the lock protocol (fsck took the lock)",
					      moved, sizeof(moved));
		if (rc) {
			cohort__fsck_why_failed(msg, sizeof(msg));
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

			rc = cohort__fsck_lf_move(f, sl->rel, "a stale lease",
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
		cohort__fsck_report(f, "lock.stale", sl->rel, broken, 0, -1, moved, "%s%s%s",
				    sl->detail, broken ? "; broken" : "; not broken: ",
				    broken ? "" : cohort__fsck_why_failed(msg, sizeof(msg)));
	}
}

/* ---- nodes --------------------------------------------------------------- */

/* Check-only: has the head (read at the start) moved to 'rev' since? */
static int head_passed(struct fsck *f, uint64_t rev)
{
	struct cohort__head h2;
	char err[256];

	return cohort__fsck_read_head(f, &h2, err, sizeof(err)) == 0 && h2.rev >= rev;
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
	retired = cohort__fsck_file_find(f, rel) != NULL;

	snprintf(rel, sizeof(rel), "nodes/%s/node", id);
	if ((fl = cohort__fsck_file_find(f, rel)) && !(fl->flags & F_STATERR) &&
	    cohort__fsck_abs_path(f, path, sizeof(path), rel) == 0) {
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
	if ((fl = cohort__fsck_file_find(f, rel)) && !(fl->flags & F_STATERR) &&
	    cohort__fsck_abs_path(f, path, sizeof(path), rel) == 0) {
		rc = cohort__os_read_file(&text, &len, path, 4096);
		if (rc == COHORT_ENOTFOUND) {
			cohort__error_clear();
		} else if (rc) {
			REPORT(f, "node.revision", rel, 0,
			       "revision file of node '%s' cannot be read: %s", id,
			       cohort__fsck_why_failed(msg, sizeof(msg)));
		} else if (cohort__revision_parse(&rev, text, len)) {
			/* What it applied is unknown, but not less than what
			 * cleanup kept for it: replay from there (at least
			 * once, as after any crash of the node). */
			uint64_t to = f->head_ok && f->h.tail_rev ?
				      f->h.tail_rev - 1 : 0;

			rc = f->repair ? cohort__fsck_lf_save_buf(f, rel, text, len,
								  "a damaged revision file",
								  "written again", moved,
								  sizeof(moved)) : 0;
			if (f->repair && !rc && !f->head_ok)
				rc = cohort__error(COHORT_ECORRUPT, "the journal "
						   "head is unknown");
			if (f->repair && !rc)
				rc = cohort__revision_write_node(f->c, id, to);
			cohort__fsck_report(f, "node.revision", rel, f->repair && !rc, 0, -1,
					    f->repair && !rc ? moved : NULL,
					    "revision file of node '%s' is damaged: which "
					    "records it applied is unknown%s%s%s", id,
					    !f->repair ? "; 'cohort fsck --repair' sets it "
					    "before the oldest retained record (the node "
					    "applies those again)" :
					    rc ? "; cannot write it again: " :
					    "; set before the oldest retained record (the "
					    "node applies those again)",
					    f->repair && rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "",
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
	if ((fl = cohort__fsck_file_find(f, rel)) && !(fl->flags & F_STATERR) &&
	    cohort__fsck_abs_path(f, path, sizeof(path), rel) == 0) {
		unsigned long long count;
		char agebuf[32];
		int64_t age = cohort__fsck_age_ms(f, fl->mtime_ns);

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
				cohort__fsck_fmt_age(agebuf, sizeof(agebuf), age);
				rc = f->repair ?
					cohort__fsck_lf_move(f, rel, "a damaged heartbeat file",
							     "not a heartbeat, and unchanged past "
							     "stale_after", moved, sizeof(moved)) : 0;
				cohort__fsck_report(f, "node.heartbeat", rel, f->repair && !rc, 0,
						    -1, f->repair && !rc ? moved : NULL,
						    "heartbeat of node '%s' is damaged (%zu "
						    "bytes, %s)%s%s", id, len, agebuf,
						    f->repair && !rc ? "; moved to lost+found" :
						    rc ? "; cannot move it: " : "",
						    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
			}
		}
		cohort__error_clear();
		free(text);
		text = NULL;
	}

	snprintf(rel, sizeof(rel), "nodes/%s/instance", id);
	if ((fl = cohort__fsck_file_find(f, rel)) && !(fl->flags & F_STATERR) &&
	    cohort__fsck_abs_path(f, path, sizeof(path), rel) == 0) {
		rc = cohort__os_read_file(&text, &len, path, 4096);
		if (rc == 0 && cohort__kv_get(text, "nonce", val, sizeof(val))) {
			/* Garbage claims nothing: a join replaces it anyway. */
			rc = f->repair ? cohort__fsck_lf_move(f, rel, "a damaged instance file",
							      "names no instance (no nonce)",
							      moved, sizeof(moved)) : 0;
			cohort__fsck_report(f, "node.instance", rel, f->repair && !rc, 0, -1,
					    f->repair && !rc ? moved : NULL,
					    "instance file of node '%s' is damaged%s%s", id,
					    f->repair && !rc ? "; moved to lost+found" :
					    rc ? "; cannot move it: " : "",
					    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
		}
		cohort__error_clear();
		free(text);
	}
}

void cohort__fsck_check_nodes(struct fsck *f)
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

void cohort__fsck_check_temps(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->nfiles; i++) {
		struct file *fl = &f->files[i];
		char agebuf[32], moved[PATH_MAX], msg[512];
		int64_t age;
		int rc = 0;

		if (!cohort__os_is_temp_name(cohort__fsck_base_of(fl->rel)) ||
		    (fl->flags & (F_STATERR | F_MOVED)))
			continue;
		f->sum->temp_files++;
		age = cohort__fsck_age_ms(f, fl->mtime_ns);
		if (age < 0 || age < f->grace_ms)
			continue;
		cohort__fsck_fmt_age(agebuf, sizeof(agebuf), age);
		if (f->repair)
			rc = cohort__fsck_lf_move(f, fl->rel, "a temporary file",
						  "left by a writer that died (older than the "
						  "grace period)", moved, sizeof(moved));
		cohort__fsck_report(f, "temp", fl->rel, f->repair && !rc, 0, -1,
				    f->repair && !rc ? moved : NULL,
				    "temporary file left by a writer that died (%llu bytes, "
				    "%s)%s%s", (unsigned long long)fl->size, agebuf,
				    f->repair && !rc ? "; moved to lost+found" :
				    rc ? "; cannot move it: " : "",
				    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
	}
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
	const char *b = cohort__fsck_base_of(rel);
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

void cohort__fsck_check_files(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->nfiles; i++) {
		struct file *fl = &f->files[i];
		char path[PATH_MAX], msg[512], moved[PATH_MAX], byte;
		size_t got;
		int fd, rc, e;

		if ((i & 255) == 0)
			cohort__fsck_progress(f, "files", i, f->nfiles, 0);
		if (fl->flags & (F_REPORTED | F_MOVED | F_DONE))
			continue;
		if (fl->flags & F_STATERR) {
			if (cohort__fsck_note_cutoff(f, fl->err))
				return;
			REPORT(f, "unreadable", fl->rel, 0, "cannot stat%s: %s",
			       fl->err == EIO || fl->err == ESTALE ?
			       " (I/O error)" : "", strerror(fl->err));
			continue;
		}
		if (cohort__fsck_abs_path(f, path, sizeof(path), fl->rel))
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
		if (rc && cohort__fsck_note_cutoff(f, e))
			return;
		if (rc) {
			REPORT(f, "unreadable", fl->rel, 0, "%s",
			       cohort__fsck_why_failed(msg, sizeof(msg)));
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
		rc = f->repair ? cohort__fsck_lf_move(f, fl->rel, "an empty file",
						      "zero-length where cohort writes content "
						      "(a write lost in a crash)", moved,
						      sizeof(moved)) : 0;
		cohort__fsck_report(f, "zero-length", fl->rel, f->repair && !rc, 0, -1,
				    f->repair && !rc ? moved : NULL, "file is empty%s%s",
				    f->repair && !rc ? "; moved to lost+found" :
				    rc ? "; cannot move it: " : "",
				    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
	}
	cohort__fsck_progress(f, "files", f->nfiles, f->nfiles, 1);
}
