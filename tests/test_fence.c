/*
 * test_fence.c - a stale journal writer's late writes (issue 17): a holder
 * that lost its lease while its writes were still on their way (a node cut
 * off from the NFS server, whose kernel flushes them when the link comes
 * back).
 *
 * Writer A ("a") is stopped at one of its writes: the syscall table holds
 * the call; meanwhile writer B ("b", another cluster handle on the same
 * root, as another host would be) breaks A's lease and commits; then A's
 * held call is made, raw, as the kernel would send it, and A goes on.
 * Each test then checks what nobody may see: an acknowledged record of B
 * lost, moved or doubled, a record of A that appears in part or was
 * acknowledged and is missing, a reader that fails below the head, fsck
 * problems, a writer that cannot append afterwards.
 *
 * The lease times are short (300 ms) and A's lease is never refreshed
 * (lease_refresh 60 s): B breaks it after watching it unchanged.
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

#include "cohort.h"
#include "fixture.h"
#include "journal_format.h"
#include "os/os.h"

#define CONF                                                                  \
	"[cluster]\nlock_mode = lease\nlease_refresh = 60s\n"                 \
	"lease_timeout = 300ms\nskew_margin = 100ms\n"                        \
	"[journal]\nsegment_size = 4096\n"

static char tmp[PATH_MAX / 2], root[PATH_MAX], state_a[PATH_MAX],
	state_b[PATH_MAX];
static cohort_cluster *ca, *cb;
static cohort_journal *ja, *jb;

static void open_as(cohort_cluster **c, cohort_journal **j, const char *node,
		    const char *state)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	int rc;

	o.root = root;
	o.node = node;
	o.state = state;
	rc = cohort_cluster_open(c, &o);
	ck_assert_msg(rc == 0, "cluster_open: %s", cohort_error_last());
	rc = cohort_node_join(*c, &jo);
	ck_assert_msg(rc == 0, "node_join: %s", cohort_error_last());
	rc = cohort_journal_open(j, *c);
	ck_assert_msg(rc == 0, "journal_open: %s", cohort_error_last());
}

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1], path[PATH_MAX + 32];
	int rc;

	cohort__os_fault_clear();
	make_tmp(tmp, sizeof(tmp), NULL, "cohort-fence", 0);
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(state_a, sizeof(state_a), "%s/state-a", tmp);
	snprintf(state_b, sizeof(state_b), "%s/state-b", tmp);
	rc = cohort_cluster_init(id, root);
	ck_assert_msg(rc == 0, "cluster_init: %s", cohort_error_last());
	snprintf(path, sizeof(path), "%s/cohort.conf", root);
	write_text(path, CONF);
	open_as(&ca, &ja, "a", state_a);
	open_as(&cb, &jb, "b", state_b);
}

static void teardown(void)
{
	cohort_journal_close(ja);
	cohort_journal_close(jb);
	cohort_cluster_close(ca);
	cohort_cluster_close(cb);
	ja = jb = NULL;
	ca = cb = NULL;
	remove_tmp();
}

/* ---- the held call ---------------------------------------------------- */

enum hold { HOLD_NONE, HOLD_DATA, HOLD_HEAD, HOLD_ROLL };

static struct {
	enum hold what;	   /* which call of A to hold */
	int in_a;	   /* A's append is running (B's calls pass) */
	int held;	   /* the call was held and then made */
	size_t b_commits;  /* B's commits while A is stopped */
	size_t b_pad;	   /* extra payload bytes of B's records */
	uint64_t roll_seg; /* HOLD_ROLL: the segment A starts */
	uint64_t b_rev[16];
	char b_payload[16][64];
	size_t nb;
} hold;

static struct cohort__syscalls real;

static void b_commits(void)
{
	size_t i;

	hold.in_a = 0;
	for (i = 0; i < hold.b_commits; i++) {
		char payload[4096];
		cohort_entry e = { NULL, payload, 0 };
		uint64_t rev = 0;
		int rc;

		size_t n = (size_t)snprintf(payload, sizeof(payload), "b-%zu-",
					    hold.nb);

		ck_assert_uint_lt(n + hold.b_pad, sizeof(payload));
		memset(payload + n, 'b', hold.b_pad);
		payload[n + hold.b_pad] = '\0';
		e.len = strlen(payload);
		rc = cohort_journal_append(jb, &e, 1, &rev);
		ck_assert_msg(rc == 0, "B's append: %s", cohort_error_last());
		ck_assert_uint_lt(hold.nb, N(hold.b_rev));
		hold.b_rev[hold.nb] = rev;
		snprintf(hold.b_payload[hold.nb], sizeof(hold.b_payload[0]),
			 "%.63s", payload);
		hold.nb++;
	}
	hold.held = 1;
}

