/*
 * journal.c - the cluster journal: framing, the head file, segments, the
 * commit protocol, reading, replay and waiting.  The protocol and its
 * crash-safety argument are at the top of cohort/journal.h and in NOTES.md.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json.h>
#include <time.h>
#include <xxhash.h>

#include "cluster.h"
#include "cohort/journal.h"
#include "cohort/lock.h"
#include "journal_format.h"
#include "lock_state.h"
#include "os/os.h"

#define READ_CHUNK (1u << 20)

struct group;
#define SEGS_CACHE 64

struct seg_cache {
	uint64_t no;
	uint64_t first_rev;
};

struct cohort_journal {
	cohort_cluster *c;
	char head_path[PATH_MAX];
	int64_t segment_size;
	int head_sync;
	int poll_ms;
	int watch_fd;
	int watch_tried; /* the inotify watch is made on first use */
	/* writer: the head and the head segment, kept open across appends */
	int head_fd;
	int seg_fd;
	uint64_t seg_no;
	char seg_path[PATH_MAX];
	unsigned char *wbuf;
	size_t wcap;
	/* reader: a window on one segment */
	unsigned char *rbuf;
	size_t rcap;
	struct seg_cache segs[SEGS_CACHE];
	unsigned int nsegs;
	/* group commit of appends from several threads */
	pthread_mutex_t gc_mu;
	pthread_cond_t gc_cv;
	struct group *gc_queue;
	int gc_busy;
};

/* ---- little-endian fields ----------------------------------------------- */

