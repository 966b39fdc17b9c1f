/*
 * cohort/journal.h - the cluster journal: totally ordered, checksummed
 * records on a shared mount, appended by every node and replayed by each.
 *
 * Calling sequence:
 *
 *	cohort_journal *j;
 *	cohort_journal_open(&j, c);
 *	cohort_journal_append(j, entries, n, &first_rev);  durable on return
 *	cohort_journal_apply(j, fn, arg, &applied);        replay what this
 *	                                                   node has not applied
 *	while (running) {
 *		cohort_journal_wait(j, known_head, timeout_ms);  or put
 *		cohort_journal_fd(j) in your poll loop, with a timeout of
 *		cohort_journal_poll_interval_ms(j)
 *		cohort_journal_apply(j, fn, arg, &applied);
 *	}
 *	cohort_journal_close(j);
 *
 * On disk ('journal/' under the root): 'head', a 1 KiB file whose inode
 * never changes, holding eight checksummed slots (the valid one with the
 * largest (epoch, seq) wins, so a torn write of one slot loses nothing);
 * and segments 'seg-<16 hex>', each a 64-byte header and then records:
 *
 *	magic 'CJRC' | data length | revision | time (ms, appender's clock) |
 *	node length | type length | flags (bit 0: last record of its commit) |
 *	XXH3-64 of all of it | node | type | data | zero padding to 8 bytes
 *
 * Commit protocol (under the cluster lock "journal"): read the head and
 * the lock's break token.  If the token is not the one the head's epoch
 * began with, a holder before us lost the lock and may still have writes
 * on their way (a node cut off from the NFS server flushes them when its
 * link returns): take over.  Keep the whole verified commits past the
 * head as they are (cut nothing), seal the head segment after them and
 * start a new epoch in the next segment.  Otherwise cut bytes past the
 * head after keeping whole verified commits there (a crashed writer's).
 * If the segment is full, create the next one (link() of a whole file,
 * never an O_TRUNC open) and publish it; the old one is sealed: never
 * written again.  Write the records at the head offset with one pwrite
 * (never O_APPEND); fdatasync (durable); check the lease; publish the new
 * head in the slot (epoch % 4) * 2 + seq % 2; confirm the lock (the lease
 * file still ours by the server's word) before returning success, else
 * fail saying that the commit may or may not appear.
 *
 * Fencing, in short: a stale holder's late data lands in a sealed segment
 * past its last revision, where no reader reads (readers stop at the next
 * segment's first revision); its late head slot is of an older epoch, in
 * that epoch's slots, and never wins; its late segment create fails
 * (EEXIST) or is replaced before use; a holder never truncates after it
 * may have lost the lock.  Readers read only up to the published head,
 * so they never see a torn or uncommitted record, and verify every record
 * before delivering it.  See NOTES.md ("Journal commit", "Fencing").
 */
#ifndef COHORT_JOURNAL_H
#define COHORT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cohort_journal cohort_journal;

/* Largest payload of one record. */
#define COHORT_RECORD_MAX (64u * 1024 * 1024)

/* One record to append. 'type' NULL means "data". */
typedef struct cohort_entry {
	const char *type;
	const void *data;
	size_t len;
} cohort_entry;

/* A record read back.  All pointers borrowed, valid during the callback. */
typedef struct cohort_record {
	uint64_t rev;
	int64_t time_ms; /* wall clock of the appending node */
	const char *node;
	const char *type;
	const void *data;
	size_t len;
} cohort_record;

/*
 * Lost records.  'cohort fsck --repair' replaces each committed revision it
 * cannot read (damaged bytes, a missing segment) by a verified record of
 * this reserved type, so that revisions stay contiguous and every reader
 * can pass; the damaged bytes go to lost+found.  Its data is one JSON
 * object naming the whole range lost with it, when it was repaired and
 * why: {"lost":[FIRST,LAST],"repaired":"2026-12-07T01:02:03.456Z",
 * "why":"..."}.  cohort_journal_read() delivers them like any record;
 * cohort_journal_apply() stops at one with COHORT_ELOST unless told to
 * skip them (cohort_journal_apply_with()).
 */
#define COHORT_LOST_TYPE "cohort.lost"

/* The range a lost record names: 0, or COHORT_EINVAL if 'r' is none. */
int cohort_record_lost_range(const cohort_record *r, uint64_t *first,
			     uint64_t *last);

/* Return 0 to go on; anything else stops the walk and is returned. */
typedef int (*cohort_record_fn)(const cohort_record *r, void *arg);

/*
 * Open the journal of an open cluster; '*out' is closed with _close.  A
 * handle is used by one thread at a time, except cohort_journal_append(),
 * which many threads may call at once: appends that wait while another
 * commits are committed together (one write, one fdatasync), each still
 * all-or-nothing and with consecutive revisions.
 */
int cohort_journal_open(cohort_journal **out, cohort_cluster *c);
void cohort_journal_close(cohort_journal *j);

/*
 * Append 'n' records as one commit, all or nothing; '*first_rev' (may be
 * NULL) gets the revision of the first, the others follow consecutively.
 * Returns once the commit is durable on the shared mount.  Needs a node id.
 * COHORT_EINVAL for a bad type or a payload over COHORT_RECORD_MAX,
 * COHORT_ELOCKED when the journal lock cannot be had or was lost,
 * COHORT_ENOSPACE when the mount is full (nothing is then committed).
 */