static int is_a_record(const void *buf, size_t n)
{
	const unsigned char *p = buf;

	return n > JREC_HDR && cohort__get32(p) == JREC_MAGIC &&
	       p[JREC_HDR] == 'a' && p[24] == 1 && p[25] == 0;
}

static ssize_t hold_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (hold.in_a && !hold.held &&
	    ((hold.what == HOLD_DATA && is_a_record(buf, n)) ||
	     (hold.what == HOLD_HEAD && n >= 64 && off % 64 == 0 &&
	      cohort__get32(buf) == JHEAD_MAGIC)))
		b_commits(); /* A is stopped here; its write comes late */
	return real.pwrite(fd, buf, n, off);
}

static int is_roll_target(const char *path)
{
	char want[40];
	size_t n = strlen(path);

	snprintf(want, sizeof(want), "/journal/seg-%016llx",
		 (unsigned long long)hold.roll_seg);
	return n >= strlen(want) && !strcmp(path + n - strlen(want), want);
}

static int hold_open(const char *path, int flags, mode_t mode)
{
	if (hold.in_a && !hold.held && hold.what == HOLD_ROLL &&
	    (flags & O_CREAT) && is_roll_target(path))
		b_commits();
	return real.open(path, flags, mode);
}

static int hold_link(const char *from, const char *to)
{
	if (hold.in_a && !hold.held && hold.what == HOLD_ROLL &&
	    is_roll_target(to))
		b_commits();
	return real.link(from, to);
}

/* A appends 'payload' with call 'what' held while B commits 'commits'
 * times; returns A's result. */
static int stale_append(enum hold what, size_t commits, size_t b_pad,
			const char *payload, uint64_t *rev)
{
	cohort_entry e = { NULL, payload, strlen(payload) };
	int rc;

	memset(&hold, 0, sizeof(hold));
	hold.what = what;
	hold.b_commits = commits;
	hold.b_pad = b_pad;
	if (what == HOLD_ROLL) {
		struct cohort__head h;

		ck_assert_int_eq(cohort__journal_head(ca, &h), 0);
		hold.roll_seg = h.seg + 1;
	}
	real = cohort__sys;
	cohort__sys.pwrite = hold_pwrite;
	cohort__sys.open = hold_open;
	cohort__sys.link = hold_link;
	hold.in_a = 1;
	rc = cohort_journal_append(ja, &e, 1, rev);
	hold.in_a = 0;
	cohort__sys = real;
	ck_assert_msg(hold.held, "A's call was never reached");
	return rc;
}

/* ---- what everyone must see afterwards -------------------------------- */

struct seen {
	uint64_t rev[256];
	char payload[256][64];
	size_t n;
};

static int seen_cb(const cohort_record *r, void *arg)
{
	struct seen *s = arg;

	ck_assert_uint_lt(s->n, N(s->rev));
	s->rev[s->n] = r->rev;
	snprintf(s->payload[s->n], sizeof(s->payload[0]), "%.*s",
		 (int)(r->len < 63 ? r->len : 63), (const char *)r->data);
	s->n++;
	return 0;
}

static int one_cb(const cohort_record *r, void *arg)
{
	(void)r;
	(*(size_t *)arg)++;
	return 0;
}

/* Read the whole journal through 'j' and a fresh handle; check B's
 * acknowledged records, A's record ('a_acked': A's append said it
 * committed), contiguity and reads from every revision. */
static void verify(cohort_journal *j, const char *a_payload, int a_acked,
		   const char *ctx)
{
	struct seen s;
	uint64_t tail = 0, head = 0, r;
	size_t i, k, a_count = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	rc = cohort_journal_bounds(j, &tail, &head);
	ck_assert_msg(rc == 0, "%s: bounds: %s", ctx, cohort_error_last());
	rc = cohort_journal_read(j, 1, 0, seen_cb, &s);
	ck_assert_msg(rc == 0, "%s: read: %s", ctx, cohort_error_last());
	ck_assert_msg(s.n == head, "%s: %zu records but the head is %" PRIu64,
		      ctx, s.n, head);
	for (i = 0; i < s.n; i++) {
		ck_assert_msg(s.rev[i] == i + 1, "%s: record %zu has revision %"
			      PRIu64, ctx, i, s.rev[i]);
		if (!strcmp(s.payload[i], a_payload))
			a_count++;
	}
	for (k = 0; k < hold.nb; k++) {
		size_t found = 0;

		ck_assert_msg(hold.b_rev[k] <= head, "%s: B's acknowledged "
			      "revision %" PRIu64 " is past the head %" PRIu64,
			      ctx, hold.b_rev[k], head);
		ck_assert_msg(!strcmp(s.payload[hold.b_rev[k] - 1],
				      hold.b_payload[k]),
			      "%s: B's acknowledged revision %" PRIu64 " holds "
			      "'%s', not '%s'", ctx, hold.b_rev[k],
			      s.payload[hold.b_rev[k] - 1], hold.b_payload[k]);
		for (i = 0; i < s.n; i++)
			found += !strcmp(s.payload[i], hold.b_payload[k]);
		ck_assert_msg(found == 1, "%s: B's '%s' appears %zu times", ctx,
			      hold.b_payload[k], found);
	}
	ck_assert_msg(a_count <= 1, "%s: A's record appears %zu times", ctx,
		      a_count);
	if (a_acked)
		ck_assert_msg(a_count == 1, "%s: A's acknowledged record is "
			      "missing", ctx);
	/* A reader from every revision gets its record, never an error. */
	for (r = 1; r <= head; r++) {
		size_t got = 0;

		rc = cohort_journal_read(j, r, 1, one_cb, &got);
		ck_assert_msg(rc == 0 && got == 1, "%s: read from %" PRIu64
			      ": %s", ctx, r, rc ? cohort_error_last() : "none");
	}
}

