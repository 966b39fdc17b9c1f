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
#define JHEAD_SLOT 64
#define JHEAD_SIZE (2 * JHEAD_SLOT)
#define JSEG_HDR 64
#define JREC_HDR 40
#define JREC_LAST 0x01

/*
 * A head slot: magic, version 1, seq, rev (last committed, 0: none), seg
 * (head segment number), off (end of committed bytes in it), tail_rev
 * (oldest retained revision), tail_seg, XXH3-64 of the 56 bytes before.
 * The slot written is seq % 2; readers take the valid slot with the
 * larger seq.
 */
struct cohort__head {
	uint64_t seq;
	uint64_t rev;
	uint64_t seg;
	uint64_t off;
	uint64_t tail_rev;
	uint64_t tail_seg;
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
/* Pick the newer valid slot of a 128-byte head; -1 if none is valid. */
int cohort__head_decode(struct cohort__head *h, const unsigned char *buf,
			size_t len);
int cohort__journal_head(cohort_cluster *c, struct cohort__head *h);

int cohort__seg_path(char *buf, size_t size, const char *root, uint64_t no);
void cohort__seg_header(unsigned char hdr[JSEG_HDR], uint64_t no,
			uint64_t first_rev);
int cohort__seg_header_check(const unsigned char *hdr, uint64_t no,
			     uint64_t *first_rev);

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