void cohort__put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void cohort__put32(unsigned char *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t cohort__get64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint32_t cohort__get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- head --------------------------------------------------------------- */

void cohort__head_encode(unsigned char slot[JHEAD_SLOT], const struct cohort__head *h)
{
	memset(slot, 0, JHEAD_SLOT);
	cohort__put32(slot, JHEAD_MAGIC);
	cohort__put32(slot + 4, 2);
	cohort__put64(slot + 8, h->seq);
	cohort__put64(slot + 16, h->rev);
	cohort__put64(slot + 24, h->seg);
	cohort__put64(slot + 32, h->off);
	cohort__put64(slot + 40, h->tail_rev);
	cohort__put64(slot + 48, h->tail_seg);
	cohort__put64(slot + 56, h->epoch);
	cohort__put64(slot + 64, h->brk);
	cohort__put64(slot + JHEAD_SLOT - 8, XXH3_64bits(slot, JHEAD_SLOT - 8));
}

uint64_t cohort__head_slot_off(const struct cohort__head *h)
{
	return ((h->epoch % (JHEAD_SLOTS / 2)) * 2 + h->seq % 2) * JHEAD_SLOT;
}

static int slot_fields(struct cohort__head *h, const unsigned char *s)
{
	h->seq = cohort__get64(s + 8);
	h->rev = cohort__get64(s + 16);
	h->seg = cohort__get64(s + 24);
	h->off = cohort__get64(s + 32);
	h->tail_rev = cohort__get64(s + 40);
	h->tail_seg = cohort__get64(s + 48);
	if (h->off < JSEG_HDR || h->tail_seg > h->seg || h->tail_rev > h->rev + 1 ||
	    h->seq == 0)
		return -1;
	return 0;
}

static int slot_decode(struct cohort__head *h, const unsigned char *s)
{
	if (cohort__get32(s) != JHEAD_MAGIC || cohort__get32(s + 4) != 2 ||
	    cohort__get64(s + JHEAD_SLOT - 8) != XXH3_64bits(s, JHEAD_SLOT - 8))
		return -1;
	h->epoch = cohort__get64(s + 56);
	h->brk = cohort__get64(s + 64);
	return slot_fields(h, s);
}

static int slot1_decode(struct cohort__head *h, const unsigned char *s)
{
	if (cohort__get32(s) != JHEAD_MAGIC || cohort__get32(s + 4) != 1 ||
	    cohort__get64(s + 56) != XXH3_64bits(s, 56))
		return -1;
	h->epoch = h->brk = 0;
	return slot_fields(h, s);
}

static int head_newer(const struct cohort__head *a, const struct cohort__head *b)
{
	return a->epoch > b->epoch || (a->epoch == b->epoch && a->seq > b->seq);
}

int cohort__head_decode(struct cohort__head *h, const unsigned char *buf,
			size_t len)
{
	struct cohort__head best, x;
	size_t i;
	int found = 0;

	memset(&best, 0, sizeof(best));
	if (len == JHEAD_SIZE) {
		for (i = 0; i < JHEAD_SLOTS; i++)
			if (slot_decode(&x, buf + i * JHEAD_SLOT) == 0 &&
			    (!found || head_newer(&x, &best))) {
				best = x;
				found = 1;
			}
	} else if (len != JHEAD1_SIZE) {
		return -1;
	}
	/* Version 1, or a version 1 head that a writer is turning into
	 * version 2 (its first bytes are still the old slots). */
	if (!found) {
		for (i = 0; i < 2; i++)
			if (slot1_decode(&x, buf + i * JHEAD1_SLOT) == 0 &&
			    (!found || head_newer(&x, &best))) {
				best = x;
				found = 1;
			}
	}
	if (!found)
		return -1;
	*h = best;
	return 0;
}

/* Open the head file by name and read it: fresh on NFS (close-to-open). */
static int head_read_path(struct cohort__head *h, const char *path)
{
	char *text = NULL;
	size_t len;
	int rc;

	rc = cohort__os_read_file(&text, &len, path, 4096);
	if (rc)
		return rc == COHORT_ENOTFOUND ?
			cohort__error(COHORT_ECORRUPT,
				      "journal head '%s' is missing", path) : rc;
	rc = cohort__head_decode(h, (unsigned char *)text, len);
	free(text);
	if (rc)
		return cohort__error(COHORT_ECORRUPT,
				     "journal head '%s' holds no valid slot "
				     "(%zu bytes)", path, len);
	return 0;
}

/*
 * Publish 'h' in the slot its sequence number picks.  '*written' (may be
 * NULL) tells whether the slot reached the file: after that, readers may
 * have seen it even if the sync failed.
 */
static int head_publish2(cohort_journal *j, struct cohort__head *h,
			 int *written)
{
	unsigned char slot[JHEAD_SLOT];
	int rc;

	if (written)
		*written = 0;
	h->seq++;
	if (h->epoch == 0) {
		/* A version 1 head turns into version 2: the file grows to
		 * its new size first (zeros: no valid version 2 slot, so
		 * readers still take the old slots until ours is written). */
		h->epoch = 1;
		if ((rc = cohort__os_ftruncate(j->head_fd, JHEAD_SIZE,
					       j->head_path)))
			return rc;
	}
	cohort__head_encode(slot, h);
	rc = cohort__os_pwrite_full(j->head_fd, slot, JHEAD_SLOT,
				    cohort__head_slot_off(h), j->head_path);
	if (rc)
		return rc;
	if (written)
		*written = 1;
	if (j->head_sync)
		rc = cohort__os_fdatasync(j->head_fd, j->head_path);
	return rc;
}

static int head_publish(cohort_journal *j, struct cohort__head *h)
{
	return head_publish2(j, h, NULL);
}

/* ---- segments ----------------------------------------------------------- */

int cohort__seg_path(char *buf, size_t size, const char *root, uint64_t no)
{
	int n = snprintf(buf, size, "%s/journal/seg-%016llx", root,
			 (unsigned long long)no);

	if (n < 0 || (size_t)n >= size)
		return cohort__error(COHORT_EINVAL, "path too long under '%s'",
				     root);
	return 0;
}

void cohort__seg_header2(unsigned char hdr[JSEG_HDR], uint64_t no,
			 uint64_t first_rev, uint64_t epoch, uint64_t prev_end)
{
	memset(hdr, 0, JSEG_HDR);
	cohort__put32(hdr, JSEG_MAGIC);
	cohort__put32(hdr + 4, 2);
	cohort__put64(hdr + 8, no);
	cohort__put64(hdr + 16, first_rev);
	cohort__put64(hdr + 24, epoch);
	cohort__put64(hdr + 32, prev_end);
	cohort__put64(hdr + 56, XXH3_64bits(hdr, 56));
}

void cohort__seg_header(unsigned char hdr[JSEG_HDR], uint64_t no,
			uint64_t first_rev)
{
	cohort__seg_header2(hdr, no, first_rev, 0, 0);
}

int cohort__seg_header_check(const unsigned char *hdr, uint64_t no,
			     uint64_t *first_rev)
{
	uint32_t v = cohort__get32(hdr + 4);

	if (cohort__get32(hdr) != JSEG_MAGIC || (v != 1 && v != 2) ||
	    cohort__get64(hdr + 56) != XXH3_64bits(hdr, 56) ||
	    cohort__get64(hdr + 8) != no)
		return -1;
	*first_rev = cohort__get64(hdr + 16);
	return 0;
}

uint64_t cohort__seg_header_epoch(const unsigned char *hdr)
{
	return cohort__get32(hdr + 4) == 2 ? cohort__get64(hdr + 24) : 0;
}

int cohort__journal_create(const char *root, cohort__perm mode)
{
	unsigned char hdr[JSEG_HDR], head[JHEAD_SIZE];
	struct cohort__head h = { 0, 0, 1, JSEG_HDR, 1, 1, 1, 0 };
	char path[PATH_MAX];
	int rc;

	if ((rc = cohort__seg_path(path, sizeof(path), root, 1)))
		return rc;
	cohort__seg_header2(hdr, 1, 1, 1, 0);
	rc = cohort__os_create_exclusive(path, hdr, sizeof(hdr), mode,
					 "init", 1);
	if (rc && rc != COHORT_EEXISTS)
		return rc;
	memset(head, 0, sizeof(head));
	h.seq = 1;
	cohort__head_encode(head + cohort__head_slot_off(&h), &h);
	snprintf(path, sizeof(path), "%s/journal/head", root);
	rc = cohort__os_create_exclusive(path, head, sizeof(head), mode,
					 "init", 1);
	if (rc && rc != COHORT_EEXISTS)
		return rc;
	cohort__error_clear();
	return 0;
}

/* ---- records ------------------------------------------------------------ */

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

size_t cohort__rec_size(size_t node_len, size_t type_len, size_t data_len)
{
	return JREC_HDR + pad8(node_len + type_len + data_len);
}

size_t cohort__rec_encode(unsigned char *p, uint64_t rev, int64_t time_ms,
			  const char *node, const char *type, const void *data,
			  size_t len, int last)
{
	size_t nl = strlen(node), tl = strlen(type);
	size_t body = nl + tl + len, size = JREC_HDR + pad8(body);

	memset(p, 0, size);
	cohort__put32(p, JREC_MAGIC);
	cohort__put32(p + 4, (uint32_t)len);
	cohort__put64(p + 8, rev);
	cohort__put64(p + 16, (uint64_t)time_ms);
	p[24] = (unsigned char)nl;
	p[25] = 0;
	p[26] = (unsigned char)tl;
	p[27] = 0;
	p[28] = last ? JREC_LAST : 0;
	memcpy(p + JREC_HDR, node, nl);
	memcpy(p + JREC_HDR + nl, type, tl);
	if (len)
		memcpy(p + JREC_HDR + nl + tl, data, len);
	cohort__put64(p + 32, XXH3_64bits_withSeed(p + JREC_HDR, body,
						   XXH3_64bits(p, 32)));
	return size;
}

/*
 * Decode the record at 'p' ('avail' bytes there).  Returns its size, 0 if
 * more bytes are needed (then '*need' says how many), or -1 if the bytes
 * are not a valid record.  Pointers in 'r' point into 'p'.
 */
long cohort__rec_decode(cohort__rec *r, const unsigned char *p, size_t avail,
			size_t *need)
{
	size_t nl, tl, dl, size;

	*need = JREC_HDR;
	if (avail < JREC_HDR)
		return 0;
	if (cohort__get32(p) != JREC_MAGIC)
		return -1;
	dl = cohort__get32(p + 4);
	nl = p[24] | (size_t)p[25] << 8;
	tl = p[26] | (size_t)p[27] << 8;
	if (dl > COHORT_RECORD_MAX || nl == 0 || nl > COHORT_NODE_ID_MAX ||
	    tl == 0 || tl > COHORT_NODE_ID_MAX || (p[28] & ~JREC_LAST))
		return -1;
	size = JREC_HDR + pad8(nl + tl + dl);
	*need = size;
	if (avail < size)
		return 0;
	if (cohort__get64(p + 32) !=
	    XXH3_64bits_withSeed(p + JREC_HDR, nl + tl + dl, XXH3_64bits(p, 32)))
		return -1;
	/* The padding is outside the checksum: it must be zeros, so that no
	 * byte of a record can change unnoticed. */
	{
		size_t i;

		for (i = JREC_HDR + nl + tl + dl; i < size; i++)
			if (p[i])
				return -1;
	}
	r->rev = cohort__get64(p + 8);
	r->time_ms = (int64_t)cohort__get64(p + 16);
	r->node = (const char *)p + JREC_HDR;
	r->node_len = nl;
	r->type = (const char *)p + JREC_HDR + nl;
	r->type_len = tl;
	r->data = p + JREC_HDR + nl + tl;
	r->len = dl;
	r->last = p[28] & JREC_LAST;
	return (long)size;
}

int cohort__rec_resync(cohort__window_fn win, void *ctx, uint64_t off,
		       uint64_t limit, uint64_t after, uint64_t limit_rev,
		       uint64_t *at, uint64_t *rev)
{
	uint64_t pos;
	int rc;

	for (pos = off + 8; pos + JREC_HDR <= limit; pos += 8) {
		const unsigned char *p;
		size_t avail, need = JREC_HDR;
		cohort__rec r;
		long size;

		if ((rc = win(ctx, pos, need, &p, &avail)))
			return rc;
		if (avail < JREC_HDR || cohort__get32(p) != JREC_MAGIC)
			continue;
		size = cohort__rec_decode(&r, p, avail, &need);
		if (size == 0 && need <= limit - pos && need > avail) {
			if ((rc = win(ctx, pos, need, &p, &avail)))
				return rc;
			size = cohort__rec_decode(&r, p, avail, &need);
		}
		if (size > 0 && r.rev > after && r.rev <= limit_rev) {
			*at = pos;
			*rev = r.rev;
			return 1;
		}
	}
	return 0;
}

/* ---- lost records ---------------------------------------------------------- */

int cohort__lost_format(char **out, size_t *len, uint64_t first,
			uint64_t last, int64_t when_ms, const char *why)
{
	json_object *o = json_object_new_object(), *range;
	char when[40];
	time_t t = (time_t)(when_ms / 1000);
	struct tm tm;
	const char *text;

	*out = NULL;
	if (!o || !(range = json_object_new_array())) {
		json_object_put(o);
		return cohort__error(COHORT_ERROR, "out of memory");
	}
	gmtime_r(&t, &tm);
	strftime(when, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03dZ",
		 (int)(when_ms % 1000));
	json_object_array_add(range, json_object_new_int64((int64_t)first));
	json_object_array_add(range, json_object_new_int64((int64_t)last));
	json_object_object_add(o, "lost", range);
	json_object_object_add(o, "repaired", json_object_new_string(when));
	json_object_object_add(o, "why", json_object_new_string(why));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	*out = text ? strdup(text) : NULL;
	json_object_put(o);
	if (!*out)
		return cohort__error(COHORT_ERROR, "out of memory");
	*len = strlen(*out);
	return 0;
}

int cohort_record_lost_range(const cohort_record *r, uint64_t *first,
			     uint64_t *last)
{
	json_tokener *tok;
	json_object *o, *range, *a, *b;
	int rc = COHORT_EINVAL;

	if (!r || !r->type || strcmp(r->type, COHORT_LOST_TYPE) ||
	    r->len > 4096)
		return cohort__error(COHORT_EINVAL, "not a lost record");
	if (!(tok = json_tokener_new()))
		return cohort__error(COHORT_ERROR, "out of memory");
	o = json_tokener_parse_ex(tok, r->data, (int)r->len);
	if (o && json_object_object_get_ex(o, "lost", &range) &&
	    json_object_is_type(range, json_type_array) &&
	    json_object_array_length(range) == 2 &&
	    (a = json_object_array_get_idx(range, 0)) &&
	    (b = json_object_array_get_idx(range, 1)) &&
	    json_object_is_type(a, json_type_int) &&
	    json_object_is_type(b, json_type_int) &&
	    json_object_get_int64(a) > 0 &&
	    json_object_get_int64(b) >= json_object_get_int64(a)) {
		*first = (uint64_t)json_object_get_int64(a);
		*last = (uint64_t)json_object_get_int64(b);
		rc = 0;
	}
	json_object_put(o);
	json_tokener_free(tok);
	if (rc)
		return cohort__error(COHORT_EINVAL, "lost record %llu names no "
				     "range", (unsigned long long)r->rev);
	return 0;
}

/* ---- open / close ------------------------------------------------------- */

int cohort_journal_open(cohort_journal **out, cohort_cluster *c)
{
	cohort_journal *j;
	const char *hs;
	int rc;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return cohort__error(COHORT_ERROR, "out of memory");
	j->c = c;
	j->head_fd = j->seg_fd = j->watch_fd = -1;
	j->segment_size = cohort__config_num(&c->cfg, "journal", "segment_size");
	if (j->segment_size < 4096)
		j->segment_size = 4096;
	j->poll_ms = (int)cohort__config_num(&c->cfg, "journal", "poll_interval");
	if (j->poll_ms < 1)
		j->poll_ms = 1;
	hs = cohort__config_str(&c->cfg, "journal", "head_sync");
	j->head_sync = !strcmp(hs, "always") || (!strcmp(hs, "auto") && c->nfs);
	if ((rc = cohort__root_path(j->head_path, sizeof(j->head_path), c,
				    "journal/head"))) {
		free(j);
		return rc;
	}
	pthread_mutex_init(&j->gc_mu, NULL);
	pthread_cond_init(&j->gc_cv, NULL);
	*out = j;
	return 0;
}

void cohort_journal_close(cohort_journal *j)
{
	if (!j)
		return;
	cohort__os_close_quiet(j->head_fd);
	cohort__os_close_quiet(j->seg_fd);
	cohort__os_close_quiet(j->watch_fd);
	free(j->wbuf);
	free(j->rbuf);
	pthread_mutex_destroy(&j->gc_mu);
	pthread_cond_destroy(&j->gc_cv);
	free(j);
}

int cohort__journal_bounds(cohort_cluster *c, uint64_t *tail, uint64_t *head)
{
	char path[PATH_MAX];
	struct cohort__head h;
	int rc;

	if ((rc = cohort__root_path(path, sizeof(path), c, "journal/head")) ||
	    (rc = head_read_path(&h, path)))
		return rc;
	*tail = h.tail_rev;
	*head = h.rev;
	return 0;
}

int cohort_journal_bounds(cohort_journal *j, uint64_t *tail, uint64_t *head)
{
	struct cohort__head h;
	int rc = head_read_path(&h, j->head_path);

	if (rc)
		return rc;
	if (tail)
		*tail = h.tail_rev;
	if (head)
		*head = h.rev;
	return 0;
}

int cohort__journal_head(cohort_cluster *c, struct cohort__head *h)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = cohort__root_path(path, sizeof(path), c, "journal/head")))
		return rc;
	return head_read_path(h, path);
}

