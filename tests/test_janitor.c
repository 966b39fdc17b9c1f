/*
 * test_janitor.c - the janitor and application snapshots: cleanup held at
 * the slowest live node and moved on once it catches up, the head segment
 * kept, dry runs, retirement of idle nodes (never the janitor's own node),
 * nodes that come back behind the tail (and new nodes after history was
 * removed), snapshot put/get and their refusals, damaged snapshots (the
 * header included), the snapshot capping cleanup, unreferenced store
 * content (and an install of such content while a janitor runs), the
 * store index after its journal was removed, min_age, a run interrupted
 * while removing files (the next run removes what it left), a node
 * applying while the janitor removes segments below it, and two janitors
 * in two processes.
 *
 * Every test gets a fresh temporary folder holding a cluster root with
 * 'segment_size = 4k' (a segment holds about 25 of the records written
 * here, so a few hundred records make a dozen segments) and a state folder
 * per node.  Nodes are opened with node_open("a"), ... each with its own
 * cluster handle and journal, all in this process.  Ages are judged by the
 * janitor against the file server's clock (the mtime of a file it just
 * created), so tests age a file by setting its mtime into the past.
 */
#define _GNU_SOURCE 1
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cohort.h"
#include "fixture.h"
#include "os/os.h"

#define MAX_NODES 4
#define PAYLOAD 100 /* bytes per test record: 152 on disk for node "a" */

/* ---- fixture ------------------------------------------------------------ */

struct node {
	char id[16];
	char state[PATH_MAX];
	cohort_cluster *c;
	cohort_journal *j;
	cohort_store *s;
};

/* 'base' holds every test's folder: main() removes it after the run, also
 * the folders of failed tests (a failed check ends its process with
 * _exit(), so atexit() handlers do not run). */
static char base[PATH_MAX / 8];
static char tmp[PATH_MAX / 4], root[PATH_MAX / 2], jdir[PATH_MAX];
static struct node nodes[MAX_NODES];

static void node_close(struct node *n)
{
	cohort_store_close(n->s);
	n->s = NULL;
	cohort_journal_close(n->j);
	n->j = NULL;
	cohort_cluster_close(n->c);
	n->c = NULL;
	n->id[0] = '\0';
}

/* Open (and join) node 'id' with its own state folder; no join if !join. */
static struct node *node_open2(const char *id, int join)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	struct node *n = NULL;
	unsigned int i;
	int rc;

	for (i = 0; i < MAX_NODES; i++)
		if (!strcmp(nodes[i].id, id)) {
			node_close(&nodes[i]);
			n = &nodes[i];
			break;
		}
	for (i = 0; !n && i < MAX_NODES; i++)
		if (!nodes[i].id[0])
			n = &nodes[i];
	ck_assert_ptr_nonnull(n);
	snprintf(n->id, sizeof(n->id), "%s", id);
	snprintf(n->state, sizeof(n->state), "%s/state-%s", tmp, id);
	o.root = root;
	o.node = id;
	o.state = n->state;
	rc = cohort_cluster_open(&n->c, &o);
	ck_assert_msg(rc == 0, "cluster_open %s: %s", id, cohort_error_last());
	if (join) {
		rc = cohort_node_join(n->c, &jo);
		ck_assert_msg(rc == 0, "node_join %s: %s", id, cohort_error_last());
	}
	rc = cohort_journal_open(&n->j, n->c);
	ck_assert_msg(rc == 0, "journal_open %s: %s", id, cohort_error_last());
	rc = cohort_store_open(&n->s, n->c);
	ck_assert_msg(rc == 0, "store_open %s: %s", id, cohort_error_last());
	return n;
}

static struct node *node_open(const char *id)
{
	return node_open2(id, 1);
}

static void close_all(void)
{
	unsigned int i;

	for (i = 0; i < MAX_NODES; i++)
		node_close(&nodes[i]);
}

/* ROOT/cohort.conf: the small segments and 'extra' (may be NULL). */
static void write_conf(const char *extra)
{
	char path[PATH_MAX], text[1024];

	snprintf(path, sizeof(path), "%s/cohort.conf", root);
	snprintf(text, sizeof(text), "[journal]\nsegment_size = 4k\n%s",
		 extra ? extra : "");
	write_text(path, text);
}

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1];
	int rc;

	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	memset(nodes, 0, sizeof(nodes));
	/* A forked child never removes the folder. */
	make_tmp(tmp, sizeof(tmp), base, "t", TMP_OWNER_ONLY);
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(jdir, sizeof(jdir), "%s/journal", root);
	rc = cohort_cluster_init(id, root);
	ck_assert_msg(rc == 0, "cluster_init: %s", cohort_error_last());
	write_conf(NULL);
}

static void teardown(void)
{
	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	close_all();
	remove_tmp();
}

/* ---- helpers ------------------------------------------------------------ */

/* Append 'count' records, one commit each; payload "r<seq>" padded. */
static uint64_t append_n(struct node *n, unsigned int count)
{
	static unsigned long seq;
	char buf[PAYLOAD];
	uint64_t first = 0, rev;
	unsigned int i;
	int rc;

	for (i = 0; i < count; i++) {
		cohort_entry e = { "data", buf, sizeof(buf) };

		memset(buf, '.', sizeof(buf));
		snprintf(buf, sizeof(buf), "r%lu", ++seq);
		rc = cohort_journal_append(n->j, &e, 1, &rev);
		ck_assert_msg(rc == 0, "append: %s", cohort_error_last());
		if (!first)
			first = rev;
	}
	return first;
}

static void bounds(struct node *n, uint64_t *tail, uint64_t *head)
{
	int rc = cohort_journal_bounds(n->j, tail, head);

	ck_assert_msg(rc == 0, "bounds: %s", cohort_error_last());
}

static uint64_t head_of(struct node *n)
{
	uint64_t t, h;

	bounds(n, &t, &h);
	return h;
}

static uint64_t tail_of(struct node *n)
{
	uint64_t t, h;

	bounds(n, &t, &h);
	return t;
}

static void set_rev(struct node *n, uint64_t rev)
{
	int rc = cohort_journal_set_revision(n->j, rev);

	ck_assert_msg(rc == 0, "set_revision: %s", cohort_error_last());
}

static uint64_t rev_of(struct node *n)
{
	uint64_t rev = 0;
	int rc = cohort_journal_revision(n->j, &rev);

	ck_assert_msg(rc == 0, "revision: %s", cohort_error_last());
	return rev;
}

/* Records seen by a walk: they must come in order, without a gap. */
struct walk {
	uint64_t first, last, count;
	int gap;
};

static int walk_cb(const cohort_record *r, void *arg)
{
	struct walk *w = arg;

	if (w->count && r->rev != w->last + 1)
		w->gap = 1;
	if (!w->count)
		w->first = r->rev;
	w->last = r->rev;
	w->count++;
	return 0;
}

/* Apply everything to node 'n'; returns the count, asserting success. */
static uint64_t catch_up(struct node *n)
{
	struct walk w = { 0, 0, 0, 0 };
	uint64_t applied = 0;
	int rc = cohort_journal_apply(n->j, 0, walk_cb, &w, &applied);

	ck_assert_msg(rc == 0, "apply %s: %d %s", n->id, rc, cohort_error_last());
	ck_assert(!w.gap);
	ck_assert_uint_eq(rev_of(n), head_of(n));
	return applied;
}

/* Read from 'from' to the head: every record, in order. */
static void assert_readable(struct node *n, uint64_t from)
{
	struct walk w = { 0, 0, 0, 0 };
	uint64_t head = head_of(n);
	int rc = cohort_journal_read(n->j, from, 0, walk_cb, &w);

	ck_assert_msg(rc == 0, "read from %" PRIu64 ": %d %s", from, rc,
		      cohort_error_last());
	ck_assert(!w.gap);
	ck_assert_uint_eq(w.first, from);
	ck_assert_uint_eq(w.last, head);
	ck_assert_uint_eq(w.count, head - from + 1);
}

