/*
 * test_journal.c - the journal's guarantees: framing, the head file,
 * append/read, segments, crash recovery, corruption, injected OS faults,
 * apply-and-advance and waiting.
 *
 * Every test gets a fresh temporary folder holding a cluster root and the
 * node's state folder, an open cluster handle ('c', node "n1", joined) and
 * an open journal ('j').  Tests that need a configuration call
 * open_node() again with the text of ROOT/cohort.conf.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "cohort.h"
#include "fixture.h"
#include "journal_format.h"
#include "os/os.h"

/* ---- fixture ------------------------------------------------------------ */

static char tmp[PATH_MAX / 2], root[PATH_MAX], state[PATH_MAX];
static cohort_cluster *c;
static cohort_journal *j;

static void close_node(void)
{
	cohort_journal_close(j);
	j = NULL;
	cohort_cluster_close(c);
	c = NULL;
}

/* (Re)open the node with ROOT/cohort.conf holding 'conf' (NULL: none). */
static void open_node(const char *conf)
{
	char path[PATH_MAX + 32];

	close_node();
	snprintf(path, sizeof(path), "%s/cohort.conf", root);
	if (conf)
		write_text(path, conf);
	else
		(void)unlink(path);
	open_joined_node(&c, &j, NULL, root, state);
}

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1];
	int rc;

	cohort__os_fault_clear();
	make_tmp(tmp, sizeof(tmp), NULL, "cohort-journal", 0);
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	rc = cohort_cluster_init(id, root);
	ck_assert_msg(rc == 0, "cluster_init: %s", cohort_error_last());
	open_node(NULL);
}

static void teardown(void)
{
	cohort__os_fault_clear();
	close_node();
	remove_tmp();
}

/* ---- helpers ------------------------------------------------------------ */

struct rec {
	uint64_t rev;
	int64_t time_ms;
	char node[COHORT_NODE_ID_MAX + 1];
	char type[COHORT_NODE_ID_MAX + 1];
	unsigned char *data;
	size_t len;
};

struct recs {
	struct rec *v;
	size_t n, cap;
	uint64_t fail_at; /* collect_cb returns 77 at this revision */
};

static int collect_cb(const cohort_record *r, void *arg)
{
	struct recs *rs = arg;
	struct rec *x;

	if (rs->fail_at && r->rev == rs->fail_at)
		return 77;
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
		ck_assert(rs->v != NULL);
	}
	x = &rs->v[rs->n++];
	memset(x, 0, sizeof(*x));
	x->rev = r->rev;
	x->time_ms = r->time_ms;
	ck_assert(strlen(r->node) <= COHORT_NODE_ID_MAX);
	ck_assert(strlen(r->type) <= COHORT_NODE_ID_MAX);
	strcpy(x->node, r->node);
	strcpy(x->type, r->type);
	x->len = r->len;
	x->data = malloc(r->len + 1);
	ck_assert(x->data != NULL);
	if (r->len)
		memcpy(x->data, r->data, r->len);
	x->data[r->len] = '\0';
	return 0;
}

static void recs_free(struct recs *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		free(rs->v[i].data);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

static int read_all(struct recs *rs, uint64_t from, uint64_t limit)
{
	recs_free(rs);
	return cohort_journal_read(j, from, limit, collect_cb, rs);
}

static uint64_t append_n(const cohort_entry *e, size_t n)
{
	uint64_t rev = 0;
	int rc = cohort_journal_append(j, e, n, &rev);

	ck_assert_msg(rc == 0, "append: %s", cohort_error_last());
	return rev;
}

static uint64_t append_str(const char *s)
{
	cohort_entry e = { NULL, s, strlen(s) };

	return append_n(&e, 1);
}

static void bounds(uint64_t *tail, uint64_t *head)
{
	int rc = cohort_journal_bounds(j, tail, head);

	ck_assert_msg(rc == 0, "bounds: %s", cohort_error_last());
}

static struct cohort__head head_now(void)
{
	struct cohort__head h;
	int rc = cohort__journal_head(c, &h);

	ck_assert_msg(rc == 0, "head: %s", cohort_error_last());
	return h;
}

static void seg_file(char *buf, size_t size, uint64_t no)
{
	ck_assert_int_eq(cohort__seg_path(buf, size, root, no), 0);
}

/* Whole file into a malloc'd buffer. */
static void pwrite_at(const char *path, const void *buf, size_t n, off_t off)
{
	int fd = open(path, O_WRONLY);

	ck_assert_msg(fd >= 0, "cannot open '%s': %s", path, strerror(errno));
	ck_assert_int_eq(pwrite(fd, buf, n, off), (ssize_t)n);
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(close(fd), 0);
}

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "stat '%s': %s", path,
		      strerror(errno));
	return st.st_size;
}

/* Offset and size of revision 'rev' in segment 'no' (walks the records). */
static void find_record(uint64_t no, uint64_t rev, uint64_t *off, size_t *size)
{
	char path[PATH_MAX];
	unsigned char *buf;
	size_t len, at = JSEG_HDR, need;

	seg_file(path, sizeof(path), no);
	buf = slurp(path, &len);
	while (at < len) {
		cohort__rec r;
		long s = cohort__rec_decode(&r, buf + at, len - at, &need);

		ck_assert_msg(s > 0, "bad record at %zu of '%s'", at, path);
		if (r.rev == rev) {
			*off = at;
			*size = (size_t)s;
			free(buf);
			return;
		}
		at += (size_t)s;
	}
	free(buf);
	ck_abort_msg("revision %" PRIu64 " not in '%s'", rev, path);
}

static void flip_byte(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char b;

	ck_assert(fd >= 0);
	ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	ck_assert_int_eq(close(fd), 0);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- framing ------------------------------------------------------------ */

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

START_TEST(test_rec_roundtrip)
{
	static const char *nodes[] = { "n", "node-7", "a.b_c-D" };
	static const char *types[] = { "data", "t", "some.type_X-1" };
	unsigned char data[300], *buf = malloc(4096);
	size_t len, k;

	ck_assert(buf != NULL);
	for (k = 0; k < sizeof(data); k++)
		data[k] = (unsigned char)(k * 37 + 11);
	for (len = 0; len <= 260; len += (len < 20 ? 1 : 37)) {
		for (k = 0; k < 3; k++) {
			uint64_t rev = 1 + len * 1000003u + k;
			int64_t when = 1700000000123LL + (int64_t)len;
			int last = (int)((len + k) % 2);
			size_t nl = strlen(nodes[k]), tl = strlen(types[k]);
			size_t want = cohort__rec_size(nl, tl, len), size, need = 0;
			size_t body = nl + tl + len, i;
			cohort__rec r;
			long got;

			ck_assert_uint_eq(want, JREC_HDR + pad8(body));
			ck_assert_uint_eq(want % 8, 0);
			memset(buf, 0xa5, 4096);
			size = cohort__rec_encode(buf, rev, when, nodes[k],
						  types[k], data, len, last);
			ck_assert_uint_eq(size, want);
			/* Padding is zero; the bytes after it are not touched. */
			for (i = JREC_HDR + body; i < size; i++)
				ck_assert_msg(buf[i] == 0, "padding byte %zu of a "
					      "%zu-byte payload is %#x", i, len,
					      buf[i]);
			ck_assert_uint_eq(buf[size], 0xa5);
			ck_assert_uint_eq(cohort__get32(buf), JREC_MAGIC);
			ck_assert_uint_eq(buf[28], last ? JREC_LAST : 0);
			got = cohort__rec_decode(&r, buf, size, &need);
			ck_assert_int_eq(got, (long)size);
			ck_assert_uint_eq(r.rev, rev);
			ck_assert_int_eq(r.time_ms, when);
			ck_assert_uint_eq(r.node_len, nl);
			ck_assert(memcmp(r.node, nodes[k], nl) == 0);
			ck_assert_uint_eq(r.type_len, tl);
			ck_assert(memcmp(r.type, types[k], tl) == 0);
			ck_assert_uint_eq(r.len, len);
			ck_assert(len == 0 || memcmp(r.data, data, len) == 0);
			ck_assert_int_eq(!!r.last, last);
			/* More bytes after the record change nothing. */
			got = cohort__rec_decode(&r, buf, 4096, &need);
			ck_assert_int_eq(got, (long)size);
		}
	}
	free(buf);
}
END_TEST

START_TEST(test_rec_negative_time_and_big_rev)
{
	unsigned char buf[128];
	cohort__rec r;
	size_t need, size;

	size = cohort__rec_encode(buf, UINT64_MAX - 1, -5, "x", "y", "z", 1, 1);
	ck_assert_int_eq(cohort__rec_decode(&r, buf, size, &need), (long)size);
	ck_assert_uint_eq(r.rev, UINT64_MAX - 1);
	ck_assert_int_eq(r.time_ms, -5);
}
END_TEST

/*
 * Every single flipped bit, anywhere in the record (header, checksum,
 * node, type, data, padding), must make decode refuse the bytes: -1, or 0
 * ("need more") when the flip grew a length beyond what is there.  Never a
 * record.
 */
START_TEST(test_rec_flip_any_bit)
{
	static const size_t lens[] = { 0, 1, 5, 13, 64 };
	unsigned char buf[256], copy[256];
	size_t li;

	for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		unsigned char data[64];
		size_t size, i, need;
		int bit;

		memset(data, 'q', sizeof(data));
		size = cohort__rec_encode(buf, 42, 1700000000000LL, "node1", "data",
					  data, lens[li], 1);
		for (i = 0; i < size; i++) {
			for (bit = 0; bit < 8; bit++) {
				cohort__rec r;
				long got;

				memcpy(copy, buf, size);
				copy[i] ^= (unsigned char)(1u << bit);
				got = cohort__rec_decode(&r, copy, size, &need);
				ck_assert_msg(got <= 0,
					      "a record with bit %d of byte %zu "
					      "flipped (payload %zu bytes, record "
					      "%zu bytes, %s) was accepted", bit, i,
					      lens[li], size,
					      i >= JREC_HDR + 9 + lens[li] ?
					      "in the padding" : "covered");
				if (got == 0)
					ck_assert_uint_gt(need, size);
			}
		}
	}
}
END_TEST