/* ---- append ------------------------------------------------------------- */

static int writer_seg(cohort_journal *j, uint64_t no)
{
	int rc;

	if (j->seg_fd >= 0 && j->seg_no == no)
		return 0;
	cohort__os_close_quiet(j->seg_fd);
	j->seg_fd = -1;
	if ((rc = cohort__seg_path(j->seg_path, sizeof(j->seg_path),
				   j->c->root, no)))
		return rc;
	rc = cohort__os_open(&j->seg_fd, j->seg_path, O_RDWR | O_NOFOLLOW, 0);
	if (rc == COHORT_ENOTFOUND)
		return cohort__error(COHORT_ECORRUPT,
				     "journal segment '%s' named by the head is "
				     "missing", j->seg_path);
	if (rc)
		return rc;
	j->seg_no = no;
	return 0;
}

/*
 * Bytes past the head in the head segment belong to a writer that died
 * or lost the lock before publishing.  Whole verified commits there were
 * durable, and may have been acknowledged when the head was not synced:
 * '*keep_off', '*keep_rev' are the end of the last of them.
 */
static int scan_tail(cohort_journal *j, const struct cohort__head *h,
		     uint64_t *keep_off, uint64_t *keep_rev, uint64_t *size)
{
	struct cohort__stat st;
	uint64_t off, rev;
	int rc;

	if ((rc = cohort__os_fstat(&st, j->seg_fd, j->seg_path)))
		return rc;
	if (st.size != h->off) {
		/*
		 * A descriptor kept open across commits can show a size and
		 * pages older than the head another client published: the
		 * Linux NFSv3 client kept answering the size of its own last
		 * commit, forced GETATTR or not (measured in the lab, three
		 * writers on 'nolock').  Open the segment again by name
		 * (close-to-open) before believing it.
		 */
		cohort__os_close_quiet(j->seg_fd);
		j->seg_fd = -1;
		if ((rc = writer_seg(j, h->seg)) ||
		    (rc = cohort__os_fstat(&st, j->seg_fd, j->seg_path)))
			return rc;
	}
	if (st.size < h->off)
		return cohort__error(COHORT_ECORRUPT,
				     "journal segment '%s' is %llu bytes but the "
				     "head says %llu are committed: run 'cohort "
				     "fsck'", j->seg_path,
				     (unsigned long long)st.size,
				     (unsigned long long)h->off);
	*size = st.size;
	off = *keep_off = h->off;
	rev = *keep_rev = h->rev;
	while (off < st.size) {
		unsigned char hdr[JREC_HDR];
		cohort__rec r;
		size_t got, need;
		long n;

		if ((rc = cohort__os_pread_full(j->seg_fd, hdr, JREC_HDR, off,
						&got, j->seg_path)))
			return rc;
		if (cohort__rec_decode(&r, hdr, got, &need) < 0 || got < JREC_HDR ||
		    need > st.size - off)
			break;
		if (need > j->wcap) {
			unsigned char *g = realloc(j->wbuf, need);

			if (!g)
				return cohort__error(COHORT_ERROR, "out of memory");
			j->wbuf = g;
			j->wcap = need;
		}
		if ((rc = cohort__os_pread_full(j->seg_fd, j->wbuf, need, off,
						&got, j->seg_path)))
			return rc;
		n = cohort__rec_decode(&r, j->wbuf, got, &need);
		if (n <= 0 || r.rev != rev + 1)
			break;
		off += (uint64_t)n;
		rev = r.rev;
		if (r.last) {
			*keep_off = off;
			*keep_rev = rev;
		}
	}
	return 0;
}

/*
 * The last holder released the lock: bytes past the head are a failed
 * commit of its (it said "may still appear") or of a crashed writer.
 * Keep whole verified commits, cut the rest.
 */