/* Segment files in journal/: count, lowest and highest number. */
struct segs {
	unsigned int count;
	uint64_t lo, hi;
	char names[256][32];
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void list_segs(struct segs *s)
{
	DIR *d = opendir(jdir);
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	memset(s, 0, sizeof(*s));
	while ((e = readdir(d))) {
		uint64_t no;

		if (strncmp(e->d_name, "seg-", 4) || strlen(e->d_name) != 20)
			continue;
		no = strtoull(e->d_name + 4, NULL, 16);
		ck_assert_uint_lt(s->count, N(s->names));
		snprintf(s->names[s->count], sizeof(s->names[0]), "%.20s", e->d_name);
		if (!s->count || no < s->lo)
			s->lo = no;
		if (!s->count || no > s->hi)
			s->hi = no;
		s->count++;
	}
	closedir(d);
	qsort(s->names, s->count, sizeof(s->names[0]), cmp_name);
}

static void assert_segs_equal(const struct segs *a, const struct segs *b)
{
	unsigned int i;

	ck_assert_uint_eq(a->count, b->count);
	for (i = 0; i < a->count; i++)
		ck_assert_str_eq(a->names[i], b->names[i]);
}

/* First revision held by segment file 'no' (from its header). */
static uint64_t seg_first(uint64_t no)
{
	char path[PATH_MAX + 32];
	unsigned char hdr[64];
	uint64_t v = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "%s/seg-%016" PRIx64, jdir, no);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open '%s': %s", path, strerror(errno));
	ck_assert_uint_eq(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	fclose(f);
	for (i = 7; i >= 0; i--)
		v = (v << 8) | hdr[16 + i];
	return v;
}

static int run_janitor(struct node *n, int dry_run, int64_t retire_after_ms,
		       cohort_janitor_report *r)
{
	cohort_janitor_options o = COHORT_JANITOR_OPTIONS_INIT;

	o.dry_run = dry_run;
	o.retire_after_ms = retire_after_ms;
	return cohort_janitor_run(n->c, &o, r);
}

#define JANITOR_OK(n, dry, after, r)                                          \
	do {                                                                   \
		int rc_ = run_janitor((n), (dry), (after), (r));               \
		ck_assert_msg(rc_ == 0, "janitor: %d %s", rc_,                 \
			      cohort_error_last());                            \
		ck_assert_msg(!(r)->busy, "janitor busy: %s", (r)->busy_holder); \
	} while (0)

/* Every segment in the report lies at or below 'limit' and was removed. */
static void assert_removed_below(const cohort_janitor_report *r, uint64_t limit,
				 int gone)
{
	size_t i;

	for (i = 0; i < r->nsegments; i++) {
		ck_assert_msg(r->segments[i].last <= limit,
			      "segment %s holds %" PRIu64 "-%" PRIu64
			      ", over the limit %" PRIu64,
			      r->segments[i].path, r->segments[i].first,
			      r->segments[i].last, limit);
		ck_assert_uint_le(r->segments[i].first, r->segments[i].last);
		ck_assert_uint_gt(r->segments[i].bytes, 0);
		ck_assert_int_eq(exists(r->segments[i].path), !gone);
	}
}

/* Set a file's mtime (and atime) 'ago_s' seconds into the past. */
static void age_file(const char *path, int ago_s)
{
	struct timespec ts[2];

	ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts[0]), 0);
	ts[0].tv_sec -= ago_s;
	ts[1] = ts[0];
	ck_assert_msg(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == 0,
		      "utimensat '%s': %s", path, strerror(errno));
}

/* A node goes quiet: its heartbeat and revision files are 'ago_s' old. */
static void age_node(const char *id, int ago_s)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/nodes/%s/heartbeat", root, id);
	age_file(path, ago_s);
	snprintf(path, sizeof(path), "%s/nodes/%s/revision", root, id);
	age_file(path, ago_s);
}

static int is_retired(struct node *by, const char *id)
{
	cohort_node_info *v = NULL;
	size_t n = 0, i;
	int rc = cohort_node_list(&v, &n, by->c), ret = -1;

	ck_assert_msg(rc == 0, "node_list: %s", cohort_error_last());
	for (i = 0; i < n; i++)
		if (!strcmp(v[i].id, id))
			ret = v[i].retired;
	free(v);
	ck_assert_msg(ret >= 0, "node '%s' is not listed", id);
	return ret;
}

static int report_retired(const cohort_janitor_report *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->nretired; i++)
		if (!strcmp(r->retired[i].path, id))
			return 1;
	return 0;
}

/* Records of append_n() in one 4k segment: (4096 - 64) / 152. */
#define PER_SEG 26

/* ---- cleanup held at the slowest live node ------------------------------ */

START_TEST(behind_node_holds_cleanup)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;
	struct segs before, after;

	append_n(a, 12 * PER_SEG);
	catch_up(a);
	ck_assert_uint_eq(rev_of(b), 0);
	list_segs(&before);
	ck_assert_uint_ge(before.count, 10);

	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.limit, 0);
	ck_assert_str_eq(r.held_by, "b");
	ck_assert_uint_eq(r.nsegments, 0);
	ck_assert_uint_eq(r.freed, 0);
	ck_assert_uint_eq(r.tail_before, 1);
	ck_assert_uint_eq(r.tail_after, 1);
	ck_assert_uint_eq(r.head, head_of(a));
	cohort_janitor_report_free(&r);
	list_segs(&after);
	assert_segs_equal(&before, &after);
	ck_assert_uint_eq(tail_of(a), 1);
	assert_readable(b, 1);

	/* Run from the behind node itself: the same. */
	JANITOR_OK(b, 0, -1, &r);
	ck_assert_uint_eq(r.limit, 0);
	ck_assert_str_eq(r.held_by, "b");
	ck_assert_uint_eq(r.nsegments, 0);
	cohort_janitor_report_free(&r);
	list_segs(&after);
	assert_segs_equal(&before, &after);
}
END_TEST

/*
 * A live node whose revision cannot be read (a damaged file, or an I/O
 * error) may not have applied anything: the janitor fails, naming it, and
 * removes nothing (found by the crash sweep: an EIO on open made the node
 * look absent).
 */
START_TEST(unreadable_revision_holds_cleanup)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;
	struct segs before, after;
	char path[PATH_MAX], good[512];
	unsigned long opens;
	size_t saved;
	FILE *f;
	int rc, k;

	append_n(a, 8 * PER_SEG);
	catch_up(a);
	set_rev(b, 2 * PER_SEG);
	list_segs(&before);
	ck_assert_uint_ge(before.count, 6);
	snprintf(path, sizeof(path), "%s/nodes/b/revision", root);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	saved = fread(good, 1, sizeof(good), f);
	fclose(f);
	ck_assert_uint_gt(saved, 0);

	/* A damaged revision file. */
	write_text(path, "garbage\n");
	rc = run_janitor(a, 0, -1, &r);
	ck_assert_int_eq(rc, COHORT_ECORRUPT);
	ck_assert_msg(strstr(cohort_error_last(), "node 'b'") &&
		      strstr(cohort_error_last(), "nothing removed"),
		      "message: %s", cohort_error_last());
	cohort_janitor_report_free(&r);
	list_segs(&after);
	assert_segs_equal(&before, &after);

	/* The file fine again, but each open in turn failing with EIO: the
	 * janitor either fails or, when the EIO hit something it may skip,
	 * removes only what both nodes applied; b's records stay readable. */
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(good, 1, saved, f), saved);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_eq(rev_of(b), 2 * PER_SEG);
	cohort__os_fault_clear();
	ck_assert_int_eq(run_janitor(a, 1, -1, &r), 0);
	cohort_janitor_report_free(&r);
	opens = cohort__os_fault_count(COHORT__OP_OPEN);
	ck_assert_uint_gt(opens, 0);
	for (k = 1; k <= (int)opens + 2; k++) {
		cohort__os_fault_clear();
		cohort__os_fault_set(COHORT__OP_OPEN, (unsigned long)k, EIO, 0);
		rc = run_janitor(a, 0, -1, &r);
		cohort__os_fault_clear();
		if (rc == 0)
			assert_removed_below(&r, 2 * PER_SEG, 1);
		cohort_janitor_report_free(&r);
		assert_readable(b, 2 * PER_SEG + 1);
	}
}
END_TEST

