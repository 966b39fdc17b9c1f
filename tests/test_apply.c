/*
 * test_apply.c - applying in batches (cohort_apply_options version 2):
 * the revision is written once per batch, only after the batch's records
 * were accepted by the callback and by 'batch_done'; a failure or a crash
 * replays at most the batch in flight and never skips a record.
 *
 * Every test gets a fresh temporary folder holding a cluster root and the
 * node's state folder, node "n1" joined ('c'), its journal ('j'), and
 * records "p1".."pN" appended as they need.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cohort.h"
#include "fixture.h"

static char tmp[PATH_MAX / 2], root[PATH_MAX], state[PATH_MAX];
static cohort_cluster *c;
static cohort_journal *j;

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1];

	make_tmp(tmp, sizeof(tmp), NULL, "cohort-apply", 0);
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	ck_assert_msg(cohort_cluster_init(id, root) == 0, "cluster_init: %s",
		      cohort_error_last());
	open_joined_node(&c, &j, NULL, root, state);
}

static void teardown(void)
{
	cohort_journal_close(j);
	j = NULL;
	cohort_cluster_close(c);
	c = NULL;
	remove_tmp();
}

/* Append "p<first>".."p<last>", one commit each. */
static void append_range(uint64_t first, uint64_t last)
{
	char buf[32];
	uint64_t i, rev;

	for (i = first; i <= last; i++) {
		cohort_entry e = { "note", buf, 0 };

		e.len = (size_t)snprintf(buf, sizeof(buf), "p%" PRIu64, i);
		ck_assert_msg(cohort_journal_append(j, &e, 1, &rev) == 0,
			      "append: %s", cohort_error_last());
		ck_assert_uint_eq(rev, i);
	}
}

static uint64_t disk_revision(void)
{
	uint64_t rev = 0;

	ck_assert_int_eq(cohort_journal_node_revision(c, "n1", &rev), 0);
	return rev;
}

/* What the callbacks saw. */
struct seen {
	uint64_t recs[64];   /* revisions delivered to fn, in order */
	size_t n;
	uint64_t ends[64];   /* revisions batch_done was called with */
	uint64_t on_disk[64]; /* the revision file at each batch_done */
	size_t nends;
	uint64_t fail_rec;   /* fn returns 77 at this revision */
	uint64_t fail_end;   /* batch_done returns 88 at this revision */
	uint64_t crash_at;   /* fn _exit()s at this revision */
	int sleep_ms;        /* fn sleeps this long per record */
};

static int rec_cb(const cohort_record *r, void *arg)
{
	struct seen *s = arg;

	if (s->crash_at && r->rev == s->crash_at)
		_exit(0); /* a crash: no batch_done, no revision write */
	if (s->fail_rec && r->rev == s->fail_rec)
		return 77;
	ck_assert(s->n < N(s->recs));
	s->recs[s->n++] = r->rev;
	if (s->sleep_ms) {
		struct timespec ts = { 0, s->sleep_ms * 1000000L };

		nanosleep(&ts, NULL);
	}
	return 0;
}

static int end_cb(uint64_t last, void *arg)
{
	struct seen *s = arg;

	ck_assert(s->nends < N(s->ends));
	s->on_disk[s->nends] = disk_revision();
	s->ends[s->nends++] = last;
	if (s->fail_end && last == s->fail_end)
		return 88;
	return 0;
}

static int apply_batch(struct seen *s, uint64_t batch, int batch_ms,
		       uint64_t *applied)
{
	cohort_apply_options o = COHORT_APPLY_OPTIONS_INIT;

	o.batch = batch;
	o.batch_ms = batch_ms;
	o.batch_done = end_cb;
	o.batch_arg = s;
	return cohort_journal_apply_with(j, &o, rec_cb, s, applied);
}

/* Ten records in batches of three: the revision moves 3, 6, 9, 10, each
 * time after batch_done, and every record is delivered once, in order. */
START_TEST(test_batches_write_after_batch_done)
{
	struct seen s;
	uint64_t applied = 0, i;

	memset(&s, 0, sizeof(s));
	append_range(1, 10);
	ck_assert_int_eq(apply_batch(&s, 3, 0, &applied), 0);
	ck_assert_uint_eq(applied, 10);
	ck_assert_uint_eq(s.n, 10);
	for (i = 0; i < 10; i++)
		ck_assert_uint_eq(s.recs[i], i + 1);
	ck_assert_uint_eq(s.nends, 4);
	ck_assert_uint_eq(s.ends[0], 3);
	ck_assert_uint_eq(s.ends[1], 6);
	ck_assert_uint_eq(s.ends[2], 9);
	ck_assert_uint_eq(s.ends[3], 10);
	/* batch_done runs before the revision passes the batch. */
	ck_assert_uint_eq(s.on_disk[0], 0);
	ck_assert_uint_eq(s.on_disk[1], 3);
	ck_assert_uint_eq(s.on_disk[2], 6);
	ck_assert_uint_eq(s.on_disk[3], 9);
	ck_assert_uint_eq(disk_revision(), 10);
	/* Up to date: nothing delivered, no batch ends. */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(apply_batch(&s, 3, 0, &applied), 0);
	ck_assert_uint_eq(applied, 0);
	ck_assert_uint_eq(s.nends, 0);
}
END_TEST