static int recover_tail(cohort_journal *j, struct cohort__head *h)
{
	uint64_t keep_off, keep_rev, size;
	int rc;

	if ((rc = scan_tail(j, h, &keep_off, &keep_rev, &size)) ||
	    size == h->off)
		return rc;
	if (keep_rev != h->rev) {
		h->off = keep_off;
		h->rev = keep_rev;
		if ((rc = head_publish(j, h)))
			return rc;
	}
	if (size > h->off) {
		if ((rc = cohort__os_ftruncate(j->seg_fd, h->off, j->seg_path)) ||
		    (rc = cohort__os_fdatasync(j->seg_fd, j->seg_path)))
			return rc;
	}
	return 0;
}

/*
 * Seal the head segment at the head ('h->off') and start the next one:
 * created whole under its name with link() (never opened with O_TRUNC:
 * a holder that lost the lock may still have writes on their way to a
 * file it opened by that name), its header naming where the sealed one
 * ends, then published.
 */
static int rollover(cohort_journal *j, struct cohort__head *h, cohort_lock *l)
{
	unsigned char hdr[JSEG_HDR];
	char path[PATH_MAX];
	uint64_t no = h->seg + 1;
	int fd, rc;

	if ((rc = cohort__seg_path(path, sizeof(path), j->c->root, no)))
		return rc;
	cohort__seg_header2(hdr, no, h->rev + 1, h->epoch, h->off);
	rc = cohort__os_create_exclusive(path, hdr, sizeof(hdr),
					 cohort__file_mode(j->c), j->c->node, 1);
	if (rc == COHORT_EEXISTS) {
		/* Left by a holder that died or lost the lock before it
		 * published it (nobody reads past the head segment), or made
		 * by a successor if we lost the lock meanwhile: check first.
		 * Then replace it whole with a rename, so that writes still
		 * on their way to it land in the old file, not in ours. */
		cohort__error_clear();
		if ((rc = cohort_lock_check(l)))
			return rc;
		rc = cohort__os_write_atomic(path, hdr, sizeof(hdr),
					     cohort__file_mode(j->c), j->c->node);
	}
	if (rc)
		return rc;
	if ((rc = cohort__os_open(&fd, path, O_RDWR | O_NOFOLLOW, 0)))
		return rc;
	if ((rc = cohort_lock_check(l))) {
		cohort__os_close_quiet(fd);
		return rc;
	}
	h->seg = no;
	h->off = JSEG_HDR;
	if ((rc = head_publish(j, h))) {
		cohort__os_close_quiet(fd);
		return rc;
	}
	cohort__os_close_quiet(j->seg_fd);
	j->seg_fd = fd;
	j->seg_no = no;
	snprintf(j->seg_path, sizeof(j->seg_path), "%s", path);
	return 0;
}

/*
 * The lock was broken since the head's epoch began (or the head is of
 * version 1): the holder before us may still have writes on their way,
 * to the head segment at the head, to a next segment it opened, to its
 * head slot.  Take whole verified commits past the head as they are now
 * (never cut anything: its late bytes land past where we seal), seal the
 * head segment after them and start a new epoch in a new segment.  Its
 * late data lands past the seal, which readers never read; its late head
 * slot is of an older epoch, in slots of that epoch, and never wins.
 */
static int takeover(cohort_journal *j, struct cohort__head *h, cohort_lock *l,
		    uint64_t brk)
{
	uint64_t keep_off, keep_rev, size;
	int rc;

	if ((rc = scan_tail(j, h, &keep_off, &keep_rev, &size)))
		return rc;
	h->off = keep_off;
	h->rev = keep_rev;
	h->epoch++;
	h->brk = brk;
	return rollover(j, h, l);
}

static int check_entries(const cohort_entry *e, size_t n, size_t node_len,
			 size_t *total)
{
	size_t i, sum = 0;

	if (n == 0)
		return cohort__error(COHORT_EINVAL, "nothing to append");
	for (i = 0; i < n; i++) {
		const char *type = e[i].type ? e[i].type : "data";
		int rc = cohort_name_check(COHORT_NAME_TYPE, type);

		if (rc)
			return rc;
		if (e[i].len > COHORT_RECORD_MAX)
			return cohort__error(COHORT_EINVAL,
					     "record of %zu bytes is over the "
					     "limit of %u", e[i].len,
					     COHORT_RECORD_MAX);
		if (e[i].len && !e[i].data)
			return cohort__error(COHORT_EINVAL, "record without data");
		sum += cohort__rec_size(node_len, strlen(type), e[i].len);
		if (sum > (size_t)1 << 31)
			return cohort__error(COHORT_EINVAL,
					     "commit of over 2 GiB refused");
	}
	*total = sum;
	return 0;
}

/*
 * One commit of one or more appends ('groups'), all under one lock, one
 * write and one fdatasync.  Each group's last record carries the
 * last-of-commit flag, so recovery keeps or cuts whole groups.
 */
struct group {
	const cohort_entry *e;
	size_t n;
	size_t bytes;
	uint64_t first;
	int rc;
	int done;
	char err[512];
	struct group *next;
};

static int commit_groups(cohort_journal *j, struct group *groups)
{
	cohort_cluster *c = j->c;
	struct cohort__head h;
	cohort_lock *l = NULL;
	struct group *gp;
	size_t total = 0, off = 0, i, count = 0;
	uint64_t brk = 0;
	int64_t now = cohort__os_wall_ms();
	int rc;

	for (gp = groups; gp; gp = gp->next) {
		total += gp->bytes;
		count += gp->n;
	}
	if (total > j->wcap) {
		unsigned char *g = realloc(j->wbuf, total);

		if (!g)
			return cohort__error(COHORT_ERROR, "out of memory");
		j->wbuf = g;
		j->wcap = total;
	}
	if ((rc = cohort_lock_acquire(&l, c, "journal", -1)))
		return rc;
	if (j->head_fd < 0 &&
	    (rc = cohort__os_open(&j->head_fd, j->head_path, O_RDWR | O_NOFOLLOW,
				  0)))
		goto out;
	/* Under the lock: a fresh head (the lock revalidates NFS caches). */
	if ((rc = head_read_path(&h, j->head_path)) ||
	    (rc = cohort__lock_break_token(l, &brk)) ||
	    (rc = writer_seg(j, h.seg)))
		goto out;
	if (h.epoch == 0 || h.brk != brk)
		rc = takeover(j, &h, l, brk);
	else
		rc = recover_tail(j, &h);
	if (rc)
		goto out;
	if (h.off > JSEG_HDR && h.off + total > (uint64_t)j->segment_size &&
	    (rc = rollover(j, &h, l)))
		goto out;
	/* recover_tail() may have used the buffer: encode after it. */
	if (total > j->wcap) {
		unsigned char *g = realloc(j->wbuf, total);

		if (!g) {
			rc = cohort__error(COHORT_ERROR, "out of memory");
			goto out;
		}
		j->wbuf = g;
		j->wcap = total;
	}
	{
		uint64_t rev = h.rev + 1;

		for (gp = groups; gp; gp = gp->next) {
			gp->first = rev;
			for (i = 0; i < gp->n; i++)
				off += cohort__rec_encode(
					j->wbuf + off, rev++, now, c->node,
					gp->e[i].type ? gp->e[i].type : "data",
					gp->e[i].data, gp->e[i].len,
					i == gp->n - 1);
		}
	}
	/* Check before the write too: a holder that paused past its lease
	 * must not write over its successor's records. */
	if ((rc = cohort_lock_check(l)))
		goto out;
	rc = cohort__os_pwrite_full(j->seg_fd, j->wbuf, total, h.off,
				    j->seg_path);
	if (!rc)
		rc = cohort__os_fdatasync(j->seg_fd, j->seg_path);
	if (rc) {
		/* Never take the bytes back (ftruncate): if we lost the lock
		 * meanwhile, a truncate still on its way could cut what a
		 * successor published.  Whole ones may be kept by the next
		 * writer, torn ones are cut by it. */
		cohort__error_wrap(rc, "the commit of %zu record(s) may still "
				   "appear", count);
		goto out;
	}
	if ((rc = cohort_lock_check(l))) {
		/* The file may be someone else's now: touch nothing.  The
		 * records are whole and durable, so the next writer keeps
		 * them (step 2): say that the outcome is open. */
		cohort__error_wrap(rc, "the commit of %zu record(s) may still "
				   "appear", count);
		goto out;
	}
	h.rev += count;
	h.off += total;
	if ((rc = head_publish(j, &h))) {
		cohort__error_wrap(rc, "the commit of %zu record(s) may still "
				   "appear", count);
		goto out;
	}
	/* Published.  Before saying so, make sure nobody took over: a
	 * successor that read the head before our slot landed went on
	 * without this commit, and then it never appears. */
	if ((rc = cohort_lock_confirm(l)))
		cohort__error_wrap(rc, "the commit of %zu record(s) may or may "
				   "not appear", count);
out:
	if (rc) {
		/* Our message stays: the release may fail too (a lost lease)
		 * and would say less. */
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", cohort_error_last());
		(void)cohort_lock_release(l);
		cohort__error(rc, "%s", msg);
		return rc;
	}
	if (cohort_lock_release(l)) /* committed; the lease trouble came after */
		cohort__error_clear();
	return rc;
}