START_TEST(test_rec_bad_fields)
{
	unsigned char buf[256], copy[256];
	size_t size, need;
	cohort__rec r;

	size = cohort__rec_encode(buf, 7, 1, "node1", "data", "payload", 7, 1);
	/* bad magic */
	memcpy(copy, buf, size);
	cohort__put32(copy, 0x12345678);
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), -1);
	memset(copy, 0, size);
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), -1);
	/* oversize data length: refused from the header alone */
	memcpy(copy, buf, size);
	cohort__put32(copy + 4, COHORT_RECORD_MAX + 1);
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), -1);
	cohort__put32(copy + 4, 0xffffffffu);
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), -1);
	/* node / type lengths: 0 and over 64 */
	memcpy(copy, buf, size);
	copy[24] = 0;
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), -1);
	copy[24] = COHORT_NODE_ID_MAX + 1;
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), -1);
	memcpy(copy, buf, size);
	copy[25] = 1; /* high byte of the node length */
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), -1);
	memcpy(copy, buf, size);
	copy[26] = 0;
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), -1);
	copy[26] = 200;
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), -1);
	/* unknown flags */
	memcpy(copy, buf, size);
	copy[28] |= 0x02;
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), -1);
	/* A huge but legal length asks for the bytes, without reading them. */
	memcpy(copy, buf, size);
	cohort__put32(copy + 4, COHORT_RECORD_MAX);
	ck_assert_int_eq(cohort__rec_decode(&r, copy, size, &need), 0);
	ck_assert_uint_eq(need, cohort__rec_size(5, 4, COHORT_RECORD_MAX));
}
END_TEST

START_TEST(test_rec_short)
{
	unsigned char buf[256];
	size_t size, avail, need;
	cohort__rec r;

	size = cohort__rec_encode(buf, 9, 1, "node1", "data",
				  "0123456789abcdefghij", 20, 0);
	ck_assert_uint_gt(size, JREC_HDR);
	for (avail = 0; avail < size; avail++) {
		need = 0;
		ck_assert_int_eq(cohort__rec_decode(&r, buf, avail, &need), 0);
		ck_assert_uint_eq(need, avail < JREC_HDR ? JREC_HDR : size);
	}
	ck_assert_int_eq(cohort__rec_decode(&r, buf, size, &need), (long)size);
}
END_TEST

static struct cohort__head mk_head(uint64_t seq, uint64_t rev)
{
	struct cohort__head h;

	h.seq = seq;
	h.rev = rev;
	h.seg = 3;
	h.off = JSEG_HDR + 8 * rev;
	h.tail_rev = 1;
	h.tail_seg = 1;
	h.epoch = 1;
	h.brk = 0;
	return h;
}

static void head_eq(const struct cohort__head *a, const struct cohort__head *b)
{
	ck_assert_uint_eq(a->seq, b->seq);
	ck_assert_uint_eq(a->rev, b->rev);
	ck_assert_uint_eq(a->seg, b->seg);
	ck_assert_uint_eq(a->off, b->off);
	ck_assert_uint_eq(a->tail_rev, b->tail_rev);
	ck_assert_uint_eq(a->tail_seg, b->tail_seg);
	ck_assert_uint_eq(a->epoch, b->epoch);
	ck_assert_uint_eq(a->brk, b->brk);
}

START_TEST(test_head_newer_slot)
{
	unsigned char buf[JHEAD_SIZE];
	struct cohort__head a = mk_head(6, 10), b = mk_head(7, 12), got;

	/* The newer slot wins in either position. */
	cohort__head_encode(buf, &a);
	cohort__head_encode(buf + JHEAD_SLOT, &b);
	ck_assert_int_eq(cohort__head_decode(&got, buf, JHEAD_SIZE), 0);
	head_eq(&got, &b);
	cohort__head_encode(buf, &b);
	cohort__head_encode(buf + JHEAD_SLOT, &a);
	ck_assert_int_eq(cohort__head_decode(&got, buf, JHEAD_SIZE), 0);
	head_eq(&got, &b);
	/* Only one valid slot (a fresh journal): that one. */
	memset(buf, 0, JHEAD_SLOT);
	ck_assert_int_eq(cohort__head_decode(&got, buf, JHEAD_SIZE), 0);
	head_eq(&got, &a);
	/* Wrong sizes are refused. */
	ck_assert_int_eq(cohort__head_decode(&got, buf, JHEAD_SIZE - 1), -1);
	ck_assert_int_eq(cohort__head_decode(&got, buf, 0), -1);
}
END_TEST

/* A torn or garbage write of the slot being published loses nothing: the
 * other slot (the previous head) is taken. */
START_TEST(test_head_torn_slot)
{
	unsigned char buf[JHEAD_SIZE], copy[JHEAD_SIZE], newer[JHEAD_SLOT];
	struct cohort__head a = mk_head(8, 20), b = mk_head(9, 21);
	struct cohort__head older = mk_head(7, 19), got;
	size_t cut, i;
	int bit;

	cohort__head_encode(buf, &a);	/* slot 0: seq 8 */
	cohort__head_encode(newer, &b); /* to be written to slot 1 */
	cohort__head_encode(buf + JHEAD_SLOT, &older);
	/* A torn write of slot 1: only its first 'cut' bytes are new. */
	for (cut = 1; cut < JHEAD_SLOT; cut++) {
		memcpy(copy, buf, JHEAD_SIZE);
		memcpy(copy + JHEAD_SLOT, newer, cut);
		ck_assert_int_eq(cohort__head_decode(&got, copy, JHEAD_SIZE), 0);
		ck_assert_msg(got.seq == 8 || got.seq == 7,
			      "torn slot (%zu new bytes) taken: seq %" PRIu64,
			      cut, got.seq);
		ck_assert_uint_eq(got.seq, 8);
		head_eq(&got, &a);
	}
	/* Garbage in slot 1 */
	for (i = 0; i < JHEAD_SLOT; i++)
		copy[JHEAD_SLOT + i] = (unsigned char)(i * 151 + 7);
	memcpy(copy, buf, JHEAD_SLOT);
	ck_assert_int_eq(cohort__head_decode(&got, copy, JHEAD_SIZE), 0);
	head_eq(&got, &a);
	/* Any single flipped bit in the newer slot: the older one wins. */
	memcpy(buf + JHEAD_SLOT, newer, JHEAD_SLOT);
	ck_assert_int_eq(cohort__head_decode(&got, buf, JHEAD_SIZE), 0);
	head_eq(&got, &b);
	for (i = 0; i < JHEAD_SLOT; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(copy, buf, JHEAD_SIZE);
			copy[JHEAD_SLOT + i] ^= (unsigned char)(1u << bit);
			ck_assert_int_eq(cohort__head_decode(&got, copy,
							     JHEAD_SIZE), 0);
			ck_assert_msg(got.seq == 8, "slot with bit %d of byte "
				      "%zu flipped was taken", bit, i);
		}
	}
	/* Both slots garbage: no head. */
	memset(copy, 0x5a, JHEAD_SIZE);
	ck_assert_int_eq(cohort__head_decode(&got, copy, JHEAD_SIZE), -1);
}
END_TEST

/* The journal itself, with the head file torn: the older slot serves. */
START_TEST(test_head_file_torn_slot)
{
	char path[PATH_MAX + 32];
	unsigned char *buf, junk[JHEAD_SLOT];
	uint64_t tail, head;
	struct recs rs = { 0 };
	size_t len, i;
	struct cohort__head h;

	append_str("one");
	append_str("two");
	h = head_now();
	snprintf(path, sizeof(path), "%s/journal/head", root);
	buf = slurp(path, &len);
	ck_assert_uint_eq(len, JHEAD_SIZE);
	free(buf);
	/* Tear the slot holding the newest head. */
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(0xc3 ^ i);
	pwrite_at(path, junk, 20, (off_t)(cohort__head_slot_off(&h) + 30));
	bounds(&tail, &head);
	ck_assert_uint_eq(head, 1);
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 1);
	ck_assert_str_eq((char *)rs.v[0].data, "one");
	/* The next writer continues from the surviving head and does not
	 * reuse a revision: 'two' was durable, so it is kept. */
	ck_assert_uint_eq(append_str("three"), 3);
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 3);
	ck_assert_str_eq((char *)rs.v[1].data, "two");
	ck_assert_str_eq((char *)rs.v[2].data, "three");
	recs_free(&rs);
}
END_TEST

/* ---- append and read ---------------------------------------------------- */

START_TEST(test_empty_journal)
{
	struct recs rs = { 0 };
	uint64_t tail = 99, head = 99, rev = 99;

	bounds(&tail, &head);
	ck_assert_uint_eq(tail, 1);
	ck_assert_uint_eq(head, 0);
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 0);
	ck_assert_int_eq(read_all(&rs, 1, 0), 0);
	ck_assert_uint_eq(rs.n, 0);
	ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
	ck_assert_uint_eq(rev, 0);
	ck_assert_int_eq(cohort_journal_apply(j, 1, collect_cb, &rs, &rev), 0);
	ck_assert_uint_eq(rev, 0);
	ck_assert_uint_eq(rs.n, 0);
}
END_TEST

START_TEST(test_append_one)
{
	struct recs rs = { 0 };
	uint64_t tail, head;
	int64_t before = (int64_t)time(NULL) * 1000 - 2000;
	cohort_entry e = { "greeting", "hello", 5 };

	ck_assert_uint_eq(append_n(&e, 1), 1);
	bounds(&tail, &head);
	ck_assert_uint_eq(tail, 1);
	ck_assert_uint_eq(head, 1);
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 1);
	ck_assert_uint_eq(rs.v[0].rev, 1);
	ck_assert_str_eq(rs.v[0].node, "n1");
	ck_assert_str_eq(rs.v[0].type, "greeting");
	ck_assert_uint_eq(rs.v[0].len, 5);
	ck_assert(memcmp(rs.v[0].data, "hello", 5) == 0);
	ck_assert_int_ge(rs.v[0].time_ms, before);
	ck_assert_int_le(rs.v[0].time_ms, (int64_t)time(NULL) * 1000 + 2000);
	/* The default type */
	ck_assert_uint_eq(append_str("x"), 2);
	ck_assert_int_eq(read_all(&rs, 2, 0), 0);
	ck_assert_uint_eq(rs.n, 1);
	ck_assert_str_eq(rs.v[0].type, "data");
	recs_free(&rs);
}
END_TEST

