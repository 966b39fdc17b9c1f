/*
 * test_damage.c - one damaged record must not stop the cluster.
 *
 * Readers pass damage in records before the revision they read (they
 * resynchronize on the next verified record), so a node past the damage
 * goes on; only a reader that needs a damaged revision is told, naming it.
 * 'cohort fsck --repair' replaces each unreadable revision by a lost
 * record (and a missing segment by a segment of them, a damaged segment
 * header and a head with no valid slot are written again), and a node that
 * reaches a lost record stops with COHORT_ELOST or, told to, skips it and
 * records that it did.  Nothing intact is lost on the way.
 *
 * Every test gets a fresh root, node "n1" joined, its journal open.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "cohort.h"
#include "fixture.h"
#include "journal_format.h"
#include "os/os.h"

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

static const char *at(const char *rel)
{
	static char buf[4][PATH_MAX + 64];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", root, rel);
	return buf[k];
}

static void open_node(const char *conf)
{
	close_node();
	if (conf)
		write_text(at("cohort.conf"), conf);
	open_joined_node(&c, &j, NULL, root, state);
}

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1];

	cohort__os_fault_clear();
	make_tmp(tmp, sizeof(tmp), NULL, "cohort-damage", 0);
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	ck_assert_msg(cohort_cluster_init(id, root) == 0, "init: %s",
		      cohort_error_last());
	open_node(NULL);
}

static void teardown(void)
{
	close_node();
	remove_tmp();
}

/* ---- helpers ------------------------------------------------------------ */

static const char *seg_rel(uint64_t no)
{
	static char buf[4][64];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "journal/seg-%016" PRIx64, no);
	return buf[k];
}

static struct cohort__head head_now(void)
{
	struct cohort__head h;

	ck_assert_int_eq(cohort__journal_head(c, &h), 0);
	return h;
}

/* Append 'n' records "P-1".."P-n", 'per' to a commit. */
static void append_many(int n, int per, const char *prefix)
{
	char bufs[100][32];
	cohort_entry e[100];
	int i = 0, k;

	ck_assert(per > 0 && per <= 100);
	while (i < n) {
		for (k = 0; k < per && i < n; k++, i++) {
			snprintf(bufs[k], sizeof(bufs[k]), "%s-%d", prefix, i + 1);
			e[k].type = NULL;
			e[k].data = bufs[k];
			e[k].len = strlen(bufs[k]);
		}
		ck_assert_msg(cohort_journal_append(j, e, (size_t)k, NULL) == 0,
			      "append: %s", cohort_error_last());
	}
}

/* Where revision 'rev' is: its segment, offset and size. */
static void find_record(uint64_t rev, uint64_t *no, uint64_t *off,
			size_t *size)
{
	struct cohort__head h = head_now();
	uint64_t s;

	for (s = h.tail_seg; s <= h.seg; s++) {
		unsigned char *buf;
		size_t len, pos = JSEG_HDR, need;

		if (!exists(at(seg_rel(s))))
			continue;
		buf = slurp(at(seg_rel(s)), &len);
		while (pos + JREC_HDR <= len) {
			cohort__rec r;
			long n = cohort__rec_decode(&r, buf + pos, len - pos, &need);

			if (n <= 0)
				break;
			if (r.rev == rev) {
				*no = s;
				*off = pos;
				*size = (size_t)n;
				free(buf);
				return;
			}
			pos += (size_t)n;
		}
		free(buf);
	}
	ck_abort_msg("revision %" PRIu64 " not found", rev);
}

/* The first revision of segment 'no', by its header. */
static uint64_t seg_first(uint64_t no)
{
	unsigned char hdr[JSEG_HDR];
	uint64_t first = 0;
	int fd = open(at(seg_rel(no)), O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, hdr, JSEG_HDR, 0), JSEG_HDR);
	close(fd);
	ck_assert_int_eq(cohort__seg_header_check(hdr, no, &first), 0);
	return first;
}

/* Flip one bit inside revision 'rev's payload (its checksum fails). */
static void damage(uint64_t rev)
{
	uint64_t no, off;
	size_t size;
	unsigned char b;
	int fd;

	find_record(rev, &no, &off, &size);
	fd = open(at(seg_rel(no)), O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, (off_t)(off + JREC_HDR + 1)), 1);
	b ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)(off + JREC_HDR + 1)), 1);
	close(fd);
}

struct seen {
	uint64_t first, last, n;
	int lost; /* lost records seen */
};