int cohort_journal_append(cohort_journal *j, const cohort_entry *e, size_t n,
			  uint64_t *first_rev)
{
	struct group me, *batch, *gp, **tail;
	int rc;

	if ((rc = cohort__need_node(j->c)))
		return rc;
	memset(&me, 0, sizeof(me));
	if ((rc = check_entries(e, n, strlen(j->c->node), &me.bytes)))
		return rc;
	if ((rc = cohort__readonly_check(j->c)))
		return rc;
	me.e = e;
	me.n = n;

	/* Group commit: while one thread commits, others queue; the next
	 * leader commits everything queued with one write and one sync. */
	pthread_mutex_lock(&j->gc_mu);
	for (tail = &j->gc_queue; *tail; tail = &(*tail)->next)
		;
	*tail = &me;
	while (!me.done && j->gc_busy)
		pthread_cond_wait(&j->gc_cv, &j->gc_mu);
	if (me.done) {
		pthread_mutex_unlock(&j->gc_mu);
		goto done;
	}
	j->gc_busy = 1;
	batch = j->gc_queue;
	j->gc_queue = NULL;
	pthread_mutex_unlock(&j->gc_mu);

	rc = commit_groups(j, batch);

	pthread_mutex_lock(&j->gc_mu);
	for (gp = batch; gp; gp = gp->next) {
		gp->rc = rc;
		if (rc)
			snprintf(gp->err, sizeof(gp->err), "%s",
				 cohort_error_last());
		gp->done = 1;
	}
	j->gc_busy = 0;
	pthread_cond_broadcast(&j->gc_cv);
	pthread_mutex_unlock(&j->gc_mu);
done:
	if (me.rc)
		return cohort__error(me.rc, "%s", me.err);
	if (first_rev)
		*first_rev = me.first;
	return 0;
}

/* ---- reading ------------------------------------------------------------ */

struct reader {
	cohort_journal *j;
	int fd;
	char path[PATH_MAX];
	uint64_t buf_off; /* file offset of rbuf[0] */
	size_t buf_len;
	uint64_t end;	  /* readable end of this segment */
};

/* Make [off, off+need) available in the buffer; returns a pointer. */
static int reader_fill(struct reader *rd, uint64_t off, size_t need,
		       const unsigned char **p, size_t *avail)
{
	cohort_journal *j = rd->j;
	size_t want, got;
	int rc;

	if (off >= rd->buf_off && off + need <= rd->buf_off + rd->buf_len) {
		*p = j->rbuf + (off - rd->buf_off);
		*avail = rd->buf_len - (size_t)(off - rd->buf_off);
		return 0;
	}
	want = need > READ_CHUNK ? need : READ_CHUNK;
	if (want > rd->end - off)
		want = (size_t)(rd->end - off);
	if (want > j->rcap) {
		unsigned char *g = realloc(j->rbuf, want);

		if (!g)
			return cohort__error(COHORT_ERROR, "out of memory");
		j->rbuf = g;
		j->rcap = want;
	}
	if ((rc = cohort__os_pread_full(rd->fd, j->rbuf, want, off, &got,
					rd->path)))
		return rc;
	rd->buf_off = off;
	rd->buf_len = got;
	*p = j->rbuf;
	*avail = got;
	return 0;
}

static int seg_first_rev(cohort_journal *j, uint64_t no, uint64_t *first)
{
	unsigned char hdr[JSEG_HDR];
	char path[PATH_MAX];
	unsigned int i;
	size_t got;
	int fd, rc;

	for (i = 0; i < j->nsegs; i++)
		if (j->segs[i].no == no) {
			*first = j->segs[i].first_rev;
			return 0;
		}
	if ((rc = cohort__seg_path(path, sizeof(path), j->c->root, no)) ||
	    (rc = cohort__os_open(&fd, path, O_RDONLY | O_NOFOLLOW, 0)))
		return rc == COHORT_ENOTFOUND ?
			cohort__error(COHORT_ECORRUPT,
				      "journal segment '%s' is missing", path) : rc;
	rc = cohort__os_pread_full(fd, hdr, JSEG_HDR, 0, &got, path);
	cohort__os_close_quiet(fd);
	if (rc)
		return rc;
	if (got != JSEG_HDR || cohort__seg_header_check(hdr, no, first))
		return cohort__error(COHORT_ECORRUPT,
				     "journal segment '%s' has a bad header",
				     path);
	if (j->nsegs == SEGS_CACHE)
		j->nsegs = 0;
	j->segs[j->nsegs].no = no;
	j->segs[j->nsegs].first_rev = *first;
	j->nsegs++;
	return 0;
}

/*
 * The segment holding revision 'rev' (tail_rev <= rev <= head rev): the
 * last one whose header says it starts at or before 'rev'.  A binary
 * search on the headers; when one it probes is damaged or missing (only
 * fsck --repair mends those), every header from the head segment down,
 * passing the bad ones: a reader never depends on a segment before the
 * one it reads.
 */
static int find_segment(cohort_journal *j, const struct cohort__head *h,
			uint64_t rev, uint64_t *no, uint64_t *first)
{
	uint64_t lo = h->tail_seg, hi = h->seg, f, s;
	int rc;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;

		if ((rc = seg_first_rev(j, mid, &f)))
			goto linear;
		if (f <= rev)
			lo = mid;
		else
			hi = mid - 1;
	}
	if ((rc = seg_first_rev(j, lo, &f)) == 0) {
		*no = lo;
		*first = f;
		return 0;
	}
linear:
	if (rc != COHORT_ECORRUPT)
		return rc;
	for (s = h->seg + 1; s-- > h->tail_seg;) {
		if ((rc = seg_first_rev(j, s, &f)) == COHORT_ECORRUPT) {
			cohort__error_clear();
			continue;
		}
		if (rc)
			return rc;
		if (f <= rev) {
			*no = s;
			*first = f;
			return 0;
		}
	}
	return cohort__error(COHORT_ECORRUPT, "no readable journal segment "
			     "holds revision %llu: run 'cohort fsck'",
			     (unsigned long long)rev);
}

static int corrupt(const struct reader *rd, uint64_t rev, uint64_t off,
		   const char *why)
{
	return cohort__error(COHORT_ECORRUPT,
			     "journal record %llu in '%s' at offset %llu %s: "
			     "run 'cohort fsck'", (unsigned long long)rev,
			     rd->path, (unsigned long long)off, why);
}

/* Damage that a reader from 'from' needs: revisions [rev, next) where
 * 'next' is the first one readable again (0: none is). */