START_TEST(catch_up_lets_cleanup_go_further)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;
	struct segs s0, s1, s2;
	uint64_t head, mid, t1, t2;
	struct walk w = { 0, 0, 0, 0 };
	int rc;

	append_n(a, 12 * PER_SEG);
	catch_up(a);
	head = head_of(a);
	list_segs(&s0);

	/* b has applied half: cleanup stops at its revision. */
	mid = head / 2;
	set_rev(b, mid);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.limit, mid);
	ck_assert_str_eq(r.held_by, "b");
	ck_assert_uint_gt(r.nsegments, 0);
	assert_removed_below(&r, mid, 1);
	t1 = r.tail_after;
	ck_assert_uint_gt(t1, 1);
	ck_assert_uint_le(t1, mid + 1);
	ck_assert_uint_eq(r.tail_before, 1);
	ck_assert_uint_eq(tail_of(a), t1);
	cohort_janitor_report_free(&r);
	list_segs(&s1);
	ck_assert_uint_lt(s1.count, s0.count);
	ck_assert_uint_eq(seg_first(s1.lo), t1);
	ck_assert_uint_eq(s1.hi, s0.hi);

	/* Reading works from the new tail, not below it. */
	assert_readable(a, t1);
	rc = cohort_journal_read(a->j, t1 - 1, 0, walk_cb, &w);
	ck_assert_int_eq(rc, COHORT_ENOTFOUND);
	ck_assert_uint_eq(w.count, 0);
	rc = cohort_journal_read(a->j, 1, 0, walk_cb, &w);
	ck_assert_int_eq(rc, COHORT_ENOTFOUND);

	/* b goes on from where it was: nothing it needs is gone. */
	ck_assert_uint_eq(catch_up(b), head - mid);

	/* Everyone at the head: all but the head segment go. */
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.limit, head);
	ck_assert_str_eq(r.held_by, "");
	ck_assert_uint_gt(r.nsegments, 0);
	ck_assert_uint_eq(r.tail_before, t1);
	assert_removed_below(&r, head, 1);
	t2 = r.tail_after;
	ck_assert_uint_gt(t2, t1);
	cohort_janitor_report_free(&r);
	list_segs(&s2);
	ck_assert_uint_eq(s2.count, 1);
	ck_assert_uint_eq(s2.lo, s0.hi);
	ck_assert_uint_eq(seg_first(s2.lo), t2);
	ck_assert_uint_eq(tail_of(a), t2);
	assert_readable(a, t2);
	assert_readable(b, t2);

	/* New records after the cleanup: applied by both as usual. */
	append_n(b, 3 * PER_SEG);
	ck_assert_uint_eq(catch_up(a), 3 * PER_SEG);
	catch_up(b);
	assert_readable(a, t2);
}
END_TEST

START_TEST(head_segment_never_removed)
{
	struct node *a = node_open("a");
	cohort_janitor_report r;
	struct segs s;
	uint64_t head, t;

	/* Only the head segment: nothing to remove even though all applied. */
	append_n(a, 5);
	catch_up(a);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nsegments, 0);
	ck_assert_uint_eq(r.tail_after, 1);
	cohort_janitor_report_free(&r);
	list_segs(&s);
	ck_assert_uint_eq(s.count, 1);
	assert_readable(a, 1);

	append_n(a, 8 * PER_SEG);
	catch_up(a);
	head = head_of(a);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_gt(r.nsegments, 0);
	ck_assert_uint_eq(r.limit, head);
	t = r.tail_after;
	ck_assert_uint_le(t, head);
	cohort_janitor_report_free(&r);
	list_segs(&s);
	ck_assert_uint_eq(s.count, 1);
	ck_assert_uint_eq(seg_first(s.lo), t);
	assert_readable(a, t);

	/* Again: nothing more goes, the head segment stays. */
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nsegments, 0);
	ck_assert_uint_eq(r.tail_before, t);
	ck_assert_uint_eq(r.tail_after, t);
	cohort_janitor_report_free(&r);
	list_segs(&s);
	ck_assert_uint_eq(s.count, 1);

	/* The journal goes on: appends into it and across a new segment. */
	append_n(a, 2 * PER_SEG);
	catch_up(a);
	assert_readable(a, t);
}
END_TEST

/* The reports of a dry run and of the real run that follows. */
static void assert_reports_equal(const cohort_janitor_report *d,
				 const cohort_janitor_report *r)
{
	size_t i;

	ck_assert_uint_eq(d->nretired, r->nretired);
	for (i = 0; i < d->nretired; i++)
		ck_assert_str_eq(d->retired[i].path, r->retired[i].path);
	ck_assert_uint_eq(d->nsegments, r->nsegments);
	for (i = 0; i < d->nsegments; i++) {
		ck_assert_str_eq(d->segments[i].path, r->segments[i].path);
		ck_assert_uint_eq(d->segments[i].first, r->segments[i].first);
		ck_assert_uint_eq(d->segments[i].last, r->segments[i].last);
		ck_assert_uint_eq(d->segments[i].bytes, r->segments[i].bytes);
	}
	ck_assert_uint_eq(d->nblobs, r->nblobs);
	for (i = 0; i < d->nblobs; i++) {
		ck_assert_str_eq(d->blobs[i].path, r->blobs[i].path);
		ck_assert_uint_eq(d->blobs[i].bytes, r->blobs[i].bytes);
	}
	ck_assert_uint_eq(d->freed, r->freed);
	ck_assert_uint_eq(d->limit, r->limit);
	ck_assert_uint_eq(d->tail_before, r->tail_before);
	ck_assert_uint_eq(d->tail_after, r->tail_after);
	ck_assert_uint_eq(d->head, r->head);
	ck_assert_str_eq(d->held_by, r->held_by);
}

/* ---- packages ----------------------------------------------------------- */

/* A zip 'name' in the test folder holding 'payload'; returns its path. */
static const char *make_zip(const char *name, const char *payload)
{
	static char paths[16][PATH_MAX];
	static unsigned int next;
	char *path = paths[next++ % N(paths)];
	struct archive *ar = archive_write_new();
	struct archive_entry *en = archive_entry_new();
	size_t len = strlen(payload);

	snprintf(path, PATH_MAX, "%s/%s", tmp, name);
	ck_assert_ptr_nonnull(ar);
	ck_assert_int_eq(archive_write_set_format_zip(ar), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(ar, path), ARCHIVE_OK);
	archive_entry_set_pathname(en, "data.txt");
	archive_entry_set_mtime(en, 1700000000, 0);
	archive_entry_set_filetype(en, AE_IFREG);
	archive_entry_set_perm(en, 0644);
	archive_entry_set_size(en, (la_int64_t)len);
	ck_assert_int_ge(archive_write_header(ar, en), ARCHIVE_WARN);
	ck_assert_int_eq(archive_write_data(ar, payload, len), (la_ssize_t)len);
	archive_entry_free(en);
	ck_assert_int_eq(archive_write_close(ar), ARCHIVE_OK);
	archive_write_free(ar);
	return path;
}

/* Install a zip as ID VERSION; '*hash' (may be NULL) gets its blob hash. */
static void install(struct node *n, const char *id, const char *version,
		    const char *payload, char hash[33])
{
	cohort_install_options o = COHORT_INSTALL_OPTIONS_INIT;
	cohort_package p;
	char name[64];
	int rc;

	snprintf(name, sizeof(name), "%s-%s.zip", id, version);
	o.id = id;
	o.pkg_version = version;
	memset(&p, 0, sizeof(p));
	rc = cohort_store_install(n->s, make_zip(name, payload), &o, &p);
	ck_assert_msg(rc == 0, "install %s: %s", id, cohort_error_last());
	ck_assert_str_eq(p.id, id);
	ck_assert_str_eq(p.version, version);
	if (hash)
		snprintf(hash, 33, "%s", p.hash);
	cohort_package_clear(&p);
}

static void blob_path(char *buf, size_t size, const char *hash)
{
	int n = snprintf(buf, size, "%s/store/blobs/%.2s/%.2s/%s", root, hash,
			 hash + 2, hash);

	ck_assert(n > 0 && (size_t)n < size);
}

/* "ID@VERSION ..." of the installed packages, as a fresh handle sees it. */
static const char *list_str(struct node *n)
{
	static char out[4096];
	cohort_package *v = NULL;
	size_t cnt = 0, i, len = 0;
	int rc = cohort_store_list(n->s, NULL, &v, &cnt);

	ck_assert_msg(rc == 0, "list: %d %s", rc, cohort_error_last());
	out[0] = '\0';
	for (i = 0; i < cnt; i++) {
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s@%s",
					i ? " " : "", v[i].id, v[i].version);
		ck_assert_uint_lt(len, sizeof(out));
	}
	cohort_package_list_free(v, cnt);
	return out;
}

/* ---- dry run ------------------------------------------------------------ */