START_TEST(test_append_batch)
{
	cohort_entry e[50];
	char text[50][32];
	unsigned char bin[256];
	struct recs rs = { 0 };
	uint64_t first, tail, head;
	size_t i;

	for (i = 0; i < 256; i++)
		bin[i] = (unsigned char)i;
	for (i = 0; i < 50; i++) {
		snprintf(text[i], sizeof(text[i]), "batch-%zu", i);
		e[i].type = i % 3 ? NULL : "t3";
		e[i].data = text[i];
		e[i].len = strlen(text[i]);
	}
	e[7].data = NULL; /* empty payloads */
	e[7].len = 0;
	e[8].data = "";
	e[8].len = 0;
	e[9].data = bin; /* every byte value, NUL included */
	e[9].len = sizeof(bin);
	ck_assert_uint_eq(append_str("before"), 1);
	first = append_n(e, 50);
	ck_assert_uint_eq(first, 2);
	ck_assert_uint_eq(append_n(e, 1), 52);
	bounds(&tail, &head);
	ck_assert_uint_eq(head, 52);
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 52);
	for (i = 0; i < 52; i++)
		ck_assert_uint_eq(rs.v[i].rev, i + 1);
	for (i = 0; i < 50; i++) {
		struct rec *x = &rs.v[1 + i];

		ck_assert_str_eq(x->type, i % 3 ? "data" : "t3");
		ck_assert_uint_eq(x->len, e[i].len);
		ck_assert(e[i].len == 0 || memcmp(x->data, e[i].data, e[i].len) == 0);
		ck_assert_int_eq(x->time_ms, rs.v[1].time_ms); /* one commit */
	}
	recs_free(&rs);
}
END_TEST

START_TEST(test_append_large_payload)
{
	size_t n = 3u << 20, i;
	unsigned char *big = malloc(n);
	struct recs rs = { 0 };
	cohort_entry e[2];

	ck_assert(big != NULL);
	for (i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 2654435761u >> 13);
	e[0].type = NULL;
	e[0].data = big;
	e[0].len = n;
	e[1].type = NULL;
	e[1].data = "tail";
	e[1].len = 4;
	ck_assert_uint_eq(append_n(e, 2), 1);
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 2);
	ck_assert_uint_eq(rs.v[0].len, n);
	ck_assert(memcmp(rs.v[0].data, big, n) == 0);
	ck_assert_str_eq((char *)rs.v[1].data, "tail");
	recs_free(&rs);
	free(big);
}
END_TEST

/* Refused appends change nothing. */
START_TEST(test_append_refused)
{
	cohort_entry bad_type = { ".hidden", "x", 1 };
	cohort_entry bad_type2 = { "a b", "x", 1 };
	cohort_entry no_data = { NULL, NULL, 3 };
	cohort_entry too_big = { NULL, "x", (size_t)COHORT_RECORD_MAX + 1 };
	cohort_entry ok[2] = { { NULL, "ok", 2 }, { ".bad", "x", 1 } };
	uint64_t tail, head, rev = 0;

	append_str("first");
	ck_assert_int_eq(cohort_journal_append(j, &bad_type, 1, &rev), COHORT_EINVAL);
	ck_assert_int_eq(cohort_journal_append(j, &bad_type2, 1, &rev), COHORT_EINVAL);
	ck_assert_int_eq(cohort_journal_append(j, &no_data, 1, &rev), COHORT_EINVAL);
	ck_assert_int_eq(cohort_journal_append(j, &too_big, 1, &rev), COHORT_EINVAL);
	ck_assert_int_eq(cohort_journal_append(j, ok, 2, &rev), COHORT_EINVAL);
	ck_assert_int_eq(cohort_journal_append(j, ok, 0, &rev), COHORT_EINVAL);
	bounds(&tail, &head);
	ck_assert_uint_eq(head, 1);
	ck_assert_uint_eq(append_str("second"), 2);
}
END_TEST

/* A handle without a node id cannot append but can read. */
START_TEST(test_append_needs_node)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c2 = NULL;
	cohort_journal *j2 = NULL;
	cohort_entry e = { NULL, "x", 1 };
	struct recs rs = { 0 };
	uint64_t rev;

	append_str("a");
	o.root = root;
	ck_assert_int_eq(cohort_cluster_open(&c2, &o), 0);
	ck_assert_int_eq(cohort_journal_open(&j2, c2), 0);
	ck_assert_int_eq(cohort_journal_append(j2, &e, 1, &rev), COHORT_EINVAL);
	ck_assert_int_eq(cohort_journal_read(j2, 0, 0, collect_cb, &rs), 0);
	ck_assert_uint_eq(rs.n, 1);
	recs_free(&rs);
	cohort_journal_close(j2);
	cohort_cluster_close(c2);
}
END_TEST

START_TEST(test_read_from_limit)
{
	struct recs rs = { 0 };
	char buf[32];
	uint64_t i;

	for (i = 1; i <= 10; i++) {
		snprintf(buf, sizeof(buf), "r%" PRIu64, i);
		ck_assert_uint_eq(append_str(buf), i);
	}
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 10);
	ck_assert_int_eq(read_all(&rs, 1, 0), 0);
	ck_assert_uint_eq(rs.n, 10);
	ck_assert_int_eq(read_all(&rs, 4, 0), 0);
	ck_assert_uint_eq(rs.n, 7);
	ck_assert_uint_eq(rs.v[0].rev, 4);
	ck_assert_str_eq((char *)rs.v[0].data, "r4");
	ck_assert_uint_eq(rs.v[6].rev, 10);
	ck_assert_int_eq(read_all(&rs, 4, 3), 0);
	ck_assert_uint_eq(rs.n, 3);
	ck_assert_uint_eq(rs.v[0].rev, 4);
	ck_assert_uint_eq(rs.v[2].rev, 6);
	ck_assert_int_eq(read_all(&rs, 0, 1), 0);
	ck_assert_uint_eq(rs.n, 1);
	ck_assert_uint_eq(rs.v[0].rev, 1);
	ck_assert_int_eq(read_all(&rs, 10, 5), 0);
	ck_assert_uint_eq(rs.n, 1);
	ck_assert_str_eq((char *)rs.v[0].data, "r10");
	ck_assert_int_eq(read_all(&rs, 11, 0), 0);
	ck_assert_uint_eq(rs.n, 0);
	ck_assert_int_eq(read_all(&rs, 1000, 0), 0);
	ck_assert_uint_eq(rs.n, 0);
	/* A callback's non-zero return stops the walk and is returned. */
	rs.fail_at = 3;
	ck_assert_int_eq(cohort_journal_read(j, 1, 0, collect_cb, &rs), 77);
	ck_assert_uint_eq(rs.n, 2);
	recs_free(&rs);
}
END_TEST

/* A retained tail past revision 1 (as the janitor leaves it, made here by
 * publishing a head that says so): bounds report it, reads start there,
 * reads from before it and nodes behind it are refused. */
START_TEST(test_tail_bounds)
{
	char path[PATH_MAX + 32];
	unsigned char slot[JHEAD_SLOT];
	struct cohort__head h;
	struct recs rs = { 0 };
	uint64_t tail = 0, head = 0, applied = 0, i;

	for (i = 1; i <= 5; i++)
		append_str(i == 3 ? "three" : "other");
	h = head_now();
	h.tail_rev = 3;
	h.seq++;
	cohort__head_encode(slot, &h);
	snprintf(path, sizeof(path), "%s/journal/head", root);
	pwrite_at(path, slot, JHEAD_SLOT, (off_t)cohort__head_slot_off(&h));
	bounds(&tail, &head);
	ck_assert_uint_eq(tail, 3);
	ck_assert_uint_eq(head, 5);
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 3);
	ck_assert_uint_eq(rs.v[0].rev, 3);
	ck_assert_str_eq((char *)rs.v[0].data, "three");
	ck_assert_int_eq(read_all(&rs, 3, 1), 0);
	ck_assert_uint_eq(rs.n, 1);
	ck_assert_int_eq(read_all(&rs, 2, 0), COHORT_ENOTFOUND);
	ck_assert_uint_eq(rs.n, 0);
	ck_assert_int_eq(read_all(&rs, 1, 0), COHORT_ENOTFOUND);
	/* Node n1 is at 0: behind the tail, it must bootstrap. */
	ck_assert_int_eq(cohort_journal_apply(j, 1, collect_cb, &rs, &applied),
			 COHORT_EBEHIND);
	ck_assert_uint_eq(rs.n, 0);
	/* At 2 (the record before the tail) it can go on. */
	ck_assert_int_eq(cohort_journal_set_revision(j, 2), 0);
	ck_assert_int_eq(cohort_journal_apply(j, 1, collect_cb, &rs, &applied), 0);
	ck_assert_uint_eq(applied, 3);
	ck_assert_uint_eq(rs.v[0].rev, 3);
	/* Appends go on after the head. */
	ck_assert_uint_eq(append_str("six"), 6);
	bounds(&tail, &head);
	ck_assert_uint_eq(tail, 3);
	ck_assert_uint_eq(head, 6);
	recs_free(&rs);
}
END_TEST

/* A second handle (another process's view) sees every commit. */
/* A second node's handle ("n2") on the same root. */
static void second_handle(cohort_cluster **c2, cohort_journal **j2)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	static char st2[PATH_MAX + 16];

	snprintf(st2, sizeof(st2), "%s/state2", tmp);
	o.root = root;
	o.node = "n2";
	o.state = st2;
	ck_assert_int_eq(cohort_cluster_open(c2, &o), 0);
	ck_assert_int_eq(cohort_journal_open(j2, *c2), 0);
}

START_TEST(test_two_handles)
{
	cohort_cluster *c2 = NULL;
	cohort_journal *j2 = NULL;
	struct recs rs = { 0 };
	cohort_entry e = { NULL, "from-n2", 7 };
	uint64_t rev = 0, i;

	second_handle(&c2, &j2);
	for (i = 0; i < 20; i++) {
		if (i % 2)
			ck_assert_uint_eq(append_str("from-n1"), i + 1);
		else {
			ck_assert_int_eq(cohort_journal_append(j2, &e, 1, &rev), 0);
			ck_assert_uint_eq(rev, i + 1);
		}
	}
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 20);
	for (i = 0; i < 20; i++) {
		ck_assert_uint_eq(rs.v[i].rev, i + 1);
		ck_assert_str_eq(rs.v[i].node, i % 2 ? "n1" : "n2");
		ck_assert_str_eq((char *)rs.v[i].data, i % 2 ? "from-n1" : "from-n2");
	}
	recs_free(&rs);
	cohort_journal_close(j2);
	cohort_cluster_close(c2);
}
END_TEST

/*
 * A handle kept open across commits, on the Linux NFSv3 client: after
 * another client committed, a forced GETATTR through the writer's kept
 * descriptor still answered the size of its own last commit (measured in
 * the real-NFS lab, three writers on 'nolock').  The stand-in: the next
 * fstat of a segment descriptor answers 8 bytes less than the file has.  The writer
 * must open the segment again by name rather than call it corruption.
 */
static int stale_seg_stats; /* how many fstats of a segment lie */
static int stale_seg_lied;