/* fn refuses record 5: records 4 were accepted, so the batch ends at 4
 * (batch_done then the revision), and the next apply starts at 5. */
START_TEST(test_batch_fn_stop_ends_batch)
{
	struct seen s;
	uint64_t applied = 0;

	memset(&s, 0, sizeof(s));
	append_range(1, 8);
	s.fail_rec = 5;
	ck_assert_int_eq(apply_batch(&s, 3, 0, &applied), 77);
	ck_assert_uint_eq(applied, 4);
	ck_assert_uint_eq(s.nends, 2);
	ck_assert_uint_eq(s.ends[1], 4);
	ck_assert_uint_eq(disk_revision(), 4);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(apply_batch(&s, 3, 0, &applied), 0);
	ck_assert_uint_eq(applied, 4);
	ck_assert_uint_eq(s.recs[0], 5);
	ck_assert_uint_eq(disk_revision(), 8);
}
END_TEST

/* batch_done refuses the second batch: the revision stays before it
 * (3), the error is returned, and the next apply delivers 4.. again. */
START_TEST(test_batch_done_failure_keeps_revision)
{
	struct seen s;
	uint64_t applied = 0;

	memset(&s, 0, sizeof(s));
	append_range(1, 8);
	s.fail_end = 6;
	ck_assert_int_eq(apply_batch(&s, 3, 0, &applied), 88);
	ck_assert_uint_eq(s.n, 6);
	ck_assert_uint_eq(s.nends, 2); /* not called again at the end */
	ck_assert_uint_eq(disk_revision(), 3);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(apply_batch(&s, 3, 0, &applied), 0);
	ck_assert_uint_eq(s.recs[0], 4);
	ck_assert_uint_eq(applied, 5);
	ck_assert_uint_eq(disk_revision(), 8);
}
END_TEST

/* A process killed inside a batch: the revision is at the last batch
 * written, so a restart replays the batch in flight and skips nothing. */
START_TEST(test_batch_crash_replays_batch_in_flight)
{
	struct seen s;
	uint64_t applied = 0;
	pid_t pid;
	int status = 0;

	append_range(1, 12);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		memset(&s, 0, sizeof(s));
		s.crash_at = 7;
		(void)apply_batch(&s, 4, 0, &applied);
		_exit(3); /* not reached */
	}
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_uint_eq(disk_revision(), 4);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(apply_batch(&s, 4, 0, &applied), 0);
	ck_assert_uint_eq(s.recs[0], 5); /* 5 and 6 replayed, nothing skipped */
	ck_assert_uint_eq(applied, 8);
	ck_assert_uint_eq(disk_revision(), 12);
}
END_TEST

/* A batch also ends when it is batch_ms old. */
START_TEST(test_batch_interval)
{
	struct seen s;
	uint64_t applied = 0;

	memset(&s, 0, sizeof(s));
	append_range(1, 6);
	s.sleep_ms = 15;
	ck_assert_int_eq(apply_batch(&s, 1000, 10, &applied), 0);
	ck_assert_uint_eq(applied, 6);
	ck_assert_uint_ge(s.nends, 5);
	ck_assert_uint_eq(s.ends[s.nends - 1], 6);
	ck_assert_uint_eq(disk_revision(), 6);
	memset(&s, 0, sizeof(s));
	{
		cohort_apply_options o = COHORT_APPLY_OPTIONS_INIT;

		o.batch = 10;
		o.batch_ms = -1;
		ck_assert_int_eq(cohort_journal_apply_with(j, &o, rec_cb, &s,
							   NULL), COHORT_EINVAL);
	}
}
END_TEST

/* Options of version 1 (no batch fields) still mean 'each'; without
 * batch_done the batch mode still writes per batch. */
START_TEST(test_version1_and_no_batch_done)
{
	struct { int version, each, skip_lost; } v1 = { 1, 0, 0 };
	cohort_apply_options o = COHORT_APPLY_OPTIONS_INIT;
	struct seen s;
	uint64_t applied = 0;

	memset(&s, 0, sizeof(s));
	append_range(1, 5);
	ck_assert_int_eq(cohort_journal_apply_with(
		j, (const cohort_apply_options *)(void *)&v1, rec_cb, &s,
		&applied), 0);
	ck_assert_uint_eq(applied, 5);
	ck_assert_uint_eq(disk_revision(), 5);
	append_range(6, 9);
	memset(&s, 0, sizeof(s));
	o.batch = 2;
	ck_assert_int_eq(cohort_journal_apply_with(j, &o, rec_cb, &s, &applied), 0);
	ck_assert_uint_eq(applied, 4);
	ck_assert_uint_eq(disk_revision(), 9);
	o.version = 3;
	ck_assert_int_eq(cohort_journal_apply_with(j, &o, rec_cb, &s, &applied),
			 COHORT_EINVAL);
}
END_TEST

static Suite *apply_suite(void)
{
	Suite *s = suite_create("apply");
	TCase *tc = tcase_create("batches");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_batches_write_after_batch_done);
	tcase_add_test(tc, test_batch_fn_stop_ends_batch);
	tcase_add_test(tc, test_batch_done_failure_keeps_revision);
	tcase_add_test(tc, test_batch_crash_replays_batch_in_flight);
	tcase_add_test(tc, test_batch_interval);
	tcase_add_test(tc, test_version1_and_no_batch_done);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(apply_suite()) == 0 ? 0 : 1;
}
