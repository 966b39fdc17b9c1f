/*
 * journal_format.h - the journal's bytes on disk (internal; fsck, the
 * janitor and the fuzz targets decode them too).  All integers are
 * little-endian.
 */
#ifndef COHORT_JOURNAL_FORMAT_H
#define COHORT_JOURNAL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "cohort/cluster.h"
#include "os/os.h"

#define JHEAD_MAGIC 0x44484a43u /* "CJHD" */
#define JSEG_MAGIC 0x47534a43u	/* "CJSG" */
#define JREC_MAGIC 0x43524a43u	/* "CJRC" */
#define JHEAD_SLOT 128		 /* a version 2 slot */
#define JHEAD_SLOTS 8
#define JHEAD_SIZE (JHEAD_SLOTS * JHEAD_SLOT)
#define JHEAD1_SLOT 64		 /* a version 1 slot (read, never written) */
#define JHEAD1_SIZE (2 * JHEAD1_SLOT)
#define JSEG_HDR 64
#define JREC_HDR 40
#define JREC_LAST 0x01

/*
 * A head slot (version 2, 128 bytes): magic, version, seq, rev (last
 * committed, 0: none), seg (head segment number), off (end of committed
 * bytes in it), tail_rev (oldest retained revision), tail_seg, epoch (the
 * fencing epoch, see journal.h), brk (the lock's break token when the
 * epoch began), zeros, XXH3-64 of the 120 bytes before.  The head file
 * holds 8 slots; a publication goes to slot (epoch % 4) * 2 + seq % 2, so
 * a holder of an older epoch (up to 3 behind) never writes a slot of the
 * newer one.  Readers take the valid slot with the largest (epoch, seq).
 * A version 1 head (two 64-byte slots, no epoch) is still read, as epoch
 * 0; the first writer turns it into version 2.
 */
struct cohort__head {
	uint64_t seq;
	uint64_t rev;
	uint64_t seg;
	uint64_t off;
	uint64_t tail_rev;
	uint64_t tail_seg;
	uint64_t epoch;
	uint64_t brk;
};

typedef struct cohort__rec {
	uint64_t rev;
	int64_t time_ms;
	const char *node;
	size_t node_len;
	const char *type;
	size_t type_len;
	const unsigned char *data;
	size_t len;
	int last;
} cohort__rec;

void cohort__put64(unsigned char *p, uint64_t v);
void cohort__put32(unsigned char *p, uint32_t v);
uint64_t cohort__get64(const unsigned char *p);
uint32_t cohort__get32(const unsigned char *p);

void cohort__head_encode(unsigned char slot[JHEAD_SLOT],
			 const struct cohort__head *h);
/* Where in the head file 'h' is published (its slot's offset). */
uint64_t cohort__head_slot_off(const struct cohort__head *h);
/* Pick the newest valid slot of a head file's bytes (version 2, else
 * version 1); -1 if none is valid. */
int cohort__head_decode(struct cohort__head *h, const unsigned char *buf,
			size_t len);
int cohort__journal_head(cohort_cluster *c, struct cohort__head *h);

int cohort__seg_path(char *buf, size_t size, const char *root, uint64_t no);
/*
 * A segment header: magic, version (2; 1 is read), no, first_rev, epoch
 * (of the holder that started it; 0 in version 1), prev_end (where the
 * segment before it ended when this one was started: for people and
 * debugging, a repair of that segment may move its end), zeros, XXH3-64
 * of the 56 bytes before.  A segment whose epoch is above the one before
 * it was started by a takeover: bytes past the last revision of the one
 * before are a stale holder's late writes, never read (journal.h).
 */
void cohort__seg_header(unsigned char hdr[JSEG_HDR], uint64_t no,
			uint64_t first_rev);
void cohort__seg_header2(unsigned char hdr[JSEG_HDR], uint64_t no,
			 uint64_t first_rev, uint64_t epoch, uint64_t prev_end);
int cohort__seg_header_check(const unsigned char *hdr, uint64_t no,
			     uint64_t *first_rev);
/* The epoch of a header that checks (0 for version 1). */
uint64_t cohort__seg_header_epoch(const unsigned char *hdr);

size_t cohort__rec_size(size_t node_len, size_t type_len, size_t data_len);
size_t cohort__rec_encode(unsigned char *p, uint64_t rev, int64_t time_ms,
			  const char *node, const char *type, const void *data,
			  size_t len, int last);
long cohort__rec_decode(cohort__rec *r, const unsigned char *p, size_t avail,
			size_t *need);

/*
 * Resynchronize after damage at 'off' (records start at multiples of 8):
 * the first offset in (off, limit) where a verified record with a revision
 * in (after, limit_rev] starts.  'win' makes [o, o+need) readable (fewer
 * bytes at the end of the range).  Returns 1 and sets '*at', '*rev' when
 * found, 0 when not, or a negative code when the bytes cannot be read.
 * Readers and fsck both pass damage this way.
 */
typedef int (*cohort__window_fn)(void *ctx, uint64_t off, size_t need,
				 const unsigned char **p, size_t *avail);
int cohort__rec_resync(cohort__window_fn win, void *ctx, uint64_t off,
		       uint64_t limit, uint64_t after, uint64_t limit_rev,
		       uint64_t *at, uint64_t *rev);

/* Encode the data of a lost record (COHORT_LOST_TYPE): '*out' is the
 * caller's (free()). */
int cohort__lost_format(char **out, size_t *len, uint64_t first,
			uint64_t last, int64_t when_ms, const char *why);

int cohort__revision_parse(uint64_t *rev, const char *text, size_t len);
/* Write node 'node''s revision file (fsck's repair; a node writes its own
 * with cohort_journal_set_revision()). */
int cohort__revision_write_node(cohort_cluster *c, const char *node,
				uint64_t rev);
/* This node's revision file (join writes a new node's first one). */
int cohort__revision_write(cohort_cluster *c, uint64_t rev);
/* Oldest retained and last committed revision without a journal handle
 * (join, snapshots). */
int cohort__journal_bounds(cohort_cluster *c, uint64_t *tail, uint64_t *head);
/* Create 'journal/head' and the first segment under 'root' (init). */
int cohort__journal_create(const char *root, cohort__perm mode);

struct cohort_journal;
struct cohort_lock;
typedef void (*cohort__trim_fn)(void *arg, const char *path, uint64_t first,
				uint64_t last, uint64_t bytes);
/* The janitor's segment removal; see journal.c. */
int cohort__journal_trim(struct cohort_journal *j, struct cohort_lock *l,
			 uint64_t limit, int64_t min_age_ms, int dry_run,
			 cohort__trim_fn fn, void *arg, uint64_t *new_tail);
/* The cluster a journal handle was opened on (the node's committer). */
cohort_cluster *cohort__journal_cluster(struct cohort_journal *j);

#endif