static int stale_statx(int dirfd, const char *path, int flags,
		       unsigned int mask, struct statx *st)
{
	char link[64], target[PATH_MAX];
	ssize_t n;
	int r = cohort__sys_default.statx(dirfd, path, flags, mask, st);

	if (r || stale_seg_stats <= 0 || *path || !(flags & AT_EMPTY_PATH))
		return r;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return r;
	target[n] = '\0';
	if (strstr(target, "/journal/seg-") && st->stx_size > 64 + 8) {
		st->stx_size -= 8;
		stale_seg_stats--;
		stale_seg_lied++;
	}
	return r;
}

START_TEST(test_kept_segment_stale_size)
{
	cohort_cluster *c2 = NULL;
	cohort_journal *j2 = NULL;
	struct recs rs = { 0 };
	cohort_entry e = { NULL, "from-n2", 7 };
	uint64_t rev = 0;

	second_handle(&c2, &j2);
	ck_assert_uint_eq(append_str("from-n1"), 1);
	ck_assert_int_eq(cohort_journal_append(j2, &e, 1, &rev), 0);
	ck_assert_uint_eq(rev, 2);
	/* n1's handle still has the segment open from its commit. */
	stale_seg_stats = 1;
	stale_seg_lied = 0;
	cohort__sys.statx = stale_statx;
	rev = append_str("from-n1");
	cohort__sys = cohort__sys_default;
	ck_assert_msg(stale_seg_lied == 1, "the stale size was never seen");
	ck_assert_msg(rev == 3, "append after a stale size: %s",
		      cohort_error_last());
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 3);
	ck_assert_str_eq((char *)rs.v[1].data, "from-n2");
	ck_assert_str_eq((char *)rs.v[2].data, "from-n1");
	recs_free(&rs);
	cohort_journal_close(j2);
	cohort_cluster_close(c2);
}
END_TEST

/* ---- many threads, one handle (group commit) ---------------------------- */

#define THREADS 4
#define THREAD_APPENDS 60

struct thr {
	int id;
	uint64_t first[THREAD_APPENDS];
	size_t n[THREAD_APPENDS];
	char err[256];
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	int i;

	for (i = 0; i < THREAD_APPENDS; i++) {
		char text[3][64];
		cohort_entry e[3];
		size_t k, n = (size_t)(i % 3) + 1;

		for (k = 0; k < n; k++) {
			snprintf(text[k], sizeof(text[k]), "t%d-%d-%zu", t->id, i, k);
			e[k].type = NULL;
			e[k].data = text[k];
			e[k].len = strlen(text[k]);
		}
		if (cohort_journal_append(j, e, n, &t->first[i])) {
			snprintf(t->err, sizeof(t->err), "append %d: %s", i,
				 cohort_error_last());
			return NULL;
		}
		t->n[i] = n;
	}
	return NULL;
}

/* Appends from several threads on one handle: each all-or-nothing at
 * consecutive revisions, no revision given twice, nothing lost. */
START_TEST(test_append_threads)
{
	struct thr t[THREADS];
	pthread_t tid[THREADS];
	struct recs rs = { 0 };
	size_t total = 0, k;
	uint64_t head = 0;
	char *seen;
	int i, a;

	memset(t, 0, sizeof(t));
	for (i = 0; i < THREADS; i++) {
		t[i].id = i;
		ck_assert_int_eq(pthread_create(&tid[i], NULL, thr_main, &t[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_join(tid[i], NULL), 0);
	for (i = 0; i < THREADS; i++)
		ck_assert_msg(t[i].err[0] == '\0', "thread %d: %s", i, t[i].err);
	for (i = 0; i < THREADS; i++)
		for (a = 0; a < THREAD_APPENDS; a++)
			total += t[i].n[a];
	bounds(NULL, &head);
	ck_assert_uint_eq(head, total);
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, total);
	seen = calloc(total + 1, 1);
	ck_assert(seen != NULL);
	for (i = 0; i < THREADS; i++) {
		for (a = 0; a < THREAD_APPENDS; a++) {
			for (k = 0; k < t[i].n[a]; k++) {
				uint64_t rev = t[i].first[a] + k;
				char want[64];

				snprintf(want, sizeof(want), "t%d-%d-%zu", i, a, k);
				ck_assert_msg(rev >= 1 && rev <= total,
					      "revision %" PRIu64 " out of range", rev);
				ck_assert_msg(!seen[rev], "revision %" PRIu64
					      " given twice", rev);
				seen[rev] = 1;
				ck_assert_str_eq((char *)rs.v[rev - 1].data, want);
			}
		}
	}
	free(seen);
	recs_free(&rs);
}
END_TEST

/* ---- segments ----------------------------------------------------------- */

struct sealed {
	uint64_t no;
	size_t len;
	XXH64_hash_t sum;
	struct timespec mtime;
};

static struct sealed seal_of(uint64_t no)
{
	struct sealed s;
	char path[PATH_MAX];
	unsigned char *buf;
	struct stat st;

	seg_file(path, sizeof(path), no);
	ck_assert_int_eq(stat(path, &st), 0);
	buf = slurp(path, &s.len);
	s.no = no;
	s.sum = XXH3_64bits(buf, s.len);
	s.mtime = st.st_mtim;
	free(buf);
	return s;
}

START_TEST(test_segment_rollover)
{
	struct sealed seals[256];
	size_t nseals = 0, i, k;
	struct recs rs = { 0 };
	char payload[400];
	uint64_t rev = 0, expect = 0;

	open_node("[journal]\nsegment_size = 4096\n");
	for (k = 0; k < 120; k++) {
		struct cohort__head h;
		cohort_entry e[3];
		size_t n = k % 4 == 3 ? 3 : 1, m;

		for (m = 0; m < n; m++) {
			e[m].type = NULL;
			e[m].data = payload;
			e[m].len = 100 + (k * 37 + m * 11) % 250;
		}
		memset(payload, 'a' + (int)(k % 26), sizeof(payload));
		rev = append_n(e, n);
		ck_assert_uint_eq(rev, expect + 1);
		expect += n;
		h = head_now();
		/* Every segment below the head one is sealed: record it the
		 * first time it is seen sealed, then it must never change. */
		while (nseals + 1 < h.seg) {
			seals[nseals] = seal_of(nseals + 1);
			nseals++;
		}
		for (i = 0; i < nseals; i++) {
			struct sealed now = seal_of(seals[i].no);

			ck_assert_msg(now.len == seals[i].len &&
				      now.sum == seals[i].sum &&
				      now.mtime.tv_sec == seals[i].mtime.tv_sec &&
				      now.mtime.tv_nsec == seals[i].mtime.tv_nsec,
				      "sealed segment %" PRIu64 " changed after "
				      "the append of revision %" PRIu64,
				      seals[i].no, rev);
			ck_assert_uint_le(now.len, 4096);
		}
	}
	ck_assert_uint_ge(nseals, 5);
	/* The files are there, each starting at the right revision. */
	for (i = 1; i <= nseals + 1; i++) {
		char path[PATH_MAX];

		seg_file(path, sizeof(path), i);
		ck_assert_msg(access(path, F_OK) == 0, "'%s' is missing", path);
	}
	/* Read across all segments, and from inside each. */
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, expect);
	for (i = 0; i < rs.n; i++)
		ck_assert_uint_eq(rs.v[i].rev, i + 1);
	for (i = 1; i <= expect; i += 7) {
		ck_assert_int_eq(read_all(&rs, i, 0), 0);
		ck_assert_uint_eq(rs.n, expect - i + 1);
		ck_assert_uint_eq(rs.v[0].rev, i);
		ck_assert_int_eq(read_all(&rs, i, 9), 0);
		ck_assert_uint_eq(rs.n, expect - i + 1 < 9 ? expect - i + 1 : 9);
	}
	/* A reopened handle (empty segment cache) reads the same. */
	open_node("[journal]\nsegment_size = 4096\n");
	ck_assert_int_eq(read_all(&rs, expect / 2, 0), 0);
	ck_assert_uint_eq(rs.n, expect - expect / 2 + 1);
	recs_free(&rs);
}
END_TEST

/* A commit larger than a segment gets a segment of its own. */
START_TEST(test_segment_big_commit)
{
	static unsigned char big[10000];
	cohort_entry e = { NULL, big, sizeof(big) };
	struct recs rs = { 0 };
	struct cohort__head h;

	open_node("[journal]\nsegment_size = 4096\n");
	memset(big, 'B', sizeof(big));
	ck_assert_uint_eq(append_str("small-1"), 1);
	ck_assert_uint_eq(append_n(&e, 1), 2);
	h = head_now();
	ck_assert_uint_eq(h.seg, 2);
	ck_assert_uint_eq(append_str("small-2"), 3);
	h = head_now();
	ck_assert_uint_eq(h.seg, 3);
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 3);
	ck_assert_uint_eq(rs.v[1].len, sizeof(big));
	ck_assert(memcmp(rs.v[1].data, big, sizeof(big)) == 0);
	ck_assert_str_eq((char *)rs.v[2].data, "small-2");
	recs_free(&rs);
}
END_TEST

/* ---- crash recovery ----------------------------------------------------- */

static void check_payloads(const char **want, size_t n)
{
	struct recs rs = { 0 };
	size_t i;
	int rc = read_all(&rs, 0, 0);

	ck_assert_msg(rc == 0, "read: %s", cohort_error_last());
	ck_assert_uint_eq(rs.n, n);
	for (i = 0; i < n; i++) {
		ck_assert_uint_eq(rs.v[i].rev, i + 1);
		ck_assert_str_eq((char *)rs.v[i].data, want[i]);
	}
	recs_free(&rs);
}

/* Bytes a crashed writer left past the head: readers never see them, the
 * next append cuts them and takes the next revision. */
static void torn_tail_case(const unsigned char *junk, size_t n)
{
	static const char *want3[] = { "a", "b", "c" };
	static const char *want4[] = { "a", "b", "c", "d" };
	char path[PATH_MAX];
	struct cohort__head h;
	uint64_t head;

	append_str("a");
	append_str("b");
	append_str("c");
	h = head_now();
	seg_file(path, sizeof(path), h.seg);
	ck_assert_uint_eq((uint64_t)file_size(path), h.off);
	pwrite_at(path, junk, n, (off_t)h.off);
	bounds(NULL, &head);
	ck_assert_uint_eq(head, 3);
	check_payloads(want3, 3);
	ck_assert_uint_eq(append_str("d"), 4);
	check_payloads(want4, 4);
	h = head_now();
	ck_assert_uint_eq(h.rev, 4);
	ck_assert_msg((uint64_t)file_size(path) == h.off,
		      "segment is %lld bytes, head ends at %" PRIu64
		      ": the torn tail was not cut",
		      (long long)file_size(path), h.off);
}