static int unreadable(uint64_t from, uint64_t rev, uint64_t next,
		      const char *where)
{
	if (next)
		return cohort__error(COHORT_ECORRUPT,
				     "journal revisions %llu-%llu %s cannot be "
				     "read (revision %llu is needed): run "
				     "'cohort fsck'", (unsigned long long)rev,
				     (unsigned long long)next - 1, where,
				     (unsigned long long)from);
	return cohort__error(COHORT_ECORRUPT,
			     "journal revisions from %llu %s cannot be read "
			     "(revision %llu is needed): run 'cohort fsck'",
			     (unsigned long long)rev, where,
			     (unsigned long long)from);
}

static int reader_window(void *ctx, uint64_t off, size_t need,
			 const unsigned char **p, size_t *avail)
{
	return reader_fill(ctx, off, need, p, avail);
}

static int read_once(cohort_journal *j, const struct cohort__head *hp,
		     uint64_t from, uint64_t limit, cohort_record_fn fn,
		     void *arg, uint64_t *delivered);

int cohort_journal_read(cohort_journal *j, uint64_t from, uint64_t limit,
			cohort_record_fn fn, void *arg)
{
	struct cohort__head h, again;
	uint64_t delivered = 0;
	int rc, tries;

	for (tries = 0;; tries++) {
		if ((rc = head_read_path(&h, j->head_path)))
			return rc;
		rc = read_once(j, &h, from, limit, fn, arg, &delivered);
		/* The janitor may have removed segments we were about to look
		 * at (the binary search probes below 'from'), or a repair
		 * rewrote one under us (lost records in place of damage, a
		 * new head): if the head changed and nothing was delivered
		 * yet, start over. */
		if ((rc != COHORT_ECORRUPT && rc != COHORT_ESTALE &&
		     rc != COHORT_ENOTFOUND) || delivered || tries >= 3 ||
		    head_read_path(&again, j->head_path) ||
		    (again.tail_seg == h.tail_seg && again.seq == h.seq))
			return rc;
		j->nsegs = 0;
		cohort__error_clear();
	}
}

/*
 * Deliver the committed records from 'from' on.  Damage in records before
 * 'from' is passed (resynchronized on the next verified record), never
 * delivered and never an error: a node past a damaged record keeps
 * reading.  Damage that covers a revision to deliver is an error naming
 * it.
 */
static int read_once(cohort_journal *j, const struct cohort__head *hp,
		     uint64_t from, uint64_t limit, cohort_record_fn fn,
		     void *arg, uint64_t *delivered)
{
	struct cohort__head h = *hp;
	struct reader rd;
	uint64_t no = 0, first = 0, rev, off, count = 0, stop;
	int rc, lost = 0; /* the rest of the last segment was unreadable */

	if (from == 0)
		from = h.tail_rev;
	if (from < h.tail_rev)
		return cohort__error(COHORT_ENOTFOUND,
				     "revision %llu is older than the oldest "
				     "retained record (%llu)",
				     (unsigned long long)from,
				     (unsigned long long)h.tail_rev);
	if (from > h.rev)
		return 0;
	if ((rc = find_segment(j, &h, from, &no, &first)))
		return rc;
	memset(&rd, 0, sizeof(rd));
	rd.j = j;
	rd.fd = -1;
	rev = first;
	for (; no <= h.seg && rev <= h.rev; no++) {
		uint64_t f;

		rc = seg_first_rev(j, no, &f);
		if (rc == COHORT_ECORRUPT && rev < from) {
			/* A damaged or missing segment before 'from'. */
			cohort__error_clear();
			lost = 1;
			continue;
		}
		if (rc)
			goto out;
		if (lost && f > rev && f <= from) {
			rev = f;
		} else if (f != rev) {
			rc = lost ? unreadable(from, rev, f, "before segment "
					       "start") :
			     cohort__error(COHORT_ECORRUPT,
					   "journal segment %016llx starts at "
					   "revision %llu, expected %llu: run "
					   "'cohort fsck'", (unsigned long long)no,
					   (unsigned long long)f,
					   (unsigned long long)rev);
			goto out;
		}
		lost = 0;
		cohort__os_close_quiet(rd.fd);
		rd.fd = -1;
		if ((rc = cohort__seg_path(rd.path, sizeof(rd.path), j->c->root,
					   no)) ||
		    (rc = cohort__os_open(&rd.fd, rd.path, O_RDONLY | O_NOFOLLOW,
					  0)))
			goto out;
		{
			/* A forced GETATTR (statx AT_STATX_FORCE_SYNC): a
			 * client that caches attributes (FUSE attr_timeout,
			 * NFS actimeo) would otherwise cut our reads at the
			 * size it remembers, short of the head. */
			struct cohort__stat st;

			if ((rc = cohort__os_fstat(&st, rd.fd, rd.path)))
				goto out;
			rd.end = no == h.seg ? h.off : st.size;
		}
		/* A sealed segment ends where the next one starts: bytes
		 * past its last revision are a stale holder's late writes
		 * (see takeover()), never read.  Without a readable next
		 * header, read on to the head as before. */
		stop = h.rev;
		if (no < h.seg) {
			uint64_t nf;

			if (seg_first_rev(j, no + 1, &nf) == 0) {
				if (nf > 0 && nf - 1 < stop)
					stop = nf - 1;
			} else {
				cohort__error_clear();
			}
		}
		rd.buf_off = rd.buf_len = 0;
		for (off = JSEG_HDR; off < rd.end && rev <= stop;) {
			const unsigned char *p;
			size_t avail, need = JREC_HDR;
			cohort__rec r;
			long size;

			if ((rc = reader_fill(&rd, off, need, &p, &avail)))
				goto out;
			size = cohort__rec_decode(&r, p, avail, &need);
			if (size == 0 && need <= rd.end - off) {
				if ((rc = reader_fill(&rd, off, need, &p, &avail)))
					goto out;
				size = cohort__rec_decode(&r, p, avail, &need);
			}
			if (size <= 0 || r.rev != rev) {
				uint64_t at, next;

				if (rev >= from) {
					rc = corrupt(&rd, rev, off,
						     size == 0 ? "is cut short" :
						     size < 0 ? "fails verification" :
						     "has the wrong revision");
					goto out;
				}
				/* Before 'from': pass it. */
				rc = cohort__rec_resync(reader_window, &rd, off,
							rd.end, rev - 1, h.rev,
							&at, &next);
				if (rc < 0)
					goto out;
				if (rc == 0) {
					lost = 1;
					rc = 0;
					break;
				}
				if (next > from) {
					rc = unreadable(from, rev, next, "in a damaged "
							"part of the journal");
					goto out;
				}
				off = at;
				rev = next;
				continue;
			}
			if (rev >= from) {
				char node[COHORT_NODE_ID_MAX + 1];
				char type[COHORT_NODE_ID_MAX + 1];
				cohort_record out;

				memcpy(node, r.node, r.node_len);
				node[r.node_len] = '\0';
				memcpy(type, r.type, r.type_len);
				type[r.type_len] = '\0';
				out.rev = r.rev;
				out.time_ms = r.time_ms;
				out.node = node;
				out.type = type;
				out.data = r.data;
				out.len = r.len;
				++*delivered;
				if ((rc = fn(&out, arg)))
					goto out;
				if (limit && ++count >= limit)
					goto out;
			}
			off += (uint64_t)size;
			rev++;
		}
		if (no == h.seg && rev <= h.rev) {
			rc = lost ? unreadable(from, rev, 0, "at the end of the "
					       "journal") :
			     corrupt(&rd, rev, off, "is missing below the head");
			goto out;
		}
	}
	if (rev <= h.rev) {
		rc = lost ? unreadable(from, rev, 0, "at the end of the journal") :
		     cohort__error(COHORT_ECORRUPT,
				   "journal ends at revision %llu but the head "
				   "says %llu: run 'cohort fsck'",
				   (unsigned long long)rev - 1,
				   (unsigned long long)h.rev);
	}
out:
	cohort__os_close_quiet(rd.fd);
	return rc;
}