static int seen_cb(const cohort_record *r, void *arg)
{
	struct seen *s = arg;

	if (!s->n)
		s->first = r->rev;
	ck_assert_msg(!s->n || r->rev == s->last + 1, "revision %" PRIu64
		      " after %" PRIu64, r->rev, s->last);
	s->last = r->rev;
	s->n++;
	if (!strcmp(r->type, COHORT_LOST_TYPE))
		s->lost++;
	return 0;
}

/* Read from 'from' to the head: the return code, what was delivered. */
static int read_from(uint64_t from, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return cohort_journal_read(j, from, 0, seen_cb, s);
}

static void reads_ok(uint64_t from, uint64_t head)
{
	struct seen s;
	int rc = read_from(from, &s);

	ck_assert_msg(rc == 0, "read from %" PRIu64 ": %s", from,
		      cohort_error_last());
	ck_assert_uint_eq(s.first, from);
	ck_assert_uint_eq(s.last, head);
}

static void read_fails(uint64_t from, const char *needle)
{
	struct seen s;
	int rc = read_from(from, &s);

	ck_assert_msg(rc == COHORT_ECORRUPT, "read from %" PRIu64 ": rc %d",
		      from, rc);
	assert_msg_has(needle);
}

static int64_t repair(int flags)
{
	cohort_fsck_options o = COHORT_FSCK_OPTIONS_INIT;
	cohort_fsck_summary sum;

	o.repair = flags & 1;
	ck_assert_msg(cohort_fsck(&sum, c, &o, NULL, NULL) == 0, "fsck: %s",
		      cohort_error_last());
	if (!(flags & 1))
		return (int64_t)(sum.problems);
	ck_assert_uint_eq(sum.problems, sum.repaired);
	return (int64_t)sum.lost;
}

static void set_rev(uint64_t rev)
{
	ck_assert_int_eq(cohort_journal_set_revision(j, rev), 0);
}

static uint64_t rev_now(void)
{
	uint64_t rev;

	ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
	return rev;
}

/* ---- readers pass damage they do not deliver ----------------------------- */

/* The measured case: 500 records, a bit flipped in 251. */
START_TEST(test_read_past_damage)
{
	struct seen s;
	uint64_t applied;

	append_many(500, 1, "r");
	damage(251);
	reads_ok(400, 500);
	reads_ok(252, 500);
	read_fails(251, "251");
	read_fails(1, "251");
	/* A node past the damage applies new commits as if nothing
	 * happened. */
	set_rev(500);
	append_many(1, 1, "after");
	ck_assert_int_eq(cohort_journal_apply(j, 1, seen_cb,
					      memset(&s, 0, sizeof(s)),
					      &applied), 0);
	ck_assert_uint_eq(applied, 1);
	ck_assert_uint_eq(rev_now(), 501);
	/* A node before it applies up to it, then is told, naming it. */
	set_rev(100);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(cohort_journal_apply(j, 1, seen_cb, &s, &applied),
			 COHORT_ECORRUPT);
	assert_msg_has("record 251");
	ck_assert_uint_eq(applied, 150);
	ck_assert_uint_eq(rev_now(), 250);
}
END_TEST

/* Damage at a segment's first record, and in a segment header. */
START_TEST(test_read_past_damage_segments)
{
	struct cohort__head h;
	uint64_t no, off, first3, first4, x;
	size_t size;

	open_node("[journal]\nsegment_size = 4096\n");
	append_many(300, 1, "s");
	h = head_now();
	ck_assert_uint_ge(h.seg, 5);
	find_record(150, &no, &off, &size);
	ck_assert_uint_gt(no, 2);
	/* The first record of segment 3. */
	first3 = seg_first(3);
	first4 = seg_first(4);
	damage(first3);
	reads_ok(first3 + 1, h.rev);
	reads_ok(first4 + 2, h.rev);
	read_fails(first3, "record");
	/* A damaged header of segment 2: the binary search does not need
	 * it to find a later revision. */
	{
		unsigned char junk[8] = { 'X', 'X', 'X', 'X', 'X', 'X', 'X', 'X' };
		int fd = open(at(seg_rel(2)), O_RDWR);

		ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), 8), 8);
		close(fd);
	}
	cohort_journal_close(j);
	ck_assert_int_eq(cohort_journal_open(&j, c), 0);
	reads_ok(first4 + 2, h.rev);
	reads_ok(h.rev, h.rev);
	x = first3 - 1; /* the last record of segment 2 */
	read_fails(x, "cannot be read");
	/* Repair: the header is written again, record first3 becomes a
	 * lost record, every reader passes. */
	ck_assert_int_eq(repair(1), 1);
	ck_assert_int_eq(repair(0), 0);
	reads_ok(1, h.rev);
}
END_TEST