START_TEST(test_torn_tail_garbage)
{
	unsigned char junk[333];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 97 + 13);
	torn_tail_case(junk, sizeof(junk));
}
END_TEST

START_TEST(test_torn_tail_partial_record)
{
	unsigned char rec[256];
	size_t size = cohort__rec_encode(rec, 4, 1, "n1", "data",
					 "a crashed writer's record", 25, 1);

	torn_tail_case(rec, size - 9); /* the record, torn */
}
END_TEST

START_TEST(test_torn_tail_zeros)
{
	unsigned char zeros[4096];

	memset(zeros, 0, sizeof(zeros)); /* a file extended, data not yet on disk */
	torn_tail_case(zeros, sizeof(zeros));
}
END_TEST

START_TEST(test_torn_tail_open_commit)
{
	unsigned char recs[512];
	size_t off = 0;

	/* Two whole records of a three-record commit: no LAST flag, so the
	 * commit is incomplete and must be cut. */
	off += cohort__rec_encode(recs + off, 4, 1, "n1", "data", "x1", 2, 0);
	off += cohort__rec_encode(recs + off, 5, 1, "n1", "data", "x2", 2, 0);
	torn_tail_case(recs, off);
}
END_TEST

START_TEST(test_torn_tail_wrong_revision)
{
	unsigned char rec[256];
	size_t size = cohort__rec_encode(rec, 9, 1, "n1", "data", "stale", 5, 1);

	torn_tail_case(rec, size); /* valid bytes, but not revision 4 */
}
END_TEST

/* A whole commit past the head (its writer synced the records, then the
 * head update was lost): durable, maybe acknowledged; the next writer keeps
 * it and never reuses its revisions. */
START_TEST(test_lost_head_commit_kept)
{
	static const char *want[] = { "A", "B1", "B2", "C" };
	char path[PATH_MAX + 32];
	unsigned char *old, *newer;
	cohort_entry b[2] = { { NULL, "B1", 2 }, { NULL, "B2", 2 } };
	size_t len;
	uint64_t head;

	snprintf(path, sizeof(path), "%s/journal/head", root);
	ck_assert_uint_eq(append_str("A"), 1);
	old = slurp(path, &len);
	ck_assert_uint_eq(len, JHEAD_SIZE);
	ck_assert_uint_eq(append_n(b, 2), 2);
	newer = slurp(path, &len);
	ck_assert(memcmp(old, newer, JHEAD_SIZE) != 0);
	pwrite_at(path, old, JHEAD_SIZE, 0); /* the head update is lost */
	bounds(NULL, &head);
	ck_assert_uint_eq(head, 1);
	ck_assert_uint_eq(append_str("C"), 4);
	check_payloads(want, 4);
	free(old);
	free(newer);
}
END_TEST

/* The same, followed by garbage: the whole commit is kept, the rest cut. */
START_TEST(test_lost_head_commit_then_garbage)
{
	static const char *want[] = { "A", "B", "C" };
	char path[PATH_MAX + 32], seg[PATH_MAX];
	unsigned char *old, junk[100];
	struct cohort__head h;
	size_t len;

	memset(junk, 0xee, sizeof(junk));
	snprintf(path, sizeof(path), "%s/journal/head", root);
	ck_assert_uint_eq(append_str("A"), 1);
	old = slurp(path, &len);
	ck_assert_uint_eq(append_str("B"), 2);
	h = head_now();
	seg_file(seg, sizeof(seg), h.seg);
	pwrite_at(seg, junk, sizeof(junk), (off_t)h.off);
	pwrite_at(path, old, JHEAD_SIZE, 0);
	ck_assert_uint_eq(append_str("C"), 3);
	check_payloads(want, 3);
	h = head_now();
	ck_assert_uint_eq((uint64_t)file_size(seg), h.off);
	free(old);
}
END_TEST

/* A committed record that fails verification stops read and apply with
 * ECORRUPT naming the revision and the segment file; never skipped. */
START_TEST(test_corrupt_record)
{
	char path[PATH_MAX], name[64];
	struct recs rs = { 0 };
	uint64_t off, rev = 99, applied = 99, i;
	size_t size;
	int rc;

	for (i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "record-%" PRIu64, i);
		append_str(name);
	}
	find_record(1, 3, &off, &size);
	seg_file(path, sizeof(path), 1);
	flip_byte(path, off + size - 10); /* inside the payload */
	rc = read_all(&rs, 0, 0);
	ck_assert_int_eq(rc, COHORT_ECORRUPT);
	ck_assert_msg(strstr(cohort_error_last(), "record 3 ") != NULL,
		      "message does not name revision 3: %s", cohort_error_last());
	ck_assert_msg(strstr(cohort_error_last(), "seg-0000000000000001") != NULL,
		      "message does not name the segment: %s", cohort_error_last());
	ck_assert_uint_eq(rs.n, 2);
	ck_assert_uint_eq(rs.v[1].rev, 2);
	/* From the bad record itself, and from before it. */
	ck_assert_int_eq(read_all(&rs, 3, 0), COHORT_ECORRUPT);
	ck_assert_uint_eq(rs.n, 0);
	ck_assert_int_eq(read_all(&rs, 2, 0), COHORT_ECORRUPT);
	ck_assert_uint_eq(rs.n, 1);
	/* Apply stops before it, with the revision at 2, every time. */
	recs_free(&rs);
	rc = cohort_journal_apply(j, 1, collect_cb, &rs, &applied);
	ck_assert_int_eq(rc, COHORT_ECORRUPT);
	ck_assert_msg(strstr(cohort_error_last(), "record 3 ") != NULL,
		      "apply message does not name revision 3: %s",
		      cohort_error_last());
	ck_assert_uint_eq(applied, 2);
	ck_assert_uint_eq(rs.n, 2);
	ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
	ck_assert_uint_eq(rev, 2);
	recs_free(&rs);
	rc = cohort_journal_apply(j, 0, collect_cb, &rs, &applied);
	ck_assert_int_eq(rc, COHORT_ECORRUPT);
	ck_assert_uint_eq(applied, 0);
	ck_assert_uint_eq(rs.n, 0);
	ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
	ck_assert_uint_eq(rev, 2);
	/* Flipping it back heals it: nothing was lost or skipped. */
	flip_byte(path, off + size - 10);
	ck_assert_int_eq(cohort_journal_apply(j, 1, collect_cb, &rs, &applied), 0);
	ck_assert_uint_eq(applied, 3);
	ck_assert_uint_eq(rs.v[0].rev, 3);
	ck_assert_str_eq((char *)rs.v[0].data, "record-3");
	recs_free(&rs);
}
END_TEST

/* Damage in a record's header (any byte) or a sealed segment's record. */
START_TEST(test_corrupt_record_header_and_sealed)
{
	char path[PATH_MAX], name[128];
	struct recs rs = { 0 };
	struct cohort__head h;
	uint64_t off, i, b;
	size_t size;
	int rc;

	open_node("[journal]\nsegment_size = 4096\n");
	for (i = 1; i <= 60; i++) {
		snprintf(name, sizeof(name), "%0100" PRIu64, i);
		append_str(name);
	}
	h = head_now();
	ck_assert_uint_ge(h.seg, 3);
	/* Revision 2, in sealed segment 1: each header byte in turn. */
	seg_file(path, sizeof(path), 1);
	find_record(1, 2, &off, &size);
	for (b = 0; b < JREC_HDR; b++) {
		flip_byte(path, off + b);
		rc = read_all(&rs, 0, 0);
		ck_assert_msg(rc == COHORT_ECORRUPT,
			      "header byte %" PRIu64 " flipped: read gave %d",
			      b, rc);
		ck_assert_uint_eq(rs.n, 1);
		ck_assert_msg(strstr(cohort_error_last(), "record 2 ") &&
			      strstr(cohort_error_last(), "seg-0000000000000001"),
			      "message: %s", cohort_error_last());
		flip_byte(path, off + b);
	}
	ck_assert_int_eq(read_all(&rs, 0, 0), 0);
	ck_assert_uint_eq(rs.n, 60);
	recs_free(&rs);
}
END_TEST

/* A segment cut short below the head is corruption, not an end. */
START_TEST(test_corrupt_truncated_segment)
{
	char path[PATH_MAX];
	struct recs rs = { 0 };
	struct cohort__head h;
	int rc;

	append_str("one");
	append_str("two");
	append_str("three");
	h = head_now();
	seg_file(path, sizeof(path), h.seg);
	ck_assert_int_eq(truncate(path, (off_t)h.off - 8), 0);
	rc = read_all(&rs, 0, 0);
	ck_assert_int_eq(rc, COHORT_ECORRUPT);
	ck_assert_uint_eq(rs.n, 2);
	/* And the writer refuses to build on it. */
	{
		cohort_entry e = { NULL, "four", 4 };
		uint64_t rev = 0;

		rc = cohort_journal_append(j, &e, 1, &rev);
		ck_assert_int_eq(rc, COHORT_ECORRUPT);
	}
	recs_free(&rs);
}
END_TEST

START_TEST(test_corrupt_revision_file)
{
	char path[PATH_MAX + 64];
	struct recs rs = { 0 };
	uint64_t rev = 0, applied = 0;
	char *text;
	size_t len;

	append_str("x");
	ck_assert_int_eq(cohort_journal_set_revision(j, 1), 0);
	ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
	ck_assert_uint_eq(rev, 1);
	snprintf(path, sizeof(path), "%s/nodes/n1/revision", root);
	/* Garbage */
	write_text(path, "garbage\n");
	ck_assert_int_eq(cohort_journal_revision(j, &rev), COHORT_ECORRUPT);
	ck_assert_int_eq(cohort_journal_node_revision(c, "n1", &rev),
			 COHORT_ECORRUPT);
	ck_assert_int_eq(cohort_journal_apply(j, 1, collect_cb, &rs, &applied),
			 COHORT_ECORRUPT);
	ck_assert_uint_eq(rs.n, 0);
	/* Well-formed but edited: the checksum catches it. */
	ck_assert_int_eq(cohort_journal_set_revision(j, 0), 0);
	text = (char *)slurp(path, &len);
	text[len] = '\0';
	ck_assert_ptr_nonnull(strstr(text, "rev 0\n"));
	strstr(text, "rev 0\n")[4] = '1';
	write_text(path, text);
	free(text);
	ck_assert_int_eq(cohort_journal_revision(j, &rev), COHORT_ECORRUPT);
	ck_assert_int_eq(cohort_journal_apply(j, 1, collect_cb, &rs, &applied),
			 COHORT_ECORRUPT);
	ck_assert_uint_eq(rs.n, 0);
	/* Empty */
	write_text(path, "");
	ck_assert_int_eq(cohort_journal_revision(j, &rev), COHORT_ECORRUPT);
	/* Past the head */
	ck_assert_int_eq(cohort_journal_set_revision(j, 5), 0);
	ck_assert_int_eq(cohort_journal_apply(j, 1, collect_cb, &rs, &applied),
			 COHORT_ECORRUPT);
	ck_assert_uint_eq(rs.n, 0);
	recs_free(&rs);
}
END_TEST