START_TEST(dry_run_changes_nothing)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report d, r;
	struct segs s0, s1;
	char gone[33], path[PATH_MAX];
	uint64_t mid;

	install(a, "gone", "1", "content nobody will reference", gone);
	ck_assert_int_eq(cohort_store_uninstall(a->s, NULL, "gone", 0), 0);
	blob_path(path, sizeof(path), gone);
	age_file(path, 2 * 3600);
	append_n(a, 10 * PER_SEG);
	catch_up(a);
	mid = head_of(a) / 2;
	set_rev(b, mid);
	list_segs(&s0);

	JANITOR_OK(a, 1, -1, &d);
	ck_assert_uint_gt(d.nsegments, 0);
	ck_assert_uint_eq(d.nblobs, 1);
	ck_assert_str_eq(d.blobs[0].path, path);
	ck_assert_uint_eq(d.limit, mid);
	ck_assert_str_eq(d.held_by, "b");
	ck_assert_uint_gt(d.tail_after, 1);
	ck_assert_uint_gt(d.freed, 0);
	assert_removed_below(&d, mid, 0);
	/* Nothing changed. */
	list_segs(&s1);
	assert_segs_equal(&s0, &s1);
	ck_assert_uint_eq(tail_of(a), 1);
	ck_assert(exists(path));
	assert_readable(a, 1);

	/* The real run does what the dry run said. */
	JANITOR_OK(a, 0, -1, &r);
	assert_reports_equal(&d, &r);
	assert_removed_below(&r, mid, 1);
	ck_assert(!exists(path));
	ck_assert_uint_eq(tail_of(a), r.tail_after);
	cohort_janitor_report_free(&d);
	cohort_janitor_report_free(&r);
}
END_TEST

/* A dry run that would retire a node reports what the run would remove
 * once that node is retired, not what it would remove with it live. */
START_TEST(dry_run_reports_what_retirement_frees)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report d, r;
	struct segs s0, s1;

	append_n(a, 10 * PER_SEG);
	catch_up(a);
	age_node("b", 3600);
	list_segs(&s0);

	JANITOR_OK(a, 1, 600000, &d);
	ck_assert_uint_eq(d.nretired, 1);
	ck_assert_str_eq(d.retired[0].path, "b");
	ck_assert_int_eq(is_retired(a, "b"), 0);
	list_segs(&s1);
	assert_segs_equal(&s0, &s1);

	JANITOR_OK(a, 0, 600000, &r);
	ck_assert_uint_eq(r.nretired, 1);
	ck_assert_int_eq(is_retired(a, "b"), 1);
	ck_assert_uint_gt(r.nsegments, 0); /* b no longer holds cleanup */
	assert_reports_equal(&d, &r);
	cohort_janitor_report_free(&d);
	cohort_janitor_report_free(&r);
	(void)b;
}
END_TEST

/* ---- retirement --------------------------------------------------------- */

START_TEST(idle_node_retired)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;
	struct segs s;
	uint64_t head;

	append_n(a, 8 * PER_SEG);
	catch_up(a);
	head = head_of(a);
	set_rev(b, 10);
	age_node("b", 3600);

	/* Idle for an hour, but retire_after is two: b holds cleanup. */
	JANITOR_OK(a, 0, 2 * 3600000, &r);
	ck_assert_uint_eq(r.nretired, 0);
	ck_assert_uint_eq(r.limit, 10);
	ck_assert_str_eq(r.held_by, "b");
	cohort_janitor_report_free(&r);
	ck_assert_int_eq(is_retired(a, "b"), 0);

	/* retire_after 10 minutes: b is retired and cleanup goes on. */
	JANITOR_OK(a, 0, 600000, &r);
	ck_assert_uint_eq(r.nretired, 1);
	ck_assert_str_eq(r.retired[0].path, "b");
	ck_assert_uint_eq(r.limit, head);
	ck_assert_str_ne(r.held_by, "b");
	ck_assert_uint_gt(r.nsegments, 0);
	ck_assert_uint_gt(r.tail_after, 11);
	cohort_janitor_report_free(&r);
	ck_assert_int_eq(is_retired(a, "b"), 1);
	list_segs(&s);
	ck_assert_uint_eq(s.count, 1);

	/* Once retired, it is not retired again. */
	JANITOR_OK(a, 0, 600000, &r);
	ck_assert_uint_eq(r.nretired, 0);
	cohort_janitor_report_free(&r);
}
END_TEST

/* retire_after from cohort.conf when the option does not say. */
START_TEST(retire_after_from_config)
{
	struct node *a, *b;
	cohort_janitor_report r;

	write_conf("[janitor]\nretire_after = 30m\n");
	a = node_open("a");
	b = node_open("b");
	append_n(a, 3 * PER_SEG);
	catch_up(a);
	age_node("b", 20 * 60);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nretired, 0);
	ck_assert_str_eq(r.held_by, "b");
	cohort_janitor_report_free(&r);
	age_node("b", 40 * 60);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nretired, 1);
	ck_assert(report_retired(&r, "b"));
	cohort_janitor_report_free(&r);
	(void)b;
}
END_TEST

START_TEST(heartbeat_or_revision_keeps_node)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;
	char path[PATH_MAX];

	append_n(a, 3 * PER_SEG);
	catch_up(a);

	/* Old revision, fresh heartbeat: a node alive but with nothing new. */
	snprintf(path, sizeof(path), "%s/nodes/b/revision", root);
	age_file(path, 3600);
	JANITOR_OK(a, 0, 600000, &r);
	ck_assert_uint_eq(r.nretired, 0);
	ck_assert_str_eq(r.held_by, "b");
	cohort_janitor_report_free(&r);

	/* Old heartbeat, fresh revision: a node syncing from cron. */
	age_node("b", 3600);
	set_rev(b, 1);
	JANITOR_OK(a, 0, 600000, &r);
	ck_assert_uint_eq(r.nretired, 0);
	ck_assert_str_eq(r.held_by, "b");
	cohort_janitor_report_free(&r);
	ck_assert_int_eq(is_retired(a, "b"), 0);
}
END_TEST

/*
 * A busy node is never retired (found by the soak): its revision file,
 * written after the janitor read the server's clock, has an mtime in the
 * janitor's future; a negative age read as "missing", and a node whose
 * heartbeat was old went.  A stat of its files failing with anything but
 * ENOENT is no evidence of idleness either.
 */
START_TEST(busy_node_with_future_revision_not_retired)
{
	struct node *a = node_open("a");
	cohort_janitor_report r;
	char hb[PATH_MAX], rv[PATH_MAX];
	unsigned long stats;
	int k, rc;

	(void)node_open("b");
	append_n(a, 2 * PER_SEG);
	catch_up(a);
	snprintf(hb, sizeof(hb), "%s/nodes/b/heartbeat", root);
	snprintf(rv, sizeof(rv), "%s/nodes/b/revision", root);
	age_file(hb, 2 * 3600);
	age_file(rv, -2); /* written 2 s after the janitor's clock reading */
	JANITOR_OK(a, 0, 3600 * 1000, &r);
	ck_assert_msg(!report_retired(&r, "b"), "busy node 'b' retired: its "
		      "revision file is newer than the janitor's clock");
	ck_assert_uint_eq(r.nretired, 0);
	cohort_janitor_report_free(&r);
	ck_assert_int_eq(is_retired(a, "b"), 0);

	/* Old heartbeat, fresh revision, each stat in turn failing with EIO:
	 * the janitor may fail, but b stays. */
	age_file(rv, 0);
	cohort__os_fault_clear();
	JANITOR_OK(a, 1, 3600 * 1000, &r);
	ck_assert_uint_eq(r.nretired, 0);
	cohort_janitor_report_free(&r);
	stats = cohort__os_fault_count(COHORT__OP_STAT);
	ck_assert_uint_gt(stats, 0);
	for (k = 1; k <= (int)stats + 2; k++) {
		age_file(hb, 2 * 3600);
		age_file(rv, 0);
		cohort__os_fault_clear();
		cohort__os_fault_set(COHORT__OP_STAT, (unsigned long)k, EIO, 0);
		rc = run_janitor(a, 0, 3600 * 1000, &r);
		cohort__os_fault_clear();
		ck_assert_msg(!report_retired(&r, "b"), "node 'b' retired after "
			      "an EIO on stat %d (janitor: %d)", k, rc);
		cohort_janitor_report_free(&r);
		ck_assert_msg(is_retired(a, "b") == 0, "node 'b' retired after "
			      "an EIO on stat %d", k);
	}
}
END_TEST