/* The last record of a batch (a commit of ten). */
START_TEST(test_read_past_damage_batch_last)
{
	append_many(100, 10, "b");
	damage(50);
	reads_ok(51, 100);
	read_fails(41, "record 50");
	ck_assert_int_eq(repair(1), 1);
	reads_ok(1, 100);
	ck_assert_int_eq(repair(0), 0);
}
END_TEST

/* A missing sealed segment: readers past it go on; repair makes it again
 * of lost records. */
START_TEST(test_missing_segment)
{
	struct cohort__head h;
	uint64_t first2, first3;
	struct seen s;

	open_node("[journal]\nsegment_size = 4096\n");
	append_many(300, 1, "m");
	h = head_now();
	ck_assert_uint_ge(h.seg, 4);
	first2 = seg_first(2);
	first3 = seg_first(3);
	ck_assert_int_eq(rename(at(seg_rel(2)), at("seg-2.away")), 0);
	cohort_journal_close(j);
	ck_assert_int_eq(cohort_journal_open(&j, c), 0);
	reads_ok(first3, h.rev);
	read_fails(1, "is missing");
	ck_assert_int_gt(repair(1), 0);
	ck_assert_int_eq(repair(0), 0);
	ck_assert_int_eq(read_from(1, &s), 0);
	ck_assert_uint_eq(s.first, 1);
	ck_assert_uint_eq(s.last, h.rev);
	/* One lost record per revision segment 2 held. */
	ck_assert_uint_eq(s.lost, first3 - first2);
	ck_assert_uint_eq(seg_first(2), first2);
	append_many(1, 1, "after");
	reads_ok(h.rev + 1, h.rev + 1);
}
END_TEST

/* ---- lost records: stop, or skip when told -------------------------------- */