/* ---- injected faults ---------------------------------------------------- */

struct ack {
	uint64_t rev;
	char payload[48];
};

struct sweep {
	struct ack *acks;
	size_t nacks, cap;
	size_t batch;	    /* records per faulted commit */
	size_t pad;	    /* extra payload bytes (forces rollovers) */
	int junk;	    /* leave a crashed writer's tail before each */
	unsigned long runs; /* faulted appends */
	unsigned long errors;
	char *bad;	    /* violations found (kept, reported at the end) */
	size_t nbad;
	/* The last faulted commit when its append failed saying that its
	 * outcome is open ("may still appear"): it may show up whole, right
	 * where it was written, before the next commit; never elsewhere. */
	char open[4][48];
	size_t nopen;
	unsigned long open_kept, open_gone;
};

static void sweep_ack(struct sweep *s, uint64_t rev, const char *payload)
{
	if (s->nacks == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->acks = realloc(s->acks, s->cap * sizeof(*s->acks));
		ck_assert(s->acks != NULL);
	}
	s->acks[s->nacks].rev = rev;
	snprintf(s->acks[s->nacks].payload, sizeof(s->acks[0].payload), "%s",
		 payload);
	s->nacks++;
}

static void sweep_bad(struct sweep *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sweep_bad(struct sweep *s, const char *fmt, ...)
{
	char line[1024];
	size_t n, old;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->nbad++;
	if (getenv("COHORT_TEST_VERBOSE"))
		fprintf(stderr, "# violation: %s\n", line);
	if (s->nbad > 12)
		return;
	old = s->bad ? strlen(s->bad) : 0;
	n = strlen(line);
	s->bad = realloc(s->bad, old + 3 + n + 1);
	ck_assert(s->bad != NULL);
	memcpy(s->bad + old, "\n  ", 3);
	memcpy(s->bad + old + 3, line, n + 1);
}

/* Payload text is its key: the first 47 bytes are unique per record. */
static void make_payload(char *buf, size_t size, const char *tag, size_t k,
			 size_t pad)
{
	size_t n = (size_t)snprintf(buf, size, "%s.%zu", tag, k);

	ck_assert_uint_lt(n + pad + 1, size);
	memset(buf + n, '~', pad);
	buf[n + pad] = '\0';
}

/*
 * What is on disk must be exactly the acknowledged records: every
 * acknowledged revision with its payload, nothing else, 1..head contiguous.
 * The one exception is a failed append whose error says its outcome is
 * open ("may still appear": its records were durable when it lost the
 * lock): that commit may appear, whole and in order, where it was written.
 * On a violation, note it and adopt what is on disk so that the sweep goes
 * on and reports every place that breaks.
 */
static void sweep_verify(struct sweep *s, const char *ctx)
{
	struct recs rs = { 0 };
	uint64_t head = 0;
	size_t i, a = 0;
	int rc;

	rc = read_all(&rs, 0, 0);
	if (rc) {
		sweep_bad(s, "%s: read fails: %s", ctx, cohort_error_last());
		recs_free(&rs);
		return;
	}
	if (cohort_journal_bounds(j, NULL, &head) || head != rs.n)
		sweep_bad(s, "%s: head %" PRIu64 " but %zu records", ctx, head,
			  rs.n);
	for (i = 0; i < rs.n; i++) {
		char key[48];

		snprintf(key, sizeof(key), "%.*s", (int)(rs.v[i].len < 47 ?
			 rs.v[i].len : 47), (char *)rs.v[i].data);
		if (rs.v[i].rev != i + 1) {
			sweep_bad(s, "%s: record %zu has revision %" PRIu64, ctx,
				  i, rs.v[i].rev);
			break;
		}
		if (a < s->nacks && s->acks[a].rev == rs.v[i].rev &&
		    !strcmp(s->acks[a].payload, key)) {
			a++;
			continue;
		}
		if (s->nopen && !strcmp(key, s->open[0]) && rs.n - i >= s->nopen) {
			/* The open commit, kept: whole and in order? */
			size_t k;

			for (k = 1; k < s->nopen; k++) {
				char next[48];

				snprintf(next, sizeof(next), "%.*s",
					 (int)(rs.v[i + k].len < 47 ?
					       rs.v[i + k].len : 47),
					 (char *)rs.v[i + k].data);
				if (strcmp(next, s->open[k]))
					break;
			}
			if (k == s->nopen) {
				/* Adopt it: it is committed now. */
				if (s->nacks + k > s->cap) {
					s->cap = s->nacks + k + 256;
					s->acks = realloc(s->acks, s->cap *
							  sizeof(*s->acks));
					ck_assert(s->acks != NULL);
				}
				memmove(s->acks + a + k, s->acks + a,
					(s->nacks - a) * sizeof(*s->acks));
				for (k = 0; k < s->nopen; k++) {
					s->acks[a + k].rev = rs.v[i + k].rev;
					snprintf(s->acks[a + k].payload,
						 sizeof(s->acks[0].payload), "%s",
						 s->open[k]);
				}
				s->nacks += s->nopen;
				s->nopen = 0;
				s->open_kept++;
				a += k;
				i += k - 1;
				continue;
			}
		}
		if (a < s->nacks && s->acks[a].rev == rs.v[i].rev)
			sweep_bad(s, "%s: acknowledged revision %" PRIu64 " holds "
				  "'%s', not '%s'", ctx, rs.v[i].rev, key,
				  s->acks[a].payload);
		else
			sweep_bad(s, "%s: revision %" PRIu64 " holds '%s', which "
				  "was never acknowledged (its append failed%s)",
				  ctx, rs.v[i].rev, key,
				  s->nopen ? "" : " without saying the outcome "
				  "is open");
		/* Adopt the disk's view from here on. */
		s->nacks = a;
		for (; i < rs.n; i++) {
			snprintf(key, sizeof(key), "%.*s", (int)(rs.v[i].len < 47 ?
				 rs.v[i].len : 47), (char *)rs.v[i].data);
			sweep_ack(s, rs.v[i].rev, key);
		}
		recs_free(&rs);
		return;
	}
	if (a != s->nacks) {
		sweep_bad(s, "%s: acknowledged revision %" PRIu64 " ('%s') is "
			  "missing (%zu records on disk)", ctx, s->acks[a].rev,
			  s->acks[a].payload, rs.n);
		s->nacks = a;
	}
	recs_free(&rs);
}

/* One faulted commit of s->batch records, then a clean one. */
static int sweep_step(struct sweep *s, enum cohort__os_op op, int what,
		      unsigned long nth, const char *tag)
{
	cohort_entry e[4];
	char payload[4][2048], ctx[128];
	uint64_t rev = 0;
	size_t i;
	int rc, reached;

	ck_assert_uint_le(s->batch, 4);
	for (i = 0; i < s->batch; i++) {
		make_payload(payload[i], sizeof(payload[i]), tag, i, s->pad);
		e[i].type = NULL;
		e[i].data = payload[i];
		e[i].len = strlen(payload[i]);
	}
	if (s->junk) {
		/* A crashed writer's torn record past the head: the faulted
		 * append has to cut it first. */
		unsigned char rec[256];
		struct cohort__head h = head_now();
		char seg[PATH_MAX];
		size_t size = cohort__rec_encode(rec, h.rev + 1, 1, "crashed",
						 "data", "torn", 4, 1);

		seg_file(seg, sizeof(seg), h.seg);
		pwrite_at(seg, rec, size - 3, (off_t)h.off);
	}
	cohort__os_fault_clear();
	cohort__os_fault_set(op, nth, what, 0);
	rc = cohort_journal_append(j, e, s->batch, &rev);
	reached = cohort__os_fault_count(op) >= nth;
	cohort__os_fault_clear();
	s->runs++;
	snprintf(ctx, sizeof(ctx), "fault %s:%lu:%d (append %s)",
		 cohort__os_op_name(op), nth, what,
		 rc ? cohort_error_name(rc) : "ok");
	if (rc == 0) {
		for (i = 0; i < s->batch; i++) {
			char key[48];

			snprintf(key, sizeof(key), "%.47s", payload[i]);
			sweep_ack(s, rev + i, key);
		}
	} else {
		s->errors++;
		s->nopen = 0;
		if (strstr(cohort_error_last(), "may still appear") ||
		    strstr(cohort_error_last(), "may or may not appear")) {
			for (i = 0; i < s->batch; i++)
				snprintf(s->open[i], sizeof(s->open[i]), "%.47s",
					 payload[i]);
			s->nopen = s->batch;
		}
		if (what == ENOSPC && rc != COHORT_ENOSPACE &&
		    rc != COHORT_ELOCKED)
			sweep_bad(s, "%s: ENOSPC reported as %s: %s", ctx,
				  cohort_error_name(rc), cohort_error_last());
	}
	if (rc && getenv("COHORT_TEST_VERBOSE"))
		fprintf(stderr, "# %s: %s\n", ctx, cohort_error_last());
	sweep_verify(s, ctx);
	/* A clean append works afterwards and takes the next revision. */
	{
		char clean[2048], key[48];
		cohort_entry ce = { NULL, clean, 0 };
		uint64_t head = 0;

		/* As big as the faulted ones: with a small segment, every
		 * faulted commit then rolls the segment over. */
		make_payload(clean, sizeof(clean), "clean", s->runs, s->pad);
		ce.len = strlen(clean);
		(void)cohort_journal_bounds(j, NULL, &head);
		rc = cohort_journal_append(j, &ce, 1, &rev);
		if (rc) {
			sweep_bad(s, "%s: the clean append after it fails: %s",
				  ctx, cohort_error_last());
		} else {
			if (rev <= head)
				sweep_bad(s, "%s: clean append got revision %"
					  PRIu64 ", head was %" PRIu64, ctx, rev,
					  head);
			snprintf(key, sizeof(key), "%.47s", clean);
			sweep_ack(s, rev, key);
		}
		sweep_verify(s, ctx);
		/* Not kept by this append: it was cut, and can never appear. */
		if (s->nopen)
			s->open_gone++;
		s->nopen = 0;
	}
	return reached;
}

struct fault_kind {
	enum cohort__os_op op;
	int what;
};

static void fault_sweep(const char *conf, size_t batch, size_t pad, int junk,
			const struct fault_kind *kinds, size_t nkinds,
			unsigned long max_n)
{
	struct sweep s;
	size_t k;

	memset(&s, 0, sizeof(s));
	s.batch = batch;
	s.pad = pad;
	s.junk = junk;
	open_node(conf);
	for (k = 0; k < nkinds; k++) {
		unsigned long n;

		for (n = 1; n <= max_n; n++) {
			char tag[40];

			snprintf(tag, sizeof(tag), "%s-%d-%lu",
				 cohort__os_op_name(kinds[k].op), kinds[k].what, n);
			if (!sweep_step(&s, kinds[k].op, kinds[k].what, n, tag))
				break;
		}
	}
	if (getenv("COHORT_TEST_VERBOSE"))
		fprintf(stderr, "# sweep: %lu faulted appends, %lu failed (%lu "
			"with an open outcome: %lu kept, %lu gone), %zu records\n",
			s.runs, s.errors, s.open_kept + s.open_gone, s.open_kept,
			s.open_gone, s.nacks);
	ck_assert_msg(s.nbad == 0, "%zu violations in %lu faulted appends:%s",
		      s.nbad, s.runs, s.bad ? s.bad : "");
	ck_assert_uint_gt(s.errors, 0);
	free(s.acks);
	free(s.bad);
}

static const struct fault_kind journal_faults[] = {
	{ COHORT__OP_WRITE, ENOSPC },	 { COHORT__OP_WRITE, EIO },
	{ COHORT__OP_WRITE, COHORT__FAULT_SHORT },
	{ COHORT__OP_WRITE, ESTALE },	 { COHORT__OP_FSYNC, EIO },
	{ COHORT__OP_FSYNC, ENOSPC },	 { COHORT__OP_FSYNC, ESTALE },
	{ COHORT__OP_OPEN, ESTALE },	 { COHORT__OP_OPEN, EIO },
	{ COHORT__OP_OPEN, ENOSPC },	 { COHORT__OP_READ, EIO },
	{ COHORT__OP_READ, COHORT__FAULT_SHORT },
	{ COHORT__OP_READ, ESTALE },	 { COHORT__OP_STAT, EIO },
	{ COHORT__OP_STAT, ESTALE },	 { COHORT__OP_TRUNCATE, EIO },
	{ COHORT__OP_TRUNCATE, ENOSPC }, { COHORT__OP_RENAME, EIO },
	{ COHORT__OP_RENAME, COHORT__FAULT_LIE },
	{ COHORT__OP_LINK, EIO },	 { COHORT__OP_LINK, COHORT__FAULT_LIE },
	{ COHORT__OP_UNLINK, EIO },	 { COHORT__OP_CLOSE, EIO },
	{ COHORT__OP_LOCK, EIO },	 { COHORT__OP_MKDIR, EIO },
	{ COHORT__OP_WRITE, EINTR },	 { COHORT__OP_FSYNC, EINTR },
};
#define NFAULTS (sizeof(journal_faults) / sizeof(journal_faults[0]))

/* The journal's own calls (fcntl locks: no lease thread). */
START_TEST(test_faults_append)
{
	fault_sweep("[cluster]\nlock_mode = fcntl\n", 1, 0, 0, journal_faults,
		    NFAULTS, 200);
}
END_TEST

/* Three-record commits: all or nothing. */
START_TEST(test_faults_append_batch)
{
	fault_sweep("[cluster]\nlock_mode = fcntl\n", 3, 0, 0, journal_faults,
		    NFAULTS, 200);
}
END_TEST

/* Each faulted append first has to cut a crashed writer's torn tail. */
START_TEST(test_faults_torn_tail)
{
	fault_sweep("[cluster]\nlock_mode = fcntl\n", 1, 0, 1, journal_faults,
		    NFAULTS, 200);
}
END_TEST

/* Commits that roll the segment over every time, with a torn tail or a
 * half-made next segment left by the failures in between. */
START_TEST(test_faults_rollover)
{
	fault_sweep("[cluster]\nlock_mode = fcntl\n[journal]\n"
		    "segment_size = 4096\n", 2, 1500, 0, journal_faults, NFAULTS,
		    200);
}
END_TEST

/* The head synced on every commit (as on NFS): a failed sync of a head slot
 * that was written leaves the commit's outcome open. */
START_TEST(test_faults_head_sync)
{
	static const struct fault_kind kinds[] = {
		{ COHORT__OP_FSYNC, EIO },   { COHORT__OP_FSYNC, ENOSPC },
		{ COHORT__OP_WRITE, EIO },   { COHORT__OP_WRITE, ENOSPC },
		{ COHORT__OP_TRUNCATE, EIO },
	};

	fault_sweep("[cluster]\nlock_mode = fcntl\n[journal]\nhead_sync = always\n",
		    2, 0, 1, kinds, sizeof(kinds) / sizeof(kinds[0]), 200);
}
END_TEST

/* The default lock mode: the lease's own calls are in the sweep too. */
START_TEST(test_faults_lease)
{
	static const struct fault_kind lease_faults[] = {
		{ COHORT__OP_LINK, EIO },    { COHORT__OP_LINK, COHORT__FAULT_LIE },
		{ COHORT__OP_LINK, ENOSPC }, { COHORT__OP_UNLINK, EIO },
		{ COHORT__OP_STAT, EIO },    { COHORT__OP_STAT, ESTALE },
		{ COHORT__OP_OPEN, EIO },    { COHORT__OP_OPEN, ESTALE },
		{ COHORT__OP_READ, EIO },    { COHORT__OP_LOCK, EIO },
		{ COHORT__OP_MKDIR, EIO },   { COHORT__OP_FSYNC, EIO },
		{ COHORT__OP_CLOSE, EIO },   { COHORT__OP_WRITE, EIO },
		{ COHORT__OP_WRITE, ENOSPC },
	};

	fault_sweep("[cluster]\nlock_mode = both\nlease_timeout = 1500ms\n"
		    "skew_margin = 500ms\nlease_refresh = 200ms\n", 1, 0, 0, lease_faults,
		    sizeof(lease_faults) / sizeof(lease_faults[0]), 200);
}
END_TEST

/* ---- apply -------------------------------------------------------------- */

static void apply_resume_case(int each)
{
	struct recs rs = { 0 };
	uint64_t rev = 0, applied = 0, i;
	char buf[32];
	int rc;

	for (i = 1; i <= 10; i++) {
		snprintf(buf, sizeof(buf), "p%" PRIu64, i);
		append_str(buf);
	}
	/* Fail at 4: 1..3 applied, the revision stays at 3. */
	rs.fail_at = 4;
	rc = cohort_journal_apply(j, each, collect_cb, &rs, &applied);
	ck_assert_int_eq(rc, 77);
	ck_assert_uint_eq(applied, 3);
	ck_assert_uint_eq(rs.n, 3);
	ck_assert_uint_eq(rs.v[2].rev, 3);
	ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
	ck_assert_uint_eq(rev, 3);
	ck_assert_int_eq(cohort_journal_node_revision(c, "n1", &rev), 0);
	ck_assert_uint_eq(rev, 3);
	/* Failing again at 4: nothing applied, still 3. */
	recs_free(&rs);
	rs.fail_at = 4;
	rc = cohort_journal_apply(j, each, collect_cb, &rs, &applied);
	ck_assert_int_eq(rc, 77);
	ck_assert_uint_eq(applied, 0);
	ck_assert_uint_eq(rs.n, 0);
	ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
	ck_assert_uint_eq(rev, 3);
	/* The next apply resumes at 4; fails at 8. */
	recs_free(&rs);
	rs.fail_at = 8;
	rc = cohort_journal_apply(j, each, collect_cb, &rs, &applied);
	ck_assert_int_eq(rc, 77);
	ck_assert_uint_eq(applied, 4);
	ck_assert_uint_eq(rs.v[0].rev, 4);
	ck_assert_str_eq((char *)rs.v[0].data, "p4");
	ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
	ck_assert_uint_eq(rev, 7);
	/* A reopened handle (a restarted process) resumes at 8. */
	open_node(NULL);
	recs_free(&rs);
	rc = cohort_journal_apply(j, each, collect_cb, &rs, &applied);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(applied, 3);
	ck_assert_uint_eq(rs.v[0].rev, 8);
	ck_assert_uint_eq(rs.v[2].rev, 10);
	ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
	ck_assert_uint_eq(rev, 10);
	/* Up to date: nothing to do. */
	recs_free(&rs);
	ck_assert_int_eq(cohort_journal_apply(j, each, collect_cb, &rs, &applied), 0);
	ck_assert_uint_eq(applied, 0);
	ck_assert_uint_eq(rs.n, 0);
	/* New records are picked up. */
	append_str("p11");
	ck_assert_int_eq(cohort_journal_apply(j, each, collect_cb, &rs, &applied), 0);
	ck_assert_uint_eq(applied, 1);
	ck_assert_str_eq((char *)rs.v[0].data, "p11");
	recs_free(&rs);
}

START_TEST(test_apply_resume_each)
{
	apply_resume_case(1);
}
END_TEST

START_TEST(test_apply_resume_batch)
{
	apply_resume_case(0);
}
END_TEST

START_TEST(test_apply_null_applied)
{
	struct recs rs = { 0 };
	uint64_t rev;

	append_str("a");
	append_str("b");
	ck_assert_int_eq(cohort_journal_apply(j, 1, collect_cb, &rs, NULL), 0);
	ck_assert_uint_eq(rs.n, 2);
	ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
	ck_assert_uint_eq(rev, 2);
	recs_free(&rs);
}
END_TEST

/* A node that joined with from_head starts there. */
START_TEST(test_join_from_head)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	cohort_cluster *c2 = NULL;
	cohort_journal *j2 = NULL;
	char st2[PATH_MAX + 16];
	struct recs rs = { 0 };
	uint64_t rev = 99, applied = 0;

	append_str("old-1");
	append_str("old-2");
	snprintf(st2, sizeof(st2), "%s/state2", tmp);
	o.root = root;
	o.node = "n2";
	o.state = st2;
	jo.from_head = 1;
	ck_assert_int_eq(cohort_cluster_open(&c2, &o), 0);
	ck_assert_int_eq(cohort_node_join(c2, &jo), 0);
	ck_assert_int_eq(cohort_journal_open(&j2, c2), 0);
	ck_assert_int_eq(cohort_journal_revision(j2, &rev), 0);
	ck_assert_uint_eq(rev, 2);
	append_str("new-3");
	ck_assert_int_eq(cohort_journal_apply(j2, 1, collect_cb, &rs, &applied), 0);
	ck_assert_uint_eq(applied, 1);
	ck_assert_str_eq((char *)rs.v[0].data, "new-3");
	/* n1 joined before anything: it replays all. */
	recs_free(&rs);
	ck_assert_int_eq(cohort_journal_apply(j, 1, collect_cb, &rs, &applied), 0);
	ck_assert_uint_eq(applied, 3);
	recs_free(&rs);
	cohort_journal_close(j2);
	cohort_cluster_close(c2);
}
END_TEST