START_TEST(janitor_node_never_retired)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;

	append_n(a, 3 * PER_SEG);
	catch_up(a);
	catch_up(b);
	age_node("a", 3600);
	age_node("b", 3600);

	JANITOR_OK(a, 0, 600000, &r);
	ck_assert_uint_eq(r.nretired, 1);
	ck_assert(report_retired(&r, "b"));
	ck_assert(!report_retired(&r, "a"));
	cohort_janitor_report_free(&r);
	ck_assert_int_eq(is_retired(a, "a"), 0);
	ck_assert_int_eq(is_retired(a, "b"), 1);

	/* Even with retire_after 0, a dry run included. */
	JANITOR_OK(a, 1, 0, &r);
	ck_assert(!report_retired(&r, "a"));
	cohort_janitor_report_free(&r);
	JANITOR_OK(a, 0, 0, &r);
	ck_assert(!report_retired(&r, "a"));
	cohort_janitor_report_free(&r);
	ck_assert_int_eq(is_retired(a, "a"), 0);
}
END_TEST

START_TEST(leave_stops_holding_cleanup)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;

	append_n(a, 6 * PER_SEG);
	catch_up(a);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nsegments, 0);
	ck_assert_str_eq(r.held_by, "b");
	cohort_janitor_report_free(&r);

	ck_assert_int_eq(cohort_node_leave(b->c), 0);
	ck_assert_int_eq(is_retired(a, "b"), 1);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_gt(r.nsegments, 0);
	ck_assert_uint_eq(r.limit, head_of(a));
	cohort_janitor_report_free(&r);
}
END_TEST

/* Snapshot content as a node's "state": the payloads it applied. */
struct state {
	char *buf;
	size_t len;
};

static int state_cb(const cohort_record *r, void *arg)
{
	struct state *s = arg;
	char *g = realloc(s->buf, s->len + r->len + 1);

	ck_assert_ptr_nonnull(g);
	s->buf = g;
	memcpy(s->buf + s->len, r->data, r->len);
	s->len += r->len;
	s->buf[s->len++] = '\n';
	return 0;
}

START_TEST(returning_node_is_behind_and_bootstraps)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;
	struct state sa = { NULL, 0 }, sb = { NULL, 0 };
	void *data = NULL;
	size_t len = 0;
	uint64_t srev = 0, pub = 0, applied = 0;
	int rc;

	/* b applied the first records, then went away. */
	append_n(a, 2 * PER_SEG);
	ck_assert_int_eq(cohort_journal_apply(b->j, 0, state_cb, &sb, NULL), 0);
	append_n(a, 6 * PER_SEG);
	ck_assert_int_eq(cohort_journal_apply(a->j, 0, state_cb, &sa, NULL), 0);
	/* a publishes its state, then the journal moves on. */
	rc = cohort_snapshot_put(a->c, sa.buf, sa.len, &pub);
	ck_assert_msg(rc == 0, "snapshot_put: %s", cohort_error_last());
	ck_assert_uint_eq(pub, head_of(a));
	append_n(a, 3 * PER_SEG);
	ck_assert_int_eq(cohort_journal_apply(a->j, 0, state_cb, &sa, NULL), 0);
	age_node("b", 3600);
	JANITOR_OK(a, 0, 600000, &r);
	ck_assert(report_retired(&r, "b"));
	ck_assert_uint_eq(r.limit, pub);
	ck_assert_str_eq(r.held_by, "the application snapshot");
	ck_assert_uint_gt(r.tail_after, rev_of(b) + 1);
	ck_assert_uint_le(r.tail_after, pub + 1);
	cohort_janitor_report_free(&r);

	/* b comes back: told it is behind, also after joining again. */
	rc = cohort_journal_apply(b->j, 1, state_cb, &sb, &applied);
	ck_assert_int_eq(rc, COHORT_EBEHIND);
	ck_assert_uint_eq(applied, 0);
	ck_assert_msg(strstr(cohort_error_last(), "snapshot") != NULL,
		      "message '%s' does not mention the snapshot",
		      cohort_error_last());
	b = node_open("b");
	ck_assert_int_eq(is_retired(a, "b"), 0);
	rc = cohort_journal_apply(b->j, 1, state_cb, &sb, &applied);
	ck_assert_int_eq(rc, COHORT_EBEHIND);

	/* Bootstrap: the snapshot, then the records after it. */
	rc = cohort_snapshot_get(b->c, &data, &len, &srev);
	ck_assert_msg(rc == 0, "snapshot_get: %s", cohort_error_last());
	ck_assert_uint_eq(srev, pub);
	free(sb.buf);
	sb.buf = data;
	sb.len = len;
	set_rev(b, srev);
	ck_assert_int_eq(cohort_journal_apply(b->j, 1, state_cb, &sb, &applied), 0);
	ck_assert_uint_eq(applied, head_of(a) - pub);
	ck_assert_uint_eq(rev_of(b), head_of(a));
	ck_assert_uint_eq(sb.len, sa.len);
	ck_assert(memcmp(sb.buf, sa.buf, sa.len) == 0);
	free(sa.buf);
	free(sb.buf);
}
END_TEST

/* A node that joins for the first time after history was removed has
 * missed that history: it is behind, like a retired node that returns. */
START_TEST(new_node_after_trim_is_behind)
{
	struct node *a = node_open("a"), *n;
	cohort_janitor_report r;
	uint64_t applied = 0;
	int rc;

	append_n(a, 6 * PER_SEG);
	catch_up(a);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_gt(r.tail_after, 1);
	cohort_janitor_report_free(&r);

	n = node_open("late");
	rc = cohort_journal_apply(n->j, 1, walk_cb, &(struct walk){ 0, 0, 0, 0 },
				  &applied);
	ck_assert_msg(rc == COHORT_EBEHIND,
		      "a node joining after records 1-%" PRIu64 " were removed "
		      "applied %" PRIu64 " records from %" PRIu64 " (rc %d)",
		      tail_of(a) - 1, applied, tail_of(a), rc);
}
END_TEST

/* ---- snapshots ---------------------------------------------------------- */

START_TEST(snapshot_round_trip)
{
	struct node *a = node_open("a");
	static const unsigned char blob[] = "state\n\nwith\0binary\xff\x00 bytes\n\n";
	void *data = NULL;
	size_t len = 1;
	uint64_t rev = 7, got = 0;
	int rc;

	rc = cohort_snapshot_get(a->c, &data, &len, &rev);
	ck_assert_int_eq(rc, COHORT_ENOTFOUND);
	ck_assert_ptr_null(data);
	ck_assert_int_eq(cohort_snapshot_rev(a->c, &rev), COHORT_ENOTFOUND);

	append_n(a, 40);
	catch_up(a);
	rc = cohort_snapshot_put(a->c, blob, sizeof(blob), &rev);
	ck_assert_msg(rc == 0, "put: %s", cohort_error_last());
	ck_assert_uint_eq(rev, 40);
	rc = cohort_snapshot_get(a->c, &data, &len, &got);
	ck_assert_msg(rc == 0, "get: %s", cohort_error_last());
	ck_assert_uint_eq(got, 40);
	ck_assert_uint_eq(len, sizeof(blob));
	ck_assert(memcmp(data, blob, len) == 0);
	free(data);
	got = 0;
	ck_assert_int_eq(cohort_snapshot_rev(a->c, &got), 0);
	ck_assert_uint_eq(got, 40);

	/* The revision is the node's, not the head's. */
	append_n(a, 5);
	rc = cohort_snapshot_put(a->c, "x", 1, &rev);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(rev, 40);
	catch_up(a);
	ck_assert_int_eq(cohort_snapshot_put(a->c, "", 0, &rev), 0);
	ck_assert_uint_eq(rev, 45);
	rc = cohort_snapshot_get(a->c, &data, &len, &got);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(got, 45);
	free(data);

	/* Another node reads the same. */
	rc = cohort_snapshot_get(node_open("b")->c, &data, &len, &got);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(got, 45);
	free(data);
}
END_TEST

START_TEST(snapshot_put_refused_behind_tail)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;
	void *data = NULL;
	size_t len = 0;
	uint64_t rev = 0;
	int rc;

	append_n(a, 6 * PER_SEG);
	catch_up(a);
	ck_assert_int_eq(cohort_node_leave(b->c), 0);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_gt(r.tail_after, 2);
	cohort_janitor_report_free(&r);
	ck_assert_uint_eq(rev_of(b), 0);

	rc = cohort_snapshot_put(b->c, "stale state", 11, &rev);
	ck_assert_int_eq(rc, COHORT_EINVAL);
	ck_assert_msg(strstr(cohort_error_last(), "behind") != NULL,
		      "message: %s", cohort_error_last());
	ck_assert_int_eq(cohort_snapshot_get(a->c, &data, &len, &rev),
			 COHORT_ENOTFOUND);

	/* At the record before the tail it is current enough. */
	set_rev(b, tail_of(a) - 1);
	rc = cohort_snapshot_put(b->c, "ok", 2, &rev);
	ck_assert_msg(rc == 0, "put: %s", cohort_error_last());
	ck_assert_uint_eq(rev, tail_of(a) - 1);
}
END_TEST