START_TEST(test_lost_stop_and_skip)
{
	cohort_apply_options o = COHORT_APPLY_OPTIONS_INIT;
	cohort_record r;
	struct seen s;
	uint64_t applied, lo, hi;
	char *ranges = NULL;

	append_many(6, 1, "l");
	damage(4); /* the later one first: find_record() stops at damage */
	damage(3);
	ck_assert_int_eq(repair(1), 2);
	/* A node from the start applies 1 and 2, then stops naming 3-4. */
	set_rev(0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(cohort_journal_apply(j, 1, seen_cb, &s, &applied),
			 COHORT_ELOST);
	assert_msg_has("revisions 3-4 were lost");
	ck_assert_uint_eq(applied, 2);
	ck_assert_uint_eq(rev_now(), 2);
	ck_assert_int_eq(cohort_journal_skipped_lost(c, "n1", &ranges), 0);
	ck_assert_ptr_null(ranges);
	/* Again: the same answer, nothing lost or moved. */
	ck_assert_int_eq(cohort_journal_apply(j, 1, seen_cb, &s, &applied),
			 COHORT_ELOST);
	ck_assert_uint_eq(rev_now(), 2);
	/* Accepting the loss: 5 and 6 are applied, 3-4 never reach 'fn',
	 * and the node says it skipped them. */
	o.skip_lost = 1;
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(cohort_journal_apply_with(j, &o, seen_cb, &s,
						   &applied), 0);
	ck_assert_uint_eq(s.lost, 0);
	ck_assert_uint_eq(s.first, 5);
	ck_assert_uint_eq(s.last, 6);
	ck_assert_uint_eq(rev_now(), 6);
	ck_assert_int_eq(cohort_journal_skipped_lost(c, "n1", &ranges), 0);
	ck_assert_str_eq(ranges, "3-4\n");
	free(ranges);
	/* The lost records themselves name their range. */
	memset(&r, 0, sizeof(r));
	r.type = COHORT_LOST_TYPE;
	r.data = "{\"lost\":[3,4],\"repaired\":\"x\",\"why\":\"y\"}";
	r.len = strlen(r.data);
	ck_assert_int_eq(cohort_record_lost_range(&r, &lo, &hi), 0);
	ck_assert_uint_eq(lo, 3);
	ck_assert_uint_eq(hi, 4);
	r.type = "data";
	ck_assert_int_eq(cohort_record_lost_range(&r, &lo, &hi), COHORT_EINVAL);
	o.version = 99;
	ck_assert_int_eq(cohort_journal_apply_with(j, &o, seen_cb, &s, NULL),
			 COHORT_EINVAL);
}
END_TEST

/* Damage in the head segment's last records: the segment is sealed
 * before it is written again, and a writer with it open goes on. */
START_TEST(test_repair_head_segment_writer_open)
{
	cohort_journal *w = NULL;
	cohort_entry e = { NULL, "w", 1 };
	uint64_t rev;

	append_many(10, 1, "h");
	ck_assert_int_eq(cohort_journal_open(&w, c), 0);
	ck_assert_int_eq(cohort_journal_append(w, &e, 1, &rev), 0);
	ck_assert_uint_eq(rev, 11);
	damage(11);
	ck_assert_int_eq(repair(1), 1);
	/* The writer kept the old head segment open: its next commit must
	 * land where readers look. */
	ck_assert_int_eq(cohort_journal_append(w, &e, 1, &rev), 0);
	ck_assert_uint_eq(rev, 12);
	cohort_journal_close(w);
	reads_ok(1, 12);
	ck_assert_int_eq(repair(0), 0);
}
END_TEST

/* Install package 'id' 1.0 (a one-file tar). */
static void install(const char *id)
{
	cohort_install_options o = COHORT_INSTALL_OPTIONS_INIT;
	struct archive *a = archive_write_new();
	struct archive_entry *en = archive_entry_new();
	cohort_store *st = NULL;
	cohort_package p;
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s.tar", tmp, id);
	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	archive_entry_set_pathname(en, "content.txt");
	archive_entry_set_mtime(en, 1700000000, 0);
	archive_entry_set_filetype(en, AE_IFREG);
	archive_entry_set_perm(en, 0644);
	archive_entry_set_size(en, (la_int64_t)strlen(id));
	ck_assert(archive_write_header(a, en) >= ARCHIVE_WARN);
	ck_assert_int_eq(archive_write_data(a, id, strlen(id)),
			 (la_ssize_t)strlen(id));
	archive_entry_free(en);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	o.id = id;
	o.pkg_version = "1.0";
	ck_assert_int_eq(cohort_store_open(&st, c), 0);
	ck_assert_msg(cohort_store_install(st, path, &o, &p) == 0, "install: %s",
		      cohort_error_last());
	cohort_package_clear(&p);
	cohort_store_close(st);
}

/*
 * A lost record the index snapshot does not cover may have been a store
 * record: the store loads, and says so (which revisions), so that the
 * operator can install again; a lost record the snapshot covers changes
 * nothing.
 */
START_TEST(test_store_past_lost)
{
	cohort_package *v = NULL;
	cohort_store *st = NULL;
	uint64_t lo = 0, hi = 0;
	size_t n = 0;

	install("org.one");
	install("org.two");	/* revision 2, to be lost */
	install("org.three");
	damage(2);
	ck_assert_int_eq(repair(1), 1);
	ck_assert_int_eq(cohort_store_open(&st, c), 0);
	/* The installs' own snapshot (at 3) covers it: nothing to say. */
	ck_assert_msg(cohort_store_list(st, NULL, &v, &n) == 0, "list: %s",
		      cohort_error_last());
	cohort_package_list_free(v, n);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(cohort_store_lost(st, &lo, &hi), 0);
	/* Without it the index is replayed from revision 1, past the loss. */
	ck_assert_int_eq(rename(at("store/index"), at("index.away")), 0);
	ck_assert_msg(cohort_store_list(st, NULL, &v, &n) == 0, "list: %s",
		      cohort_error_last());
	cohort_package_list_free(v, n);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(cohort_store_lost(st, &lo, &hi), 1);
	ck_assert_uint_eq(lo, 2);
	ck_assert_uint_eq(hi, 2);
	cohort_store_close(st);
	ck_assert_int_eq(rename(at("index.away"), at("store/index")), 0);
	ck_assert_int_eq(repair(0), 0);
}
END_TEST

/* ---- main --------------------------------------------------------------- */

static Suite *damage_suite(void)
{
	Suite *s = suite_create("damage");
	TCase *tc = tcase_create("read");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_read_past_damage);
	tcase_add_test(tc, test_read_past_damage_segments);
	tcase_add_test(tc, test_read_past_damage_batch_last);
	tcase_add_test(tc, test_missing_segment);
	suite_add_tcase(s, tc);

	tc = tcase_create("lost");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lost_stop_and_skip);
	tcase_add_test(tc, test_repair_head_segment_writer_open);
	tcase_add_test(tc, test_store_past_lost);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(damage_suite()) == 0 ? 0 : 1;
}