/* The revision file survives failures of its own replacement. */
START_TEST(test_apply_revision_faults)
{
	static const struct fault_kind kinds[] = {
		{ COHORT__OP_RENAME, EIO }, { COHORT__OP_RENAME, COHORT__FAULT_LIE },
		{ COHORT__OP_WRITE, ENOSPC }, { COHORT__OP_FSYNC, EIO },
		{ COHORT__OP_OPEN, EIO },   { COHORT__OP_CLOSE, EIO },
	};
	struct recs rs = { 0 };
	size_t k;
	uint64_t i;

	for (i = 0; i < 40; i++)
		append_str("r");
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		unsigned long n;

		for (n = 1; n < 100; n++) {
			uint64_t before = 0, after = 0, applied = 0;
			int rc, reached;

			ck_assert_int_eq(cohort_journal_set_revision(j, 0), 0);
			recs_free(&rs);
			rs.fail_at = 3; /* at most two records per apply */
			ck_assert_int_eq(cohort_journal_revision(j, &before), 0);
			cohort__os_fault_clear();
			cohort__os_fault_set(kinds[k].op, n, kinds[k].what, 0);
			rc = cohort_journal_apply(j, 1, collect_cb, &rs, &applied);
			reached = cohort__os_fault_count(kinds[k].op) >= n;
			cohort__os_fault_clear();
			ck_assert_msg(rc == 77 || rc < 0, "rc %d", rc);
			ck_assert_msg(cohort_journal_revision(j, &after) == 0,
				      "fault %s:%lu: revision file unreadable: %s",
				      cohort__os_op_name(kinds[k].op), n,
				      cohort_error_last());
			/* The revision never passes what the callback saw,
			 * and never goes back. */
			ck_assert_uint_ge(after, before);
			ck_assert_uint_le(after, rs.n);
			if (rc == 77)
				ck_assert_uint_eq(after, 2);
			if (!reached)
				break;
		}
	}
	recs_free(&rs);
}
END_TEST