/* ---- revisions ---------------------------------------------------------- */

int cohort__revision_write(cohort_cluster *c, uint64_t rev)
{
	int rc;

	if ((rc = cohort__need_node(c)))
		return rc;
	return cohort__revision_write_node(c, c->node, rev);
}

int cohort__revision_write_node(cohort_cluster *c, const char *node,
				uint64_t rev)
{
	char path[PATH_MAX], body[64], text[128];
	int rc, n, m;

	if ((rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/revision",
				    node)))
		return rc;
	m = snprintf(body, sizeof(body), "cohort-revision 1\nrev %llu\n",
		     (unsigned long long)rev);
	n = snprintf(text, sizeof(text), "%ssum %016llx\n", body,
		     (unsigned long long)XXH3_64bits(body, (size_t)m));
	return cohort__os_write_atomic(path, text, (size_t)n,
				       cohort__file_mode(c), c->node);
}

int cohort__revision_parse(uint64_t *rev, const char *text, size_t len)
{
	const char *s = strstr(text, "sum ");
	char val[32];

	if (len < 18 || strncmp(text, "cohort-revision 1\n", 18) || !s ||
	    cohort__kv_get(s, "sum", val, sizeof(val)) ||
	    strtoull(val, NULL, 16) != XXH3_64bits(text, (size_t)(s - text)) ||
	    cohort__kv_get(text, "rev", val, sizeof(val)))
		return -1;
	*rev = strtoull(val, NULL, 10);
	return 0;
}

int cohort_journal_node_revision(cohort_cluster *c, const char *node,
				 uint64_t *rev)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	int rc;

	if ((rc = cohort_name_check(COHORT_NAME_NODE, node)))
		return rc;
	if ((rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/revision",
				    node)) ||
	    (rc = cohort__os_read_file(&text, &len, path, 4096)))
		return rc;
	rc = cohort__revision_parse(rev, text, len);
	free(text);
	if (rc)
		return cohort__error(COHORT_ECORRUPT,
				     "revision file '%s' is damaged: run 'cohort "
				     "fsck'", path);
	return 0;
}

int cohort_journal_revision(cohort_journal *j, uint64_t *rev)
{
	int rc = cohort__need_node(j->c);

	if (rc)
		return rc;
	rc = cohort_journal_node_revision(j->c, j->c->node, rev);
	if (rc == COHORT_ENOTFOUND)
		return cohort__error(COHORT_ENOTFOUND,
				     "node '%s' has not joined (run 'cohort "
				     "join')", j->c->node);
	return rc;
}

int cohort_journal_set_revision(cohort_journal *j, uint64_t rev)
{
	return cohort__revision_write(j->c, rev);
}

struct apply_ctx {
	cohort_journal *j;
	const cohort_apply_options *o;
	cohort_record_fn fn;
	void *arg;
	uint64_t applied;
	uint64_t last;
	uint64_t pending;  /* records applied since the revision was written */
	int64_t batch_start; /* monotonic ms, with o->batch_ms */
	int batch_failed;  /* batch_done refused: the revision stays */
	uint64_t noted_first, noted_last; /* the lost range last recorded */
};

/* Add "FIRST-LAST" to nodes/ID/skipped-lost (atomic replace). */
static int note_skipped(cohort_journal *j, uint64_t first, uint64_t last)
{
	char path[PATH_MAX], *old = NULL, *text;
	size_t len = 0;
	int rc, n;

	if ((rc = cohort__root_path(path, sizeof(path), j->c,
				    "nodes/%s/skipped-lost", j->c->node)))
		return rc;
	rc = cohort__os_read_file(&old, &len, path, 1u << 20);
	if (rc && rc != COHORT_ENOTFOUND)
		return rc;
	cohort__error_clear();
	text = malloc(len + 48);
	if (!text) {
		free(old);
		return cohort__error(COHORT_ERROR, "out of memory");
	}
	n = snprintf(text, len + 48, "%.*s%llu-%llu\n", (int)len, old ? old : "",
		     (unsigned long long)first, (unsigned long long)last);
	free(old);
	rc = cohort__os_write_atomic(path, text, (size_t)n,
				     cohort__file_mode(j->c), j->c->node);
	free(text);
	return rc;
}

/*
 * The records since the last revision write were applied: let the caller
 * finish them (flush, run its batch hook), then write the revision.  Only
 * then: a crash before it replays the batch, never skips it.
 */
static int batch_end(struct apply_ctx *a)
{
	int rc;

	if (!a->pending || a->batch_failed)
		return 0;
	if (a->o->batch_done && (rc = a->o->batch_done(a->last, a->o->batch_arg))) {
		a->batch_failed = 1;
		return rc;
	}
	if ((rc = cohort__revision_write(a->j->c, a->last)))
		return rc;
	a->pending = 0;
	if (a->o->batch_ms)
		a->batch_start = cohort__os_mono_ms();
	return 0;
}

static int apply_one(const cohort_record *r, void *arg)
{
	struct apply_ctx *a = arg;
	int rc;

	if (!strcmp(r->type, COHORT_LOST_TYPE)) {
		uint64_t first, last;

		if (cohort_record_lost_range(r, &first, &last)) {
			cohort__error_clear();
			first = last = r->rev;
		}
		if (!a->o->skip_lost)
			return cohort__error(COHORT_ELOST, "revisions %llu-%llu "
					     "were lost (damaged on the shared root "
					     "and replaced by 'cohort fsck "
					     "--repair'): node '%s' can go on only "
					     "from a snapshot taken after revision "
					     "%llu, or by skipping the lost records "
					     "explicitly", (unsigned long long)first,
					     (unsigned long long)last, a->j->c->node,
					     (unsigned long long)last);
		/* Accepted: recorded once per range, before the revision
		 * passes it (a crash in between records it twice). */
		if (first != a->noted_first || last != a->noted_last) {
			if ((rc = note_skipped(a->j, first, last)))
				return rc;
			a->noted_first = first;
			a->noted_last = last;
		}
	} else if ((rc = a->fn(r, a->arg))) {
		return rc;
	}
	a->applied++;
	a->last = r->rev;
	a->pending++;
	if (a->o->batch) {
		if (a->pending < a->o->batch &&
		    (!a->o->batch_ms ||
		     cohort__os_mono_ms() - a->batch_start < a->o->batch_ms))
			return 0;
	} else if (!a->o->each) {
		return 0;
	}
	return batch_end(a);
}

int cohort_journal_apply(cohort_journal *j, int each, cohort_record_fn fn,
			 void *arg, uint64_t *applied)
{
	cohort_apply_options o = COHORT_APPLY_OPTIONS_INIT;

	o.each = each;
	return cohort_journal_apply_with(j, &o, fn, arg, applied);
}

