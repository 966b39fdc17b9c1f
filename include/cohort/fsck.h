/*
 * cohort/fsck.h - check, and repair, everything on the shared root without
 * losing data ('cohort fsck').
 *
 * Calling sequence:
 *
 *	cohort_fsck_options o = COHORT_FSCK_OPTIONS_INIT;
 *	cohort_fsck_summary sum;
 *	o.repair = 1;                      (needs a node id; else check only)
 *	rc = cohort_fsck(&sum, c, &o, on_problem, arg);
 *	rc < 0: the check could not run (exit 8); else
 *	sum.problems == 0: clean; sum.repaired == sum.problems: all repaired;
 *	else problems are left for the operator.
 *
 * What is checked: the cluster identity and format; the journal (every
 * record's framing and checksum, revisions contiguous, the head against the
 * segments, a torn or uncommitted tail past the head, sealed segments that
 * changed, segments below the tail or past the head left behind); node
 * files (revision files readable and not past the head, live nodes behind
 * the oldest retained record, heartbeat and instance files); stale leases,
 * break files and leftovers of dead lock holders (judged as the lock
 * protocol judges them: a dead pid on this very host and boot, or no change
 * for lease_timeout + skew_margin by the file server's clock); temporary
 * files of crashed writers older than a grace period ('.nfsXXXX' files are
 * never looked at); the store (the index snapshot against the journal's
 * store records, every indexed package's blob present with its size, with
 * 'read_data' every blob's XXH3-128, blobs nothing references); zero-length
 * and unreadable files anywhere under the root ('locks/NAME.lock' files are
 * empty by design).
 *
 * Check only takes no lock and writes nothing on the root except one
 * temporary file, created and removed at once, whose mtime is the file
 * server's clock (skipped when the root is read-only).  Things that a
 * running writer may be in the middle of (bytes past the head, a segment
 * past the head) are reported only when the head stays still while fsck
 * looks twice, so it can run while the cluster works.
 *
 * Repair takes the cluster locks 'store' and then 'journal' (the order
 * every writer uses) for its whole run, so it never races a writer, and:
 * publishes whole durable commits found past the head (as the next writer
 * would), cuts what is left past them; cuts bytes past the end of a sealed
 * segment; rebuilds the index snapshot from the journal; breaks stale
 * leases by the lock protocol itself (cohort_lock_acquire); and moves
 * stale temporary files, segments left below the tail or past the head,
 * damaged or unreferenced blobs and other damaged files out of the way.
 * Nothing is ever deleted: every file moved and every byte cut goes to
 * 'lost+found/<UTC time>/' under the root, under its relative path, listed
 * in that folder's MANIFEST with what it was and why it moved.  A damaged
 * committed record (below the head), a missing or damaged head, a damaged
 * revision file or a blob whose content is gone are reported and left for
 * the operator.
 */
#ifndef COHORT_FSCK_H
#define COHORT_FSCK_H

#include <stdint.h>

#include "cluster.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One problem found.  Strings borrowed, valid during the callback. */
typedef struct cohort_fsck_problem {
	const char *kind;     /* stable name: "journal.record", "temp", ... */
	const char *path;     /* relative to the root */
	const char *detail;   /* one line for people */
	int repaired;	      /* fixed by this run */
	uint64_t rev;	      /* journal revision concerned, 0: none */
	int64_t offset;	      /* byte offset in 'path', -1: none */
	const char *moved_to; /* where it went under the root, or NULL */
} cohort_fsck_problem;

typedef void (*cohort_fsck_problem_fn)(const cohort_fsck_problem *p,
				       void *arg);
/* Progress of a long phase: 'total' 0 when unknown. */
typedef void (*cohort_fsck_progress_fn)(const char *phase, uint64_t done,
					uint64_t total, void *arg);

typedef struct cohort_fsck_options {
	unsigned int version;
	int repair;	       /* fix what can be fixed (needs a node id) */
	int read_data;	       /* hash every blob's content */
	int64_t grace_ms;      /* temp and unreferenced files younger than
				  this are left alone; < 0: 1 hour */
	cohort_fsck_progress_fn progress; /* may be NULL */
	void *progress_arg;
} cohort_fsck_options;

#define COHORT_FSCK_OPTIONS_VERSION 1
#define COHORT_FSCK_OPTIONS_INIT \
	{ COHORT_FSCK_OPTIONS_VERSION, 0, 0, -1, NULL, NULL }

typedef struct cohort_fsck_summary {
	uint64_t head, tail;	     /* revisions, as the head says */
	uint64_t segments, records;  /* records verified */
	uint64_t nodes, leases, files, temp_files;
	uint64_t packages, blobs, blob_bytes_hashed;
	uint64_t problems, repaired; /* left: problems - repaired */
	/*
	 * Lost records in the journal (revisions an earlier repair could not
	 * save, verified, not a problem: readers stop there, see
	 * cohort_apply_options), and revisions this run replaced by them.
	 */
	uint64_t lost_records, lost;
	int server_clock;	     /* ages by the file server's clock */
	char lost_found[64];	     /* "lost+found/<time>" or "" */
} cohort_fsck_summary;

/*
 * Check the root of 'c' (and repair it with o->repair), calling 'fn' (may
 * be NULL) once per problem, after any repair of it.  '*out' counts what
 * was checked and found.  Returns 0 when the check ran, whatever it found;
 * a negative COHORT_E* code when it could not (the journal lock cannot be
 * had, the root cannot be listed, ...): then the summary holds what was
 * found so far.
 */
int cohort_fsck(cohort_fsck_summary *out, cohort_cluster *c,
		const cohort_fsck_options *o, cohort_fsck_problem_fn fn,
		void *arg);

#ifdef __cplusplus
}
#endif
#endif