/* ---- waiting ------------------------------------------------------------ */

/* Another process appends 'delay_ms' from now, as node n2. */
static pid_t append_later(int delay_ms, const char *payload)
{
	pid_t pid = fork();

	ck_assert(pid >= 0);
	if (pid == 0) {
		cohort_options o = COHORT_OPTIONS_INIT;
		cohort_cluster *c2 = NULL;
		cohort_journal *j2 = NULL;
		cohort_entry e = { NULL, payload, strlen(payload) };
		char st2[PATH_MAX + 16];
		uint64_t rev;
		struct timespec ts = { delay_ms / 1000,
				       (long)(delay_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		snprintf(st2, sizeof(st2), "%s/state2", tmp);
		o.root = root;
		o.node = "n2";
		o.state = st2;
		if (cohort_cluster_open(&c2, &o) || cohort_journal_open(&j2, c2) ||
		    cohort_journal_append(j2, &e, 1, &rev))
			_exit(1);
		cohort_journal_close(j2);
		cohort_cluster_close(c2);
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "appending child failed (status %#x)", status);
}

/* A commit by another process on this host wakes the waiter at once
 * (inotify), long before a poll interval of 20 s. */
START_TEST(test_wait_wakes_on_append)
{
	uint64_t head = 0;
	int64_t t0, dt;
	pid_t pid;
	int r;

	append_str("first");
	bounds(NULL, &head);
	cohort_journal_set_poll_interval_ms(j, 20000);
	ck_assert_int_eq(cohort_journal_poll_interval_ms(j), 20000);
	t0 = mono_ms();
	pid = append_later(300, "second");
	r = cohort_journal_wait(j, head, 10000);
	dt = mono_ms() - t0;
	reap(pid);
	ck_assert_int_eq(r, 1);
	ck_assert_msg(dt >= 250 && dt < 1500, "woke after %lld ms", (long long)dt);
	bounds(NULL, &head);
	ck_assert_uint_eq(head, 2);
}
END_TEST

/* The same with the inotify descriptor in the caller's own poll loop. */
START_TEST(test_wait_fd)
{
	uint64_t head = 0;
	int64_t t0, dt;
	pid_t pid;
	int fd = cohort_journal_fd(j);

	ck_assert_int_ge(fd, 0);
	cohort_journal_fd_drain(j);
	t0 = mono_ms();
	pid = append_later(200, "x");
	ck_assert_int_eq(cohort__os_wait_fd(fd, 10000), 1);
	dt = mono_ms() - t0;
	cohort_journal_fd_drain(j);
	reap(pid);
	ck_assert_msg(dt < 1500, "woke after %lld ms", (long long)dt);
	bounds(NULL, &head);
	ck_assert_uint_eq(head, 1);
}
END_TEST

/* Nothing new: 0 after the timeout, not before; something newer than
 * 'known': 1 at once. */
START_TEST(test_wait_timeout)
{
	uint64_t head = 0;
	int64_t t0, dt;

	append_str("only");
	bounds(NULL, &head);
	cohort_journal_set_poll_interval_ms(j, 100);
	t0 = mono_ms();
	ck_assert_int_eq(cohort_journal_wait(j, head, 600), 0);
	dt = mono_ms() - t0;
	ck_assert_msg(dt >= 590 && dt < 1600, "timed out after %lld ms",
		      (long long)dt);
	/* Something newer than 'known' already: at once. */
	t0 = mono_ms();
	ck_assert_int_eq(cohort_journal_wait(j, head - 1, 5000), 1);
	ck_assert_int_lt(mono_ms() - t0, 500);
	/* Zero timeout: a single look. */
	ck_assert_int_eq(cohort_journal_wait(j, head, 0), 0);
	ck_assert_int_eq(cohort_journal_wait(j, 0, 0), 1);
}
END_TEST

/* Without an event (a commit from another host raises none, NFS fact 1)
 * the waiter finds the commit by polling within the poll interval.  The
 * inotify descriptor is replaced by a pipe that never becomes readable. */
START_TEST(test_wait_by_polling)
{
	uint64_t head = 0;
	int64_t t0, dt;
	int fd = cohort_journal_fd(j), p[2];
	pid_t pid;
	int r;

	append_str("first");
	bounds(NULL, &head);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ge(dup2(p[0], fd), 0);
	close(p[0]); /* p[1] stays open: no hang-up either */
	cohort_journal_set_poll_interval_ms(j, 200);
	t0 = mono_ms();
	pid = append_later(300, "second");
	r = cohort_journal_wait(j, head, 10000);
	dt = mono_ms() - t0;
	reap(pid);
	close(p[1]);
	ck_assert_int_eq(r, 1);
	ck_assert_msg(dt >= 250 && dt < 300 + 200 + 1000, "woke after %lld ms",
		      (long long)dt);
}
END_TEST

/* ---- main --------------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	if (timeout)
		tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc;

	tc = tcase(s, "format", 0);
	tcase_add_test(tc, test_rec_roundtrip);
	tcase_add_test(tc, test_rec_negative_time_and_big_rev);
	tcase_add_test(tc, test_rec_flip_any_bit);
	tcase_add_test(tc, test_rec_bad_fields);
	tcase_add_test(tc, test_rec_short);
	tcase_add_test(tc, test_head_newer_slot);
	tcase_add_test(tc, test_head_torn_slot);
	tcase_add_test(tc, test_head_file_torn_slot);

	tc = tcase(s, "append", 0);
	tcase_add_test(tc, test_empty_journal);
	tcase_add_test(tc, test_append_one);
	tcase_add_test(tc, test_append_batch);
	tcase_add_test(tc, test_append_large_payload);
	tcase_add_test(tc, test_append_refused);
	tcase_add_test(tc, test_append_needs_node);
	tcase_add_test(tc, test_read_from_limit);
	tcase_add_test(tc, test_tail_bounds);
	tcase_add_test(tc, test_two_handles);
	tcase_add_test(tc, test_kept_segment_stale_size);
	tcase_add_test(tc, test_append_threads);

	tc = tcase(s, "segments", 0);
	tcase_add_test(tc, test_segment_rollover);
	tcase_add_test(tc, test_segment_big_commit);

	tc = tcase(s, "recovery", 0);
	tcase_add_test(tc, test_torn_tail_garbage);
	tcase_add_test(tc, test_torn_tail_partial_record);
	tcase_add_test(tc, test_torn_tail_zeros);
	tcase_add_test(tc, test_torn_tail_open_commit);
	tcase_add_test(tc, test_torn_tail_wrong_revision);
	tcase_add_test(tc, test_lost_head_commit_kept);
	tcase_add_test(tc, test_lost_head_commit_then_garbage);
	tcase_add_test(tc, test_corrupt_record);
	tcase_add_test(tc, test_corrupt_record_header_and_sealed);
	tcase_add_test(tc, test_corrupt_truncated_segment);
	tcase_add_test(tc, test_corrupt_revision_file);

	tc = tcase(s, "faults", 240);
	tcase_add_test(tc, test_faults_append);
	tcase_add_test(tc, test_faults_append_batch);
	tcase_add_test(tc, test_faults_torn_tail);
	tcase_add_test(tc, test_faults_rollover);
	tcase_add_test(tc, test_faults_head_sync);
	tcase_add_test(tc, test_faults_lease);
	tcase_add_test(tc, test_apply_revision_faults);

	tc = tcase(s, "apply", 0);
	tcase_add_test(tc, test_apply_resume_each);
	tcase_add_test(tc, test_apply_resume_batch);
	tcase_add_test(tc, test_apply_null_applied);
	tcase_add_test(tc, test_join_from_head);

	tc = tcase(s, "wait", 0);
	tcase_add_test(tc, test_wait_wakes_on_append);
	tcase_add_test(tc, test_wait_fd);
	tcase_add_test(tc, test_wait_timeout);
	tcase_add_test(tc, test_wait_by_polling);
	return s;
}

int main(void)
{
	return run_suite(journal_suite()) == 0 ? 0 : 1;
}