int cohort_journal_append(cohort_journal *j, const cohort_entry *e, size_t n,
			  uint64_t *first_rev);

/* Oldest retained revision and last committed one (0 when empty). */
int cohort_journal_bounds(cohort_journal *j, uint64_t *tail, uint64_t *head);

/*
 * Call 'fn' for each committed record from revision 'from' on, in order, at
 * most 'limit' of them (0: no limit).  COHORT_ENOTFOUND when 'from' is
 * older than the tail; COHORT_ECORRUPT (message naming revision, file and
 * offset) when a record below the head fails verification.
 */
int cohort_journal_read(cohort_journal *j, uint64_t from, uint64_t limit,
			cohort_record_fn fn, void *arg);

/* This node's revision (last applied); 0 before the first record. */
int cohort_journal_revision(cohort_journal *j, uint64_t *rev);
/* Set this node's revision: atomic replace of nodes/ID/revision. */
int cohort_journal_set_revision(cohort_journal *j, uint64_t rev);

/*
 * Apply every record after this node's revision, in order: call 'fn', and
 * when it returns 0 advance the revision to that record (written after each
 * record when 'each' is set, else once at the end).  Stops at the first
 * non-zero return of 'fn' (returned) with the revision at the last record
 * applied.  '*applied' (may be NULL) counts the records applied.
 * COHORT_EBEHIND when this node's revision is older than the tail;
 * COHORT_ELOST at a lost record (see cohort_apply_options).
 */
int cohort_journal_apply(cohort_journal *j, int each, cohort_record_fn fn,
			 void *arg, uint64_t *applied);

/*
 * How cohort_journal_apply_with() applies.
 *
 * Batches.  Writing the revision file is an atomic replace with two syncs
 * (and several RPCs on NFS): after every record it costs far more than
 * the record.  With 'batch' set, the revision is written once per
 * 'batch' records (or once 'batch_ms' passed since the batch began), and
 * at the end; 'batch_done', when given, is called with the batch's last
 * revision before its revision is written: flush what 'fn' printed, run a
 * hook over what 'fn' collected.  Its failure stops the walk and is
 * returned, the revision left before the batch.  A crash then replays at
 * most the batch in flight (at least once, as with 'each'), and never
 * skips a record: the revision never names a record that 'fn' did not
 * return 0 for and that 'batch_done' did not then accept.
 */
typedef struct cohort_apply_options {
	int version;
	/* Write the revision after each record (else once at the end). */
	int each;
	/*
	 * Lost records (COHORT_LOST_TYPE): 0 stops before the first one with
	 * COHORT_ELOST (the message names the revisions); 1 accepts the loss:
	 * 'fn' is not called for them, the revision passes them, and each
	 * range is added to 'nodes/ID/skipped-lost' (see
	 * cohort_journal_skipped_lost()).
	 */
	int skip_lost;
	/* Since version 2. */
	/* Records per revision write (0: as 'each' says); overrides 'each'. */
	uint64_t batch;
	/* With 'batch': also end a batch once it is this old (0: no limit). */
	int batch_ms;
	/* Called before each revision write with the revision about to be
	 * written (may be NULL); non-zero stops the walk and is returned. */
	int (*batch_done)(uint64_t last_rev, void *arg);
	void *batch_arg;
} cohort_apply_options;

#define COHORT_APPLY_OPTIONS_VERSION 2
#define COHORT_APPLY_OPTIONS_INIT { COHORT_APPLY_OPTIONS_VERSION, 1, 0, 0, 0, \
				    NULL, NULL }

/*
 * cohort_journal_apply() with options ('o' NULL: the defaults).  Options
 * of version 1 (without the batch fields) are accepted.
 */
int cohort_journal_apply_with(cohort_journal *j, const cohort_apply_options *o,
			      cohort_record_fn fn, void *arg, uint64_t *applied);

/*
 * The lost ranges node 'node' skipped, one "FIRST-LAST" line each, in the
 * order it passed them; '*ranges' is the caller's (free()), NULL when it
 * skipped none.
 */
int cohort_journal_skipped_lost(cohort_cluster *c, const char *node,
				char **ranges);

/*
 * Wait until the head passes 'known' or 'timeout_ms' passes (negative:
 * forever).  Returns 1 when there is something new, 0 on timeout.  Wakes at
 * once for commits made through this mount on this host (inotify) and
 * within the poll interval for commits of other hosts.
 */
int cohort_journal_wait(cohort_journal *j, uint64_t known, int timeout_ms);

/*
 * A descriptor that becomes readable when this host commits (inotify);
 * other hosts' commits are seen only by polling, so wait on it with a
 * timeout of cohort_journal_poll_interval_ms() and call
 * cohort_journal_bounds() or _apply() on every wake.  Owned by the handle.
 */
int cohort_journal_fd(cohort_journal *j);
int cohort_journal_poll_interval_ms(const cohort_journal *j);
/* Override the configured poll interval (milliseconds, at least 1). */
void cohort_journal_set_poll_interval_ms(cohort_journal *j, int ms);
/* Drain the descriptor after it became readable. */
void cohort_journal_fd_drain(cohort_journal *j);

/* Read any node's revision file. */
int cohort_journal_node_revision(cohort_cluster *c, const char *node,
				 uint64_t *rev);

#ifdef __cplusplus
}
#endif
#endif