static void fsck_problem(const cohort_fsck_problem *p, void *arg)
{
	(void)arg;
	fprintf(stderr, "# fsck: %s %s: %s\n", p->kind, p->path, p->detail);
}

static void verify_all(const char *a_payload, int a_acked, const char *ctx)
{
	cohort_fsck_options o = COHORT_FSCK_OPTIONS_INIT;
	cohort_fsck_summary sum;
	cohort_cluster *cc;
	cohort_journal *jc;
	char st[PATH_MAX + 16];
	uint64_t rev = 0, rev2 = 0, head = 0;
	cohort_entry e = { NULL, "after-a", 7 }, e2 = { NULL, "after-b", 7 };
	int rc;

	verify(ja, a_payload, a_acked, ctx);
	verify(jb, a_payload, a_acked, ctx);
	snprintf(st, sizeof(st), "%s/state-c", tmp);
	open_as(&cc, &jc, "c", st);
	verify(jc, a_payload, a_acked, ctx);
	rc = cohort_fsck(&sum, cc, &o, fsck_problem, NULL);
	ck_assert_msg(rc == 0, "%s: fsck: %s", ctx, cohort_error_last());
	ck_assert_msg(sum.problems == 0, "%s: fsck found %" PRIu64 " problems",
		      ctx, sum.problems);
	/* Everyone appends afterwards, at the next revisions. */
	ck_assert_int_eq(cohort_journal_bounds(jc, NULL, &head), 0);
	rc = cohort_journal_append(ja, &e, 1, &rev);
	ck_assert_msg(rc == 0, "%s: A appends afterwards: %s", ctx,
		      cohort_error_last());
	ck_assert_uint_eq(rev, head + 1);
	rc = cohort_journal_append(jb, &e2, 1, &rev2);
	ck_assert_msg(rc == 0, "%s: B appends afterwards: %s", ctx,
		      cohort_error_last());
	ck_assert_uint_eq(rev2, head + 2);
	verify(jc, a_payload, a_acked, ctx);
	rc = cohort_fsck(&sum, cc, &o, fsck_problem, NULL);
	ck_assert_msg(rc == 0 && sum.problems == 0, "%s: fsck at the end: %"
		      PRIu64 " problems", ctx, sum.problems);
	cohort_journal_close(jc);
	cohort_cluster_close(cc);
}

static void history(size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char p[32];
		cohort_entry e = { NULL, p, 0 };
		uint64_t rev = 0;

		snprintf(p, sizeof(p), "old-%zu", i);
		e.len = strlen(p);
		ck_assert_int_eq(cohort_journal_append(i % 2 ? jb : ja, &e, 1,
						       &rev), 0);
		ck_assert_uint_eq(rev, i + 1);
	}
}

/* ---- tests ------------------------------------------------------------- */

/* A stopped before its data write; B commits three records at A's offset
 * (or, fenced, elsewhere); A's bytes land late.  On the unfenced journal
 * they replaced B's acknowledged revision: the lab's symptom. */
START_TEST(test_stale_data_write)
{
	uint64_t rev = 0;
	int rc;

	history(3);
	rc = stale_append(HOLD_DATA, 3, 0, "a-stale", &rev);
	ck_assert_msg(rc != 0, "A acknowledged a commit after losing its lease");
	verify_all("a-stale", 0, "data write");
}
END_TEST

