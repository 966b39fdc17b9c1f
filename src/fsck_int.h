/*
 * fsck_int.h - what the parts of 'cohort fsck' share (internal): the run's
 * state, the file list, reporting, lost+found, and each part's checks.
 * cohort_fsck() calls the checks in the order listed at the top of fsck.c.
 *
 *   fsck.c                  the run; reporting, the file list, waiting out
 *                           a write in flight, the read buffer
 *   fsck_files.c            identity and layout, locks, node files,
 *                           temporary files, every file; lost+found
 *   fsck_journal.c          the head and the segments, record by record
 *   fsck_journal_repair.c   lost records, a head or segment header rebuilt
 *   fsck_store.c            the index replayed and its snapshot, blobs; the
 *                           application's snapshot
 */
#ifndef COHORT_FSCK_INT_H
#define COHORT_FSCK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cohort/fsck.h"
#include "cohort/lock.h"
#include "cohort/store.h"
#include "error.h"
#include "journal_format.h"
#include "journal_repair.h"
#include "os/os.h"
#include "store_int.h"

#define BUF_SIZE (4u << 20)
/* How many looks before a file is believed absent (see
 * cohort__fsck_stat_settled). */
#define ABSENT_LOOKS 5
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

/* ---- fsck.c: reporting, the file list, waiting, the read buffer ---------- */

/* Report a problem (a no-op once the mount is gone); REPORT for one with
 * no revision, offset or moved-to path. */
void cohort__fsck_report(struct fsck *f, const char *kind, const char *rel,
			 int repaired, uint64_t rev, int64_t off,
			 const char *moved, const char *fmt, ...)
	COHORT__PRINTF(8, 9);

#define REPORT(f, kind, rel, repaired, ...) \
	cohort__fsck_report(f, kind, rel, repaired, 0, -1, NULL, __VA_ARGS__)

void cohort__fsck_progress(struct fsck *f, const char *phase, uint64_t done,
			   uint64_t total, int force);
void cohort__fsck_bprintf(char *out, size_t size, const char *fmt, ...)
	COHORT__PRINTF(3, 4);
const char *cohort__fsck_why_failed(char *buf, size_t size);
/* 1 when 'e' says the root's mount is gone (remembered; the run ends). */
int cohort__fsck_note_cutoff_msg(struct fsck *f, int e, const char *msg);
int cohort__fsck_note_cutoff(struct fsck *f, int e);

int cohort__fsck_abs_path(struct fsck *f, char *buf, size_t size,
			  const char *rel);
/* The listed file 'rel', or NULL. */
struct file *cohort__fsck_file_find(struct fsck *f, const char *rel);
const char *cohort__fsck_base_of(const char *rel);
int64_t cohort__fsck_age_ms(const struct fsck *f, int64_t mtime_ns);
void cohort__fsck_fmt_age(char *out, size_t size, int64_t ms);

/* Check-only: wait for 'done' to say it was a write in flight. */
int cohort__fsck_settled(struct fsck *f,
			 int (*done)(struct fsck *, const void *),
			 const void *arg);
int cohort__fsck_stat_settled(struct cohort__stat *st, const char *path,
			      int confirm_absent);
int cohort__fsck_buf_reserve(struct fsck *f, size_t need);

/* ---- fsck_files.c: the checks of single files, lost+found ---------------- */

int cohort__fsck_lf_move(struct fsck *f, const char *rel, const char *what,
			 const char *why, char *moved, size_t size);
int cohort__fsck_lf_save_buf(struct fsck *f, const char *name,
			     const void *buf, size_t len, const char *what,
			     const char *why, char *moved, size_t size);
int cohort__fsck_lf_save_range(struct fsck *f, const char *name, int src_fd,
			       const char *src, uint64_t off, uint64_t end,
			       const char *what, const char *why, char *moved,
			       size_t size);

void cohort__fsck_check_identity(struct fsck *f);
void cohort__fsck_check_layout(struct fsck *f);
int cohort__fsck_check_locks(struct fsck *f);
void cohort__fsck_repair_leases(struct fsck *f);
void cohort__fsck_check_nodes(struct fsck *f);
void cohort__fsck_check_temps(struct fsck *f);
void cohort__fsck_check_files(struct fsck *f);

/* ---- fsck_journal.c: the journal ----------------------------------------- */

int cohort__fsck_check_journal(struct fsck *f);
int cohort__fsck_read_head(struct fsck *f, struct cohort__head *h, char *err,
			   size_t size);
int cohort__fsck_head_publish(struct fsck *f, struct cohort__head *h);
int cohort__fsck_scan(struct fsck *f, int fd, const char *path,
		      const char *rel, uint64_t off, uint64_t limit,
		      uint64_t rev, uint64_t limit_rev, int deliver,
		      struct scan_res *res);
void cohort__fsck_seg_rel(char *out, size_t size, uint64_t no);
int cohort__fsck_open_seg(struct fsck *f, uint64_t no, int rw, int *fd,
			  char *path, size_t size);

/* ---- fsck_journal_repair.c: what repair writes into the journal ---------- */

int cohort__fsck_add_fix(struct fsck *f, const struct seg *s, uint64_t off,
			 uint64_t end, uint64_t first, uint64_t last,
			 const char *fmt, ...) COHORT__PRINTF(7, 8);
void cohort__fsck_fix_lost(struct fsck *f);
int cohort__fsck_rebuild_head(struct fsck *f, char *moved, size_t msize);
void cohort__fsck_rebuild_seg_header(struct fsck *f, struct seg *s);

/* ---- fsck_store.c: the store --------------------------------------------- */

void cohort__fsck_store_begin(struct fsck *f);
void cohort__fsck_on_record(struct fsck *f, const cohort__rec *r,
			    const char *rel, uint64_t off);
void cohort__fsck_check_store(struct fsck *f);
void cohort__fsck_check_app_snapshot(struct fsck *f);

#endif