START_TEST(snapshot_put_refused_when_newer_exists)
{
	struct node *a = node_open("a"), *b = node_open("b");
	void *data = NULL;
	size_t len = 0;
	uint64_t rev = 0;
	int rc;

	append_n(a, 30);
	catch_up(a);
	set_rev(b, 20);
	ck_assert_int_eq(cohort_snapshot_put(a->c, "at 30", 5, &rev), 0);
	ck_assert_uint_eq(rev, 30);
	rc = cohort_snapshot_put(b->c, "at 20", 5, &rev);
	ck_assert_int_eq(rc, COHORT_EINVAL);
	ck_assert_msg(strstr(cohort_error_last(), "newer") != NULL,
		      "message: %s", cohort_error_last());
	rc = cohort_snapshot_get(b->c, &data, &len, &rev);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(rev, 30);
	ck_assert_uint_eq(len, 5);
	ck_assert(memcmp(data, "at 30", 5) == 0);
	free(data);

	/* The same revision may replace it; a later one too. */
	set_rev(b, 30);
	ck_assert_int_eq(cohort_snapshot_put(b->c, "b at 30", 7, &rev), 0);
	catch_up(b);
	ck_assert_int_eq(cohort_snapshot_put(b->c, "b at 30!", 8, &rev), 0);
	rc = cohort_snapshot_get(a->c, &data, &len, &rev);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(len, 8);
	free(data);
}
END_TEST

static void snapshot_file(char *buf, size_t size)
{
	snprintf(buf, size, "%s/snapshots/app", root);
}

/* Rewrite the snapshot file through 'edit'. */
static void edit_snapshot(void (*edit)(char *text, size_t *len))
{
	char path[PATH_MAX], text[8192];
	size_t len;
	FILE *f;

	snapshot_file(path, sizeof(path));
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	len = fread(text, 1, sizeof(text), f);
	fclose(f);
	edit(text, &len);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void flip_last(char *text, size_t *len)
{
	text[*len - 2] ^= 0x20;
}

static void cut_last(char *text, size_t *len)
{
	(void)text;
	*len -= 3;
}

static void change_rev(char *text, size_t *len)
{
	char *p = strstr(text, "rev ");

	(void)len;
	ck_assert_ptr_nonnull(p);
	p[4] = p[4] == '9' ? '8' : '9';
}

static void bad_magic(char *text, size_t *len)
{
	(void)len;
	text[0] = 'C';
}

START_TEST(damaged_snapshot_is_corrupt)
{
	struct node *a = node_open("a");
	void (*edits[])(char *, size_t *) = { flip_last, cut_last, bad_magic };
	cohort_janitor_report r;
	char content[200];
	void *data = NULL;
	size_t len = 0, i;
	uint64_t rev = 0;
	struct segs s0, s1;
	int rc;

	memset(content, 'z', sizeof(content));
	append_n(a, 4 * PER_SEG);
	catch_up(a);
	for (i = 0; i < N(edits); i++) {
		ck_assert_int_eq(cohort_snapshot_put(a->c, content, sizeof(content),
						     &rev), 0);
		ck_assert_int_eq(cohort_snapshot_get(a->c, &data, &len, &rev), 0);
		free(data);
		edit_snapshot(edits[i]);
		data = (void *)1;
		rc = cohort_snapshot_get(a->c, &data, &len, &rev);
		ck_assert_msg(rc == COHORT_ECORRUPT, "edit %zu: rc %d", i, rc);
		ck_assert_ptr_null(data);
		ck_assert(strstr(cohort_error_last(), "snapshots/app") != NULL);
		ck_assert_int_eq(cohort_snapshot_rev(a->c, &rev), COHORT_ECORRUPT);
	}

	/* The janitor cannot know what the snapshot needs: it removes
	 * nothing and says why. */
	list_segs(&s0);
	rc = run_janitor(a, 0, -1, &r);
	ck_assert_int_eq(rc, COHORT_ECORRUPT);
	cohort_janitor_report_free(&r);
	list_segs(&s1);
	assert_segs_equal(&s0, &s1);
	ck_assert_uint_eq(tail_of(a), 1);

	/* A new snapshot replaces the damaged one. */
	ck_assert_int_eq(cohort_snapshot_put(a->c, "fresh", 5, &rev), 0);
	ck_assert_int_eq(cohort_snapshot_get(a->c, &data, &len, &rev), 0);
	ck_assert_uint_eq(len, 5);
	free(data);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_gt(r.nsegments, 0);
	cohort_janitor_report_free(&r);
}
END_TEST

/* The header's revision decides where a node resumes and how far the
 * janitor may go: a changed digit there is damage like any other. */
START_TEST(snapshot_header_is_verified)
{
	struct node *a = node_open("a");
	void *data = NULL;
	size_t len = 0;
	uint64_t rev = 0;
	int rc;

	append_n(a, 40);
	catch_up(a);
	ck_assert_int_eq(cohort_snapshot_put(a->c, "content", 7, &rev), 0);
	ck_assert_uint_eq(rev, 40);
	edit_snapshot(change_rev);
	rc = cohort_snapshot_get(a->c, &data, &len, &rev);
	ck_assert_msg(rc == COHORT_ECORRUPT,
		      "a snapshot whose 'rev' line changed (40 -> %" PRIu64
		      ") was accepted (rc %d)", rev, rc);
	free(data);
}
END_TEST

START_TEST(snapshot_caps_cleanup)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;
	uint64_t srev = 0, head;
	struct walk w = { 0, 0, 0, 0 };

	append_n(a, 4 * PER_SEG);
	catch_up(a);
	ck_assert_int_eq(cohort_snapshot_put(a->c, "s", 1, &srev), 0);
	append_n(a, 6 * PER_SEG);
	catch_up(a);
	catch_up(b);
	head = head_of(a);
	ck_assert_uint_lt(srev, head);

	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.limit, srev);
	ck_assert_str_eq(r.held_by, "the application snapshot");
	ck_assert_uint_gt(r.nsegments, 0);
	assert_removed_below(&r, srev, 1);
	ck_assert_uint_le(r.tail_after, srev + 1);
	cohort_janitor_report_free(&r);
	/* Every record after the snapshot is still there. */
	ck_assert_int_eq(cohort_journal_read(a->j, srev + 1, 0, walk_cb, &w), 0);
	ck_assert_uint_eq(w.first, srev + 1);
	ck_assert_uint_eq(w.last, head);
	ck_assert(!w.gap);

	/* A newer snapshot lets cleanup go on. */
	ck_assert_int_eq(cohort_snapshot_put(b->c, "s2", 2, &srev), 0);
	ck_assert_uint_eq(srev, head);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.limit, head);
	ck_assert_uint_gt(r.nsegments, 0);
	cohort_janitor_report_free(&r);
}
END_TEST

/* ---- store -------------------------------------------------------------- */

START_TEST(unreferenced_old_blobs_removed)
{
	struct node *a = node_open("a");
	cohort_janitor_report r;
	char used[33], old[33], young[33], pu[PATH_MAX], po[PATH_MAX],
		py[PATH_MAX];
	cohort_package p;
	int fd;

	install(a, "used", "1", "content that stays installed", used);
	install(a, "old", "1", "content uninstalled long ago", old);
	install(a, "young", "1", "content uninstalled just now", young);
	ck_assert_int_eq(cohort_store_uninstall(a->s, NULL, "old", 0), 0);
	ck_assert_int_eq(cohort_store_uninstall(a->s, NULL, "young", 0), 0);
	blob_path(pu, sizeof(pu), used);
	blob_path(po, sizeof(po), old);
	blob_path(py, sizeof(py), young);
	age_file(pu, 2 * 3600); /* old but referenced */
	age_file(po, 2 * 3600); /* old and unreferenced */
	catch_up(a);

	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nblobs, 1);
	ck_assert_str_eq(r.blobs[0].path, po);
	ck_assert_uint_gt(r.blobs[0].bytes, 0);
	ck_assert_uint_ge(r.freed, r.blobs[0].bytes);
	cohort_janitor_report_free(&r);
	ck_assert(!exists(po));
	ck_assert(exists(pu));
	ck_assert(exists(py));

	/* The installed package still reads back whole. */
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(cohort_store_find(a->s, NULL, "used", NULL, &p), 0);
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(cohort_store_cat(a->s, &p, 0, 0, fd), 0);
	close(fd);
	cohort_package_clear(&p);

	/* Once the young one is past the grace period, it goes too. */
	age_file(py, 2 * 3600);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nblobs, 1);
	ck_assert_str_eq(r.blobs[0].path, py);
	cohort_janitor_report_free(&r);
	ck_assert(!exists(py));
	ck_assert(exists(pu));
}
END_TEST