/* The same, with B's commits crossing segment boundaries. */
START_TEST(test_stale_data_write_rollover)
{
	uint64_t rev = 0;
	int rc;

	history(2);
	rc = stale_append(HOLD_DATA, 6, 1500, "a-stale", &rev);
	ck_assert_msg(rc != 0, "A acknowledged a commit after losing its lease");
	verify_all("a-stale", 0, "data write, rollovers");
}
END_TEST

/* A stopped at its head publication (its records durable): B takes over
 * and commits twice; A's head slot lands late.  Unfenced, it landed on
 * B's newest slot and the head went back a commit. */
START_TEST(test_stale_head_write)
{
	uint64_t rev = 0;
	int rc;

	history(3);
	rc = stale_append(HOLD_HEAD, 2, 0, "a-stale", &rev);
	if (rc)
		ck_assert_msg(strstr(cohort_error_last(), "may"),
			      "A's failure does not say that its commit may "
			      "appear: %s", cohort_error_last());
	verify_all("a-stale", rc == 0, "head write");
}
END_TEST

/* The same, B's commits crossing segment boundaries: a head sent back
 * into a sealed segment made the next writer reuse revisions. */
START_TEST(test_stale_head_write_rollover)
{
	uint64_t rev = 0;
	int rc;

	history(3);
	rc = stale_append(HOLD_HEAD, 3, 1500, "a-stale", &rev);
	if (rc)
		ck_assert_msg(strstr(cohort_error_last(), "may"),
			      "A's failure does not say that its commit may "
			      "appear: %s", cohort_error_last());
	verify_all("a-stale", rc == 0, "head write, rollovers");
}
END_TEST

/* A stopped as it creates the next segment (its commit does not fit):
 * B takes over and commits into that segment number; A's create lands
 * late.  Unfenced, it was an open(O_TRUNC) that emptied B's segment. */
/* History, and a head segment so full that A's record 'big' (3000
 * bytes) rolls it over. */
static void fill_for_rollover(char big[3000])
{
	cohort_entry e = { NULL, big, 2000 };
	uint64_t rev = 0;

	history(3);
	memset(big, 'a', 2999);
	big[2999] = '\0';
	memcpy(big, "a-big", 5);
	ck_assert_int_eq(cohort_journal_append(jb, &e, 1, &rev), 0);
}

START_TEST(test_stale_rollover)
{
	char big[3000];
	uint64_t rev = 0;
	int rc;

	fill_for_rollover(big);
	rc = stale_append(HOLD_ROLL, 3, 0, big, &rev);
	ck_assert_msg(rc != 0, "A acknowledged a commit after losing its lease");
	{
		char key[64];

		snprintf(key, sizeof(key), "%.63s", big);
		verify_all(key, 0, "rollover");
	}
}
END_TEST

/* A stopped at its data write right after its own rollover: B seals the
 * new, still empty segment and starts the next one at the same first
 * revision; A's bytes land in the empty one. */
START_TEST(test_stale_data_write_after_rollover)
{
	char big[3000], key[64];
	uint64_t rev = 0;
	int rc;

	fill_for_rollover(big);
	rc = stale_append(HOLD_DATA, 3, 0, big, &rev);
	ck_assert_msg(rc != 0, "A acknowledged a commit after losing its lease");
	snprintf(key, sizeof(key), "%.63s", big);
	verify_all(key, 0, "data write after a rollover");
}
END_TEST

/* A stale holder never writes over a later epoch's head slots. */
START_TEST(test_head_slots_by_epoch)
{
	struct cohort__head h;
	uint64_t e, s, other;

	memset(&h, 0, sizeof(h));
	for (e = 1; e < 20; e++)
		for (s = 1; s < 6; s++) {
			h.epoch = e;
			h.seq = s;
			other = cohort__head_slot_off(&h);
			ck_assert_uint_lt(other, JHEAD_SIZE);
			ck_assert_uint_eq(other % JHEAD_SLOT, 0);
			h.epoch = e + 1;
			ck_assert_uint_ne(cohort__head_slot_off(&h), other);
			h.epoch = e + 3;
			ck_assert_uint_ne(cohort__head_slot_off(&h), other);
			h.seq = s + 1;
			ck_assert_uint_ne(cohort__head_slot_off(&h), other);
		}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("fence");
	TCase *tc = tcase_create("stale");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stale_data_write);
	tcase_add_test(tc, test_stale_data_write_rollover);
	tcase_add_test(tc, test_stale_head_write);
	tcase_add_test(tc, test_stale_head_write_rollover);
	tcase_add_test(tc, test_stale_rollover);
	tcase_add_test(tc, test_stale_data_write_after_rollover);
	suite_add_tcase(s, tc);
	tc = tcase_create("format");
	tcase_add_test(tc, test_head_slots_by_epoch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite()) ? 1 : 0;
}