int cohort_journal_apply_with(cohort_journal *j, const cohort_apply_options *o,
			      cohort_record_fn fn, void *arg, uint64_t *applied)
{
	cohort_apply_options def = COHORT_APPLY_OPTIONS_INIT, v1;
	struct apply_ctx a;
	uint64_t rev, tail, head;
	int rc, r2;

	if (applied)
		*applied = 0;
	if (!o)
		o = &def;
	if (o->version == 1) {
		/* A caller built against version 1 has no batch fields. */
		memcpy(&v1, &def, sizeof(v1));
		v1.each = o->each;
		v1.skip_lost = o->skip_lost;
		o = &v1;
	} else if (o->version != COHORT_APPLY_OPTIONS_VERSION) {
		return cohort__error(COHORT_EINVAL, "bad apply options version");
	}
	if (o->batch_ms < 0)
		return cohort__error(COHORT_EINVAL, "negative batch interval");
	memset(&a, 0, sizeof(a));
	a.j = j;
	a.o = o;
	a.fn = fn;
	a.arg = arg;
	if (o->batch_ms)
		a.batch_start = cohort__os_mono_ms();
	if ((rc = cohort_journal_revision(j, &rev)) ||
	    (rc = cohort_journal_bounds(j, &tail, &head)))
		return rc;
	if (rev > head)
		return cohort__error(COHORT_ECORRUPT,
				     "node '%s' is at revision %llu, past the "
				     "head %llu: run 'cohort fsck'", j->c->node,
				     (unsigned long long)rev,
				     (unsigned long long)head);
	if (rev + 1 < tail)
		return cohort__error(COHORT_EBEHIND,
				     "node '%s' is at revision %llu but the "
				     "oldest retained record is %llu: bootstrap "
				     "it from a snapshot", j->c->node,
				     (unsigned long long)rev,
				     (unsigned long long)tail);
	if (rev == head)
		return 0;
	rc = cohort_journal_read(j, rev + 1, 0, apply_one, &a);
	/* What 'fn' accepted before a stop is applied: the last batch ends
	 * there (unless it was the batch end that failed). */
	r2 = batch_end(&a);
	if (!rc)
		rc = r2;
	if (applied)
		*applied = a.applied;
	return rc;
}

int cohort_journal_skipped_lost(cohort_cluster *c, const char *node,
				char **ranges)
{
	char path[PATH_MAX];
	size_t len;
	int rc;

	*ranges = NULL;
	if ((rc = cohort__root_path(path, sizeof(path), c,
				    "nodes/%s/skipped-lost", node)))
		return rc;
	rc = cohort__os_read_file(ranges, &len, path, 1u << 20);
	if (rc == COHORT_ENOTFOUND) {
		cohort__error_clear();
		return 0;
	}
	return rc;
}

/* ---- waiting ------------------------------------------------------------ */

/*
 * The inotify watch is made on first use, not at open: closing an inotify
 * descriptor waits for an SRCU grace period in the kernel (10-20 ms), which
 * was a third of the time of a one-shot 'cohort append' that never waits.
 * A waiter makes it before it reads the head, so no commit falls between.
 */
static int watch_fd(cohort_journal *j)
{
	if (!j->watch_tried) {
		j->watch_tried = 1;
		(void)cohort__os_watch(&j->watch_fd, j->head_path);
	}
	return j->watch_fd;
}

int cohort_journal_fd(cohort_journal *j)
{
	return watch_fd(j);
}

int cohort_journal_poll_interval_ms(const cohort_journal *j)
{
	return j->poll_ms;
}

void cohort_journal_set_poll_interval_ms(cohort_journal *j, int ms)
{
	j->poll_ms = ms < 1 ? 1 : ms;
}

void cohort_journal_fd_drain(cohort_journal *j)
{
	cohort__os_drain(watch_fd(j));
}

int cohort_journal_wait(cohort_journal *j, uint64_t known, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX :
			   cohort__os_mono_ms() + timeout_ms;

	(void)watch_fd(j); /* before the head is read */
	for (;;) {
		uint64_t head = 0;
		int64_t left;

		if (cohort_journal_bounds(j, NULL, &head) == 0 && head > known)
			return 1;
		left = deadline - cohort__os_mono_ms();
		if (left <= 0)
			return 0;
		if (left > j->poll_ms)
			left = j->poll_ms;
		if (cohort__os_wait_fd(j->watch_fd, (int)left))
			cohort__os_drain(j->watch_fd);
	}
}

/* ---- trimming (the janitor) --------------------------------------------- */

/*
 * Remove whole sealed segments whose every revision is <= 'limit' and
 * whose mtime is at least 'min_age_ms' old by the file server's clock.
 * The caller holds the journal lock 'l'.  The new tail is published in the
 * head first, then the files are unlinked: a crash in between leaves
 * segments below the tail, which the next run (or fsck) removes.
 * 'fn' is told of each segment removed (or, with 'dry_run', that would be).
 */
int cohort__journal_trim(cohort_journal *j, cohort_lock *l, uint64_t limit,
			 int64_t min_age_ms, int dry_run,
			 cohort__trim_fn fn, void *arg, uint64_t *new_tail)
{
	struct cohort__head h;
	char path[PATH_MAX], dir[PATH_MAX];
	uint64_t s, end, first, next_first, old_tail_seg;
	int64_t now_ns = 0;
	int rc;

	if ((rc = head_read_path(&h, j->head_path)))
		return rc;
	*new_tail = h.tail_rev;
	if ((rc = cohort__root_path(dir, sizeof(dir), j->c, "journal")))
		return rc;
	if (min_age_ms > 0 &&
	    (rc = cohort__server_now_ns(&now_ns, j->c, "journal")))
		return rc;
	/* Leftovers of a run that died between publishing and unlinking:
	 * files go lowest first, so what is left is a contiguous run just
	 * below the tail.  Find its bottom, then remove upwards again. */
	if (!dry_run) {
		uint64_t lo = h.tail_seg;

		for (; lo > 1; lo--) {
			struct cohort__stat st0;

			if ((rc = cohort__seg_path(path, sizeof(path), j->c->root,
						   lo - 1)))
				return rc;
			if (cohort__os_stat(&st0, path, 1)) {
				cohort__error_clear();
				break;
			}
		}
		for (s = lo; s < h.tail_seg; s++) {
			if ((rc = cohort__seg_path(path, sizeof(path), j->c->root, s)))
				return rc;
			rc = cohort__os_unlink(path);
			if (rc && rc != COHORT_ENOTFOUND)
				return rc;
			cohort__error_clear();
		}
	}
	end = h.tail_seg;
	for (s = h.tail_seg; s < h.seg; s++) {
		struct cohort__stat st;

		if ((rc = seg_first_rev(j, s, &first)) ||
		    (rc = seg_first_rev(j, s + 1, &next_first)))
			return rc;
		if (next_first - 1 > limit)
			break;
		if ((rc = cohort__seg_path(path, sizeof(path), j->c->root, s)) ||
		    (rc = cohort__os_stat(&st, path, 1)))
			return rc;
		if (min_age_ms > 0 && (now_ns - st.mtime_ns) / 1000000 < min_age_ms)
			break;
		if (fn)
			fn(arg, path, first, next_first - 1, st.size);
		end = s + 1;
	}
	if (end == h.tail_seg || dry_run) {
		if (end != h.tail_seg && seg_first_rev(j, end, &first) == 0)
			*new_tail = first;
		return 0;
	}
	if ((rc = seg_first_rev(j, end, &first)))
		return rc;
	if (j->head_fd < 0 &&
	    (rc = cohort__os_open(&j->head_fd, j->head_path, O_RDWR | O_NOFOLLOW,
				  0)))
		return rc;
	if ((rc = cohort_lock_check(l)))
		return rc;
	/* Commit point: readers stop at the new tail from here on.  The
	 * head is synced: a tail that moved back would point at files that
	 * are gone. */
	old_tail_seg = h.tail_seg;
	h.tail_seg = end;
	h.tail_rev = first;
	if ((rc = head_publish(j, &h)) ||
	    (rc = cohort__os_fdatasync(j->head_fd, j->head_path)))
		return rc;
	*new_tail = first;
	for (s = old_tail_seg; s < end; s++) {
		if ((rc = cohort__seg_path(path, sizeof(path), j->c->root, s)))
			return rc;
		rc = cohort__os_unlink(path);
		if (rc && rc != COHORT_ENOTFOUND)
			return rc;
		cohort__error_clear();
	}
	j->nsegs = 0; /* forget cached headers of removed segments */
	return cohort__os_fsync_dir(dir);
}

cohort_cluster *cohort__journal_cluster(cohort_journal *j)
{
	return j->c;
}