START_TEST(blob_grace_from_config)
{
	struct node *a;
	cohort_janitor_report r;
	char h[33], path[PATH_MAX];

	write_conf("[janitor]\nblob_grace = 10m\n");
	a = node_open("a");
	install(a, "gone", "1", "bytes", h);
	ck_assert_int_eq(cohort_store_uninstall(a->s, NULL, "gone", 0), 0);
	blob_path(path, sizeof(path), h);
	age_file(path, 5 * 60);
	catch_up(a);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nblobs, 0);
	cohort_janitor_report_free(&r);
	ck_assert(exists(path));
	age_file(path, 15 * 60);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nblobs, 1);
	cohort_janitor_report_free(&r);
	ck_assert(!exists(path));
}
END_TEST

START_TEST(store_index_loads_after_trim)
{
	struct node *a = node_open("a"), *b = node_open("b");
	cohort_janitor_report r;
	char want[4096];
	int fd;

	install(a, "alpha", "1.0", "alpha one", NULL);
	append_n(a, 2 * PER_SEG);
	install(a, "beta", "2.0", "beta two", NULL);
	append_n(a, 2 * PER_SEG);
	install(b, "gamma", "0.1", "gamma", NULL);
	install(b, "alpha", "1.1", "alpha one dot one", NULL);
	ck_assert_int_eq(cohort_store_uninstall(b->s, NULL, "beta", 0), 0);
	append_n(b, 3 * PER_SEG);
	snprintf(want, sizeof(want), "%s", list_str(a));
	ck_assert_str_eq(want, "alpha@1.1 gamma@0.1");
	catch_up(a);
	catch_up(b);

	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_gt(r.nsegments, 0);
	ck_assert_uint_gt(r.tail_after, head_of(a) - PER_SEG - 5);
	cohort_janitor_report_free(&r);

	/* Every install record is gone from the journal. */
	ck_assert_uint_gt(tail_of(a), 7 * PER_SEG);
	/* Fresh handles: the index comes from its snapshot. */
	a = node_open("a");
	b = node_open2("b", 0);
	ck_assert_str_eq(list_str(a), want);
	ck_assert_str_eq(list_str(b), want);

	/* And the store goes on: a change after the trim shows. */
	install(b, "delta", "3", "delta", NULL);
	ck_assert_str_eq(list_str(a), "alpha@1.1 delta@3 gamma@0.1");
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	{
		cohort_package p;

		memset(&p, 0, sizeof(p));
		ck_assert_int_eq(cohort_store_find(a->s, NULL, "alpha", NULL, &p), 0);
		ck_assert_int_eq(cohort_store_cat(a->s, &p, 0, 0, fd), 0);
		cohort_package_clear(&p);
	}
	close(fd);
}
END_TEST

/*
 * An install of content that is stored already (an old blob nothing
 * references any more, e.g. of a package uninstalled long ago) while a
 * janitor runs: the janitor runs (through a hook) just as the install asks
 * for the store lock, when the install has read and hashed its package
 * and may have seen the old blob in place.  The package it installs must
 * still read back.
 */
static struct node *gc_janitor_node;
static int gc_armed, gc_fired, gc_rc;
static size_t gc_removed;

static int janitor_on_store_lock(const char *path, int flags, mode_t mode)
{
	static const char tail[] = "/locks/store.flock";
	size_t n = strlen(path), t = sizeof(tail) - 1;

	if (gc_armed && n > t && !strcmp(path + n - t, tail)) {
		cohort_janitor_report r;

		gc_armed = 0;
		gc_fired = 1;
		gc_rc = run_janitor(gc_janitor_node, 0, -1, &r);
		gc_removed = r.nblobs;
		cohort_janitor_report_free(&r);
	}
	return cohort__sys_default.open(path, flags, mode);
}

START_TEST(reinstall_of_unreferenced_content_survives_gc)
{
	struct node *a = node_open("a"), *b = node_open("b");
	char h1[33], h2[33], path[PATH_MAX];
	cohort_package p;
	int fd, rc;

	install(a, "plugin", "1", "the same bytes twice", h1);
	ck_assert_int_eq(cohort_store_uninstall(a->s, NULL, "plugin", 0), 0);
	blob_path(path, sizeof(path), h1);
	age_file(path, 2 * 3600); /* uninstalled long ago */
	catch_up(a);

	gc_janitor_node = a;
	gc_armed = 1;
	gc_fired = 0;
	cohort__sys.open = janitor_on_store_lock;
	install(b, "plugin", "1", "the same bytes twice", h2);
	cohort__sys = cohort__sys_default;
	ck_assert(gc_fired);
	ck_assert_msg(gc_rc == 0, "janitor in the hook: %d", gc_rc);
	ck_assert_str_eq(h1, h2);

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(cohort_store_find(b->s, NULL, "plugin", NULL, &p), 0);
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	rc = cohort_store_cat(b->s, &p, 0, 0, fd);
	close(fd);
	cohort_package_clear(&p);
	ck_assert_msg(rc == 0 && exists(path),
		      "installed package's content is gone (the janitor removed "
		      "%zu blob(s) while the install waited for the store lock): "
		      "cat: %d %s", gc_removed, rc, cohort_error_last());
}
END_TEST

/* ---- min_age and interrupted removals ----------------------------------- */

START_TEST(min_age_keeps_young_segments)
{
	struct node *a;
	cohort_janitor_report r;
	struct segs s0, s1;
	unsigned int i;
	char path[PATH_MAX + 32];

	write_conf("[janitor]\nmin_age = 1h\n");
	a = node_open("a");
	append_n(a, 6 * PER_SEG);
	catch_up(a);
	list_segs(&s0);
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nsegments, 0);
	cohort_janitor_report_free(&r);
	list_segs(&s1);
	assert_segs_equal(&s0, &s1);

	/* The two oldest are two hours old: they go, the rest stays. */
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", jdir, s0.names[i]);
		age_file(path, 2 * 3600);
	}
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nsegments, 2);
	ck_assert_uint_eq(r.tail_after, seg_first(s0.lo + 2));
	cohort_janitor_report_free(&r);
	list_segs(&s1);
	ck_assert_uint_eq(s1.count, s0.count - 2);
	assert_readable(a, tail_of(a));
}
END_TEST

/* Fail the 'nth' unlink of a journal segment (and every one after it when
 * 'fail_rest'), as a janitor killed while it removes would stop. */
static unsigned int unlink_seen, unlink_nth;

static int failing_seg_unlink(const char *path)
{
	if (strstr(path, "/journal/seg-") && ++unlink_seen >= unlink_nth) {
		errno = EIO;
		return -1;
	}
	return cohort__sys_default.unlink(path);
}

static void interrupted_removal(unsigned int nth)
{
	struct node *a = node_open("a");
	cohort_janitor_report r;
	struct segs s;
	uint64_t tail;
	int rc;

	append_n(a, 10 * PER_SEG);
	catch_up(a);
	unlink_seen = 0;
	unlink_nth = nth;
	cohort__sys.unlink = failing_seg_unlink;
	rc = run_janitor(a, 0, -1, &r);
	cohort__sys = cohort__sys_default;
	cohort_janitor_report_free(&r);
	ck_assert_int_ne(rc, 0);
	/* The tail was published before the files went: readers are fine. */
	tail = tail_of(a);
	ck_assert_uint_gt(tail, 1);
	assert_readable(a, tail);
	list_segs(&s);
	ck_assert_uint_gt(s.count, 1);

	/* The next run removes whatever the interrupted one left. */
	JANITOR_OK(a, 0, -1, &r);
	cohort_janitor_report_free(&r);
	list_segs(&s);
	ck_assert_msg(s.count == 1, "%u segment files left (%s ... %s), the tail "
		      "segment is the only one that should be", s.count,
		      s.names[0], s.names[s.count - 1]);
	ck_assert_uint_eq(seg_first(s.lo), tail_of(a));
	assert_readable(a, tail_of(a));
}

/* Stopped before it removed any file. */
START_TEST(interrupted_before_removal_cleaned_next_run)
{
	interrupted_removal(1);
}
END_TEST

/* Stopped after it removed some of the files. */
START_TEST(interrupted_mid_removal_cleaned_next_run)
{
	interrupted_removal(3);
}
END_TEST

/* ---- concurrent readers and janitors ------------------------------------ */

/*
 * A node applying while the janitor removes segments below its revision
 * must not fail: the janitor runs (through a hook) just when the reader
 * opens its first segment, after it read the head.
 */
static struct node *hook_janitor_node;
static int hook_armed, hook_fired, hook_rc;
static size_t hook_removed;

static int janitor_on_open(const char *path, int flags, mode_t mode)
{
	const char *name = strrchr(path, '/');

	if (hook_armed && name && !strncmp(name, "/seg-", 5)) {
		cohort_janitor_report r;

		hook_armed = 0;
		hook_fired = 1;
		hook_rc = run_janitor(hook_janitor_node, 0, -1, &r);
		hook_removed = r.nsegments;
		cohort_janitor_report_free(&r);
	}
	return cohort__sys_default.open(path, flags, mode);
}

START_TEST(apply_survives_concurrent_trim)
{
	struct node *a = node_open("a"), *b = node_open("b");
	uint64_t head, from, applied = 0;
	struct walk w = { 0, 0, 0, 0 };
	int rc;

	append_n(a, 12 * PER_SEG);
	catch_up(a);
	head = head_of(a);
	from = head - PER_SEG / 2; /* b is in the last segments */
	set_rev(b, from);
	b = node_open2("b", 0); /* a fresh handle: nothing cached */

	hook_janitor_node = a;
	hook_armed = 1;
	hook_fired = 0;
	cohort__sys.open = janitor_on_open;
	rc = cohort_journal_apply(b->j, 1, walk_cb, &w, &applied);
	cohort__sys = cohort__sys_default;
	ck_assert(hook_fired);
	ck_assert_msg(hook_rc == 0, "janitor in the hook: %d", hook_rc);
	ck_assert_uint_gt(hook_removed, 0);
	ck_assert_msg(rc == 0, "apply while the janitor removed segments below "
		      "the node's revision: %d %s", rc, cohort_error_last());
	ck_assert_uint_eq(applied, head - from);
	ck_assert_uint_eq(w.first, from + 1);
	ck_assert(!w.gap);
}
END_TEST

/*
 * Two janitors in two processes: the child holds the janitor lock, parked
 * in a hook right after it took it; the parent's janitor is busy and does
 * nothing; then the child finishes its work.
 */
static int gate_in = -1, gate_out = -1, gate_armed;

static int gated_open(const char *path, int flags, mode_t mode)
{
	if (gate_armed && strstr(path, "/nodes/.clock.tmp.")) {
		char ch = 'x';

		gate_armed = 0;
		if (write(gate_out, &ch, 1) != 1 || read(gate_in, &ch, 1) != 1)
			_exit(90);
	}
	return cohort__sys_default.open(path, flags, mode);
}

static void two_janitors(const char *child_id)
{
	struct node *a = node_open("a"), *b = node_open("b");
	int to_child[2], to_parent[2], status = 0;
	cohort_janitor_report r;
	struct segs s0, s1;
	pid_t pid;
	char ch;

	append_n(a, 6 * PER_SEG);
	catch_up(a);
	catch_up(b);
	list_segs(&s0);
	ck_assert_int_eq(pipe(to_child), 0);
	ck_assert_int_eq(pipe(to_parent), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct node *me;
		int rc;

		/* A process of its own: handles opened here. */
		memset(nodes, 0, sizeof(nodes));
		me = node_open2(child_id, 0);
		gate_in = to_child[0];
		gate_out = to_parent[1];
		gate_armed = 1;
		cohort__sys.open = gated_open;
		rc = run_janitor(me, 0, -1, &r);
		if (rc)
			_exit(10);
		if (r.busy)
			_exit(11);
		if (r.nsegments == 0)
			_exit(12);
		_exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
	ck_assert_int_eq(read(to_parent[0], &ch, 1), 1);

	/* The child holds the janitor lock now: this one steps aside. */
	memset(&r, 0xff, sizeof(r));
	ck_assert_int_eq(run_janitor(a, 0, -1, &r), 0);
	ck_assert(r.busy);
	ck_assert_msg(strstr(r.busy_holder, "janitor") != NULL,
		      "holder: '%s'", r.busy_holder);
	ck_assert_uint_eq(r.nsegments, 0);
	ck_assert_uint_eq(r.nretired, 0);
	ck_assert_uint_eq(r.nblobs, 0);
	ck_assert_uint_eq(r.freed, 0);
	cohort_janitor_report_free(&r);
	ck_assert_int_eq(run_janitor(a, 1, -1, &r), 0);
	ck_assert(r.busy);
	cohort_janitor_report_free(&r);
	list_segs(&s1);
	assert_segs_equal(&s0, &s1);
	ck_assert_uint_eq(tail_of(a), 1);

	/* Let the child go on: it does the work. */
	ck_assert_int_eq(write(to_child[1], "g", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child janitor: status %d", status);
	close(to_child[1]);
	close(to_parent[0]);
	list_segs(&s1);
	ck_assert_uint_lt(s1.count, s0.count);
	ck_assert_uint_gt(tail_of(a), 1);

	/* Released: the next janitor works (and finds nothing left). */
	JANITOR_OK(a, 0, -1, &r);
	ck_assert_uint_eq(r.nsegments, 0);
	cohort_janitor_report_free(&r);
}

/* Two nodes, each with its own lock files. */
START_TEST(two_janitors_one_busy)
{
	two_janitors("b");
}
END_TEST

/* Two processes of one node: the node's own serialization says busy. */
START_TEST(two_janitors_same_node_one_busy)
{
	two_janitors("a");
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *janitor_suite(void)
{
	Suite *su = suite_create("janitor");
	TCase *tc;

	tc = tcase_create("trim");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, behind_node_holds_cleanup);
	tcase_add_test(tc, unreadable_revision_holds_cleanup);
	tcase_add_test(tc, catch_up_lets_cleanup_go_further);
	tcase_add_test(tc, head_segment_never_removed);
	tcase_add_test(tc, dry_run_changes_nothing);
	tcase_add_test(tc, dry_run_reports_what_retirement_frees);
	suite_add_tcase(su, tc);

	tc = tcase_create("retire");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, idle_node_retired);
	tcase_add_test(tc, retire_after_from_config);
	tcase_add_test(tc, heartbeat_or_revision_keeps_node);
	tcase_add_test(tc, busy_node_with_future_revision_not_retired);
	tcase_add_test(tc, janitor_node_never_retired);
	tcase_add_test(tc, leave_stops_holding_cleanup);
	tcase_add_test(tc, returning_node_is_behind_and_bootstraps);
	tcase_add_test(tc, new_node_after_trim_is_behind);
	suite_add_tcase(su, tc);

	tc = tcase_create("snapshot");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_put_refused_behind_tail);
	tcase_add_test(tc, snapshot_put_refused_when_newer_exists);
	tcase_add_test(tc, damaged_snapshot_is_corrupt);
	tcase_add_test(tc, snapshot_header_is_verified);
	tcase_add_test(tc, snapshot_caps_cleanup);
	suite_add_tcase(su, tc);

	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, unreferenced_old_blobs_removed);
	tcase_add_test(tc, blob_grace_from_config);
	tcase_add_test(tc, store_index_loads_after_trim);
	tcase_add_test(tc, reinstall_of_unreferenced_content_survives_gc);
	suite_add_tcase(su, tc);

	tc = tcase_create("removal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, min_age_keeps_young_segments);
	tcase_add_test(tc, interrupted_before_removal_cleaned_next_run);
	tcase_add_test(tc, interrupted_mid_removal_cleaned_next_run);
	suite_add_tcase(su, tc);

	tc = tcase_create("concurrency");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, apply_survives_concurrent_trim);
	tcase_add_test(tc, two_janitors_one_busy);
	tcase_add_test(tc, two_janitors_same_node_one_busy);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	int failed;

	snprintf(base, sizeof(base), "%s/cohort-janitor.XXXXXX",
		 t && *t ? t : "/tmp");
	if (!mkdtemp(base)) {
		fprintf(stderr, "mkdtemp '%s': %s\n", base, strerror(errno));
		return 1;
	}
	failed = run_suite(janitor_suite());
	if (getenv("COHORT_TEST_KEEP"))
		fprintf(stderr, "kept %s\n", base);
	else
		rm_rf(base);
	return failed == 0 ? 0 : 1;
}
