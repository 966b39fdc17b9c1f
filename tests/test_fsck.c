/*
 * test_fsck.c - cohort_fsck(): each kind of damage, injected into a root
 * written by the real code, is found by a check-only run (which changes
 * nothing), repaired when it can be (what goes lands in lost+found with a
 * MANIFEST line), left when it cannot, and a second run is clean; every
 * committed record that was intact before is still there after.
 *
 * Every test gets a fresh temporary folder holding a cluster root and the
 * node's state folder, an open cluster handle ('c', node "n1", joined) and
 * an open journal ('j').
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <dirent.h>
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

#include <archive.h>
#include <archive_entry.h>
#include <xxhash.h>

#include "cohort.h"
#include "fixture.h"
#include "journal_format.h"
#include "os/os.h"
#include "store_gc.h"

#define LEASE_SIZE 256

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

static const char *at(const char *rel)
{
	static char buf[4][PATH_MAX + 64];
	static int k;

	k = (k + 1) % 4;
	ck_assert(snprintf(buf[k], sizeof(buf[k]), "%s/%s", root, rel) <
		  (int)sizeof(buf[k]));
	return buf[k];
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_msg(fd >= 0, "cannot write '%s': %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* write_text() through open(2): a file made here asks for 0644, not 0666. */
static void write_str(const char *path, const char *text)
{
	write_file(path, text, strlen(text));
}

/* (Re)open the node with ROOT/cohort.conf holding 'conf' (NULL: none). */
static void open_node(const char *conf)
{
	close_node();
	if (conf)
		write_str(at("cohort.conf"), conf);
	else
		(void)unlink(at("cohort.conf"));
	open_joined_node(&c, &j, NULL, root, state);
}

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1];
	int rc;

	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	make_tmp(tmp, sizeof(tmp), NULL, "cohort-fsck", 0);
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	rc = cohort_cluster_init(id, root);
	ck_assert_msg(rc == 0, "cluster_init: %s", cohort_error_last());
	open_node(NULL);
}

static void teardown(void)
{
	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	close_node();
	remove_tmp();
}

/* ---- running fsck ------------------------------------------------------- */

struct prob {
	char kind[64];
	char path[PATH_MAX];
	char detail[1024];
	char moved[PATH_MAX];
	int repaired;
	uint64_t rev;
	int64_t offset;
};

struct run {
	struct prob v[64];
	size_t n;
	cohort_fsck_summary sum;
	int rc;
};

static void on_problem(const cohort_fsck_problem *p, void *arg)
{
	struct run *r = arg;
	struct prob *x;

	ck_assert_msg(r->n < 64, "too many problems");
	x = &r->v[r->n++];
	snprintf(x->kind, sizeof(x->kind), "%s", p->kind);
	snprintf(x->path, sizeof(x->path), "%s", p->path);
	snprintf(x->detail, sizeof(x->detail), "%s", p->detail);
	snprintf(x->moved, sizeof(x->moved), "%s", p->moved_to ? p->moved_to : "");
	x->repaired = p->repaired;
	x->rev = p->rev;
	x->offset = p->offset;
	ck_assert(p->kind && p->path && p->detail && p->detail[0]);
}

/* Run fsck; 'flags': 1 repair, 2 read data; 'grace_ms' < 0: default. */
static struct run *fsck_run(int flags, int64_t grace_ms)
{
	static struct run r;
	cohort_fsck_options o = COHORT_FSCK_OPTIONS_INIT;

	memset(&r, 0, sizeof(r));
	o.repair = flags & 1;
	o.read_data = (flags & 2) != 0;
	o.grace_ms = grace_ms;
	r.rc = cohort_fsck(&r.sum, c, &o, on_problem, &r);
	ck_assert_msg(r.rc == 0, "fsck: %s", cohort_error_last());
	ck_assert_uint_eq(r.sum.problems, r.n);
	return &r;
}

static void dump(const struct run *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		fprintf(stderr, "  %s %s %s: %s\n",
			r->v[i].repaired ? "repaired" : "left", r->v[i].kind,
			r->v[i].path, r->v[i].detail);
}

static const struct prob *find(const struct run *r, const char *kind,
			       const char *path)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].kind, kind) &&
		    (!path || !strcmp(r->v[i].path, path)))
			return &r->v[i];
	return NULL;
}

static const struct prob *expect(const struct run *r, const char *kind,
				 const char *path, int repaired)
{
	const struct prob *p = find(r, kind, path);

	if (!p)
		dump(r);
	ck_assert_msg(p != NULL, "no '%s' problem for '%s' (%zu found)", kind,
		      path ? path : "*", r->n);
	ck_assert_msg(p->repaired == repaired, "'%s' %s: repaired %d, want %d "
		      "(%s)", kind, p->path, p->repaired, repaired, p->detail);
	return p;
}

static void expect_clean(void)
{
	struct run *r = fsck_run(0, -1);

	if (r->n)
		dump(r);
	ck_assert_msg(r->n == 0, "fsck is not clean: %zu problems", r->n);
}

/* ---- helpers ------------------------------------------------------------ */

static uint64_t append_str(const char *s)
{
	cohort_entry e = { NULL, s, strlen(s) };
	uint64_t rev = 0;
	int rc = cohort_journal_append(j, &e, 1, &rev);

	ck_assert_msg(rc == 0, "append: %s", cohort_error_last());
	return rev;
}

static void append_many(int n, const char *prefix)
{
	char buf[128];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s-%d-%s", prefix, i,
			 "padding padding padding padding padding padding");
		append_str(buf);
	}
}

struct recs {
	char *text; /* "rev node type data\n" lines */
	size_t len, cap;
};

static int collect_cb(const cohort_record *r, void *arg)
{
	struct recs *rs = arg;
	char line[512];
	int n = snprintf(line, sizeof(line), "%" PRIu64 " %s %s %.*s\n", r->rev,
			 r->node, r->type, (int)r->len, (const char *)r->data);

	ck_assert(n > 0 && (size_t)n < sizeof(line));
	if (rs->len + (size_t)n + 1 > rs->cap) {
		rs->cap = (rs->len + (size_t)n + 1) * 2;
		rs->text = realloc(rs->text, rs->cap);
		ck_assert(rs->text != NULL);
	}
	memcpy(rs->text + rs->len, line, (size_t)n + 1);
	rs->len += (size_t)n;
	return 0;
}

/* Every committed record, as text (the caller frees). */
static char *all_records(void)
{
	struct recs rs = { NULL, 0, 0 };
	int rc = cohort_journal_read(j, 0, 0, collect_cb, &rs);

	ck_assert_msg(rc == 0, "read: %s", cohort_error_last());
	return rs.text ? rs.text : strdup("");
}

/* 'before' is a prefix of what is committed now. */
static void records_kept(const char *before)
{
	char *now = all_records();

	ck_assert_msg(!strncmp(now, before, strlen(before)),
		      "records changed:\nbefore:\n%s\nafter:\n%s", before, now);
	free(now);
}

static struct cohort__head head_now(void)
{
	struct cohort__head h;
	int rc = cohort__journal_head(c, &h);

	ck_assert_msg(rc == 0, "head: %s", cohort_error_last());
	return h;
}

static const char *seg_rel(uint64_t no)
{
	static char buf[4][64];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "journal/seg-%016" PRIx64, no);
	return buf[k];
}

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "stat '%s': %s", path,
		      strerror(errno));
	return st.st_size;
}

static void append_bytes(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	ck_assert_msg(fd >= 0, "cannot open '%s': %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
	ck_assert_int_eq(close(fd), 0);
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

/* Make a file look 'secs' old (by mtime). */
static void age_file(const char *path, long secs)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= secs;
	ts[1] = ts[0];
	ck_assert_msg(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == 0,
		      "utimensat '%s': %s", path, strerror(errno));
}

/* Offset and size of revision 'rev' in segment 'no'. */
static void find_record(uint64_t no, uint64_t rev, uint64_t *off, size_t *size)
{
	unsigned char *buf;
	size_t len, pos = JSEG_HDR, need;

	buf = slurp(at(seg_rel(no)), &len);
	while (pos < len) {
		cohort__rec r;
		long s = cohort__rec_decode(&r, buf + pos, len - pos, &need);

		ck_assert_msg(s > 0, "bad record at %zu", pos);
		if (r.rev == rev) {
			*off = pos;
			*size = (size_t)s;
			free(buf);
			return;
		}
		pos += (size_t)s;
	}
	free(buf);
	ck_abort_msg("revision %" PRIu64 " not in segment %" PRIu64, rev, no);
}

/* The MANIFEST of the run's lost+found holds a line naming 'file'. */
static void manifest_has(const struct run *r, const char *file)
{
	char path[PATH_MAX + 128];
	unsigned char *text;
	size_t len;
	int found = 0;
	char *line, *save = NULL;

	ck_assert_msg(r->sum.lost_found[0], "no lost+found folder");
	snprintf(path, sizeof(path), "%s/%s/MANIFEST", root, r->sum.lost_found);
	text = slurp(path, &len);
	for (line = strtok_r((char *)text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (line[0] != '#' && !strncmp(line, file, strlen(file)) &&
		    line[strlen(file)] == '\t' && strchr(line + strlen(file) + 1, '\t'))
			found = 1;
	free(text);
	ck_assert_msg(found, "MANIFEST of '%s' lists no '%s'", r->sum.lost_found,
		      file);
}

/* A listing of everything under the root: path, size, mtime, XXH3. */
static char *tree_buf;
static size_t tree_len, tree_cap;

static int tree_one(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	char line[PATH_MAX + 128];
	unsigned long long h = 0;
	int n;

	(void)ftw;
	if (flag == FTW_F) {
		size_t len;
		unsigned char *b = slurp(path, &len);

		h = XXH3_64bits(b, len);
		free(b);
	}
	/* A folder's mtime moves when fsck reads the file server's clock
	 * (a temporary file made and removed at once): files only. */
	n = snprintf(line, sizeof(line), "%s %d %lld %lld.%09ld %016llx\n",
		     path + strlen(root), flag,
		     flag == FTW_F ? (long long)st->st_size : 0LL,
		     flag == FTW_F ? (long long)st->st_mtim.tv_sec : 0LL,
		     flag == FTW_F ? st->st_mtim.tv_nsec : 0L, h);
	if (tree_len + (size_t)n + 1 > tree_cap) {
		tree_cap = (tree_len + (size_t)n + 1) * 2;
		tree_buf = realloc(tree_buf, tree_cap);
		ck_assert(tree_buf != NULL);
	}
	memcpy(tree_buf + tree_len, line, (size_t)n + 1);
	tree_len += (size_t)n;
	return 0;
}

static char *tree(void)
{
	tree_buf = NULL;
	tree_len = tree_cap = 0;
	ck_assert_int_eq(nftw(root, tree_one, 16, FTW_PHYS), 0);
	return tree_buf;
}

/* A check-only run finds problems and changes nothing on the root. */
static struct run *check_unchanged(void)
{
	char *before = tree(), *after;
	struct run *r = fsck_run(0, -1);

	after = tree();
	ck_assert_msg(!strcmp(before, after),
		      "a check-only run changed the root:\nbefore:\n%s\nafter:\n%s",
		      before, after);
	free(before);
	free(after);
	ck_assert_msg(r->n > 0, "check-only run found nothing");
	ck_assert_uint_eq(r->sum.repaired, 0);
	ck_assert(r->sum.lost_found[0] == '\0');
	return r;
}

/* An empty index snapshot at revision 'rev', as the janitor writes one
 * before it trims the journal. */
static void write_empty_snapshot(uint64_t rev)
{
	char body[128], text[192];
	int n = snprintf(body, sizeof(body), "cohort-index 1\nrev %" PRIu64 "\n",
			 rev);

	ck_assert(n > 0 && (size_t)n < sizeof(body));
	snprintf(text, sizeof(text), "%ssum %016llx\n", body,
		 (unsigned long long)XXH3_64bits(body, (size_t)n));
	write_str(at("store/index"), text);
}

/* ---- packages ----------------------------------------------------------- */

static const char *make_tar(const char *name, const char *content)
{
	static char path[PATH_MAX + 64];
	struct archive *a = archive_write_new();
	struct archive_entry *en = archive_entry_new();
	size_t len = strlen(content);

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	archive_entry_set_pathname(en, "content.txt");
	archive_entry_set_mtime(en, 1700000000, 0);
	archive_entry_set_filetype(en, AE_IFREG);
	archive_entry_set_perm(en, 0644);
	archive_entry_set_size(en, (la_int64_t)len);
	ck_assert(archive_write_header(a, en) >= ARCHIVE_WARN);
	ck_assert_int_eq(archive_write_data(a, content, len), (la_ssize_t)len);
	archive_entry_free(en);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

/* Install package 'id' 'version' with 'content'; its blob path in 'blob'. */
static void install(const char *id, const char *version, const char *content,
		    char *blob, size_t size)
{
	cohort_install_options o = COHORT_INSTALL_OPTIONS_INIT;
	cohort_store *s = NULL;
	cohort_package p;
	char name[300];
	int rc;

	snprintf(name, sizeof(name), "%s-%s.tar", id, version);
	o.id = id;
	o.pkg_version = version;
	ck_assert_int_eq(cohort_store_open(&s, c), 0);
	rc = cohort_store_install(s, make_tar(name, content), &o, &p);
	ck_assert_msg(rc == 0, "install: %s", cohort_error_last());
	if (blob)
		snprintf(blob, size, "store/blobs/%.2s/%.2s/%s", p.hash, p.hash + 2,
			 p.hash);
	cohort_package_clear(&p);
	cohort_store_close(s);
}

static void uninstall(const char *id)
{
	cohort_store *s = NULL;
	int rc;

	ck_assert_int_eq(cohort_store_open(&s, c), 0);
	rc = cohort_store_uninstall(s, NULL, id, 0);
	ck_assert_msg(rc == 0, "uninstall: %s", cohort_error_last());
	cohort_store_close(s);
}

static size_t installed(void)
{
	cohort_store *s = NULL;
	cohort_package *v = NULL;
	size_t n = 0;
	int rc;

	ck_assert_int_eq(cohort_store_open(&s, c), 0);
	rc = cohort_store_list(s, NULL, &v, &n);
	ck_assert_msg(rc == 0, "list: %s", cohort_error_last());
	cohort_package_list_free(v, n);
	cohort_store_close(s);
	return n;
}

/* ---- clean roots -------------------------------------------------------- */

START_TEST(test_clean_root)
{
	char *before;
	struct run *r;

	append_many(20, "a");
	install("pkg.one", "1.0", "first package", NULL, 0);
	install("pkg.two", "2.0", "second package", NULL, 0);
	uninstall("pkg.two"); /* its blob stays referenced by the journal */
	before = tree();
	r = fsck_run(0, -1);
	if (r->n)
		dump(r);
	ck_assert_uint_eq(r->n, 0);
	ck_assert_uint_eq(r->sum.records, 23);
	ck_assert_uint_eq(r->sum.head, 23);
	ck_assert_uint_eq(r->sum.tail, 1);
	ck_assert_uint_eq(r->sum.nodes, 1);
	ck_assert_uint_eq(r->sum.packages, 1);
	ck_assert_uint_eq(r->sum.blobs, 2);
	ck_assert(r->sum.server_clock);
	{
		char *after = tree();

		ck_assert_str_eq(before, after);
		free(after);
	}
	/* --read-data hashes every blob; a repair run of a clean root does
	 * nothing and makes no lost+found. */
	r = fsck_run(3, -1);
	ck_assert_uint_eq(r->n, 0);
	ck_assert_uint_eq(r->sum.blobs, 2);
	ck_assert_uint_gt(r->sum.blob_bytes_hashed, 0);
	ck_assert(r->sum.lost_found[0] == '\0');
	ck_assert(!exists(at("lost+found")));
	free(before);
}
END_TEST

START_TEST(test_options)
{
	cohort_fsck_options o = COHORT_FSCK_OPTIONS_INIT;
	cohort_options co = COHORT_OPTIONS_INIT;
	cohort_fsck_summary sum;
	cohort_cluster *c2 = NULL;

	o.version = 99;
	ck_assert_int_eq(cohort_fsck(&sum, c, &o, NULL, NULL), COHORT_EINVAL);
	/* Repair takes locks: it needs a node id. */
	co.root = root;
	ck_assert_int_eq(cohort_cluster_open(&c2, &co), 0);
	o.version = COHORT_FSCK_OPTIONS_VERSION;
	o.repair = 1;
	ck_assert_int_eq(cohort_fsck(&sum, c2, &o, NULL, NULL), COHORT_EINVAL);
	/* Check-only runs without one, with no callback. */
	o.repair = 0;
	ck_assert_int_eq(cohort_fsck(&sum, c2, &o, NULL, NULL), 0);
	ck_assert_uint_eq(sum.problems, 0);
	cohort_cluster_close(c2);
}
END_TEST

/* ---- the journal -------------------------------------------------------- */

START_TEST(test_torn_tail)
{
	static const char junk[] = "CJRC-not-a-record-but-bytes-of-a-torn-write";
	struct cohort__head h;
	char *before, lf[PATH_MAX + 128];
	const struct prob *p;
	unsigned char *saved;
	size_t len;
	struct run *r;

	append_many(5, "t");
	before = all_records();
	h = head_now();
	append_bytes(at(seg_rel(h.seg)), junk, sizeof(junk) - 1);
	r = check_unchanged();
	p = expect(r, "journal.uncommitted-tail", seg_rel(h.seg), 0);
	ck_assert_int_eq(p->offset, (int64_t)h.off);
	ck_assert_uint_eq(r->n, 1);

	r = fsck_run(1, -1);
	p = expect(r, "journal.uncommitted-tail", seg_rel(h.seg), 1);
	ck_assert_uint_eq(r->n, 1);
	ck_assert_int_eq(file_size(at(seg_rel(h.seg))), (off_t)h.off);
	/* The cut bytes are in lost+found, whole. */
	ck_assert(p->moved[0]);
	ck_assert(snprintf(lf, sizeof(lf), "%s/%s", root, p->moved) <
		  (int)sizeof(lf));
	saved = slurp(lf, &len);
	ck_assert_uint_eq(len, sizeof(junk) - 1);
	ck_assert(!memcmp(saved, junk, len));
	free(saved);
	manifest_has(r, p->moved + strlen(r->sum.lost_found) + 1);
	expect_clean();
	records_kept(before);
	free(before);
}
END_TEST

/* Whole commits past the head are published (a writer died after its data
 * was durable); a partial one after them is cut. */
START_TEST(test_unpublished_commit)
{
	struct cohort__head h;
	unsigned char buf[512];
	size_t n;
	char *before, *after;
	struct run *r;

	append_many(3, "u");
	before = all_records();
	h = head_now();
	n = cohort__rec_encode(buf, h.rev + 1, 1234, "n9", "data", "first", 5, 0);
	n += cohort__rec_encode(buf + n, h.rev + 2, 1234, "n9", "data", "second",
				6, 1);
	/* and half of a third commit */
	n += cohort__rec_encode(buf + n, h.rev + 3, 1234, "n9", "data", "third",
				5, 1) / 2;
	append_bytes(at(seg_rel(h.seg)), buf, n);
	r = check_unchanged();
	expect(r, "journal.unpublished-commit", seg_rel(h.seg), 0);
	expect(r, "journal.uncommitted-tail", seg_rel(h.seg), 0);
	ck_assert_uint_eq(r->n, 2);

	r = fsck_run(1, -1);
	expect(r, "journal.unpublished-commit", seg_rel(h.seg), 1);
	expect(r, "journal.uncommitted-tail", seg_rel(h.seg), 1);
	ck_assert_uint_eq(r->sum.head, h.rev + 2);
	ck_assert_uint_eq(head_now().rev, h.rev + 2);
	expect_clean();
	records_kept(before);
	after = all_records();
	ck_assert_ptr_nonnull(strstr(after, " n9 data first\n"));
	ck_assert_ptr_nonnull(strstr(after, " n9 data second\n"));
	ck_assert_ptr_null(strstr(after, "third"));
	free(after);
	free(before);
}
END_TEST

/* An appender killed between its durable data write and its head publish,
 * by the real code (in a child, with the fault injector): the commit is
 * published and its stale lease broken through the lock protocol. */
START_TEST(test_killed_appender)
{
	char *before, *after;
	struct run *r;
	pid_t pid;
	int status;

	append_many(3, "k");
	before = all_records();
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		cohort__os_fault_clear();
		/* the data's fdatasync is the first fsync of the append */
		cohort__os_fault_set(COHORT__OP_FSYNC, 1, COHORT__FAULT_KILL, 0);
		append_str("durable but never published");
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	r = check_unchanged();
	expect(r, "journal.unpublished-commit", NULL, 0);
	expect(r, "lock.stale", "locks/journal.lease", 0);
	r = fsck_run(1, -1);
	expect(r, "journal.unpublished-commit", NULL, 1);
	expect(r, "lock.stale", "locks/journal.lease", 1);
	manifest_has(r, "locks/journal.lease");
	expect_clean();
	records_kept(before);
	after = all_records();
	ck_assert_ptr_nonnull(strstr(after, "durable but never published"));
	free(after);
	free(before);
	append_str("and appends go on");
}
END_TEST

START_TEST(test_committed_record_damaged)
{
	uint64_t off, off5;
	size_t size, len1, len2, size5, i, n = 0;
	unsigned char *b1, *b2;
	const struct prob *p;
	char *before, *after, *want;
	struct run *r;
	uint64_t rev;

	append_many(6, "d");
	before = all_records();
	find_record(1, 5, &off5, &size5);
	find_record(1, 3, &off, &size);
	flip_byte(at(seg_rel(1)), off + size - 12);
	b1 = slurp(at(seg_rel(1)), &len1);
	r = check_unchanged();
	p = expect(r, "journal.record", seg_rel(1), 0);
	ck_assert_uint_eq(p->rev, 3);
	ck_assert_int_eq(p->offset, (int64_t)off);
	ck_assert_ptr_nonnull(strstr(p->detail, "record 3"));
	ck_assert_ptr_nonnull(strstr(p->detail, "lost records"));
	free(b1);
	/* A second damaged record further on is found too: the scan reads on
	 * from the next record that verifies. */
	flip_byte(at(seg_rel(1)), off5 + size5 - 12);
	b1 = slurp(at(seg_rel(1)), &len1);
	r = fsck_run(0, -1);
	for (i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].kind, "journal.record")) {
			ck_assert(r->v[i].rev == 3 || r->v[i].rev == 5);
			ck_assert_int_eq(r->v[i].offset, r->v[i].rev == 3 ?
					 (int64_t)off : (int64_t)off5);
			n++;
		}
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(r->sum.records, 4);

	/* Repair: each damaged revision becomes a lost record in place, the
	 * damaged bytes go to lost+found, the head segment is sealed first. */
	r = fsck_run(1, -1);
	ck_assert_uint_eq(r->sum.lost, 2);
	ck_assert_uint_eq(r->sum.problems, r->sum.repaired);
	p = expect(r, "journal.record", seg_rel(1), 1);
	ck_assert_ptr_nonnull(strstr(p->detail, "replaced by lost records"));
	{
		/* What went to lost+found is the damaged bytes, whole. */
		char lf[PATH_MAX + 128], name[128];
		unsigned char *saved;
		size_t slen;

		snprintf(name, sizeof(name), "journal/seg-0000000000000001."
			 "bytes-%llu-%llu", (unsigned long long)off,
			 (unsigned long long)(off + size));
		manifest_has(r, name);
		ck_assert(snprintf(lf, sizeof(lf), "%s/%s/%s", root,
				   r->sum.lost_found, name) < (int)sizeof(lf));
		saved = slurp(lf, &slen);
		ck_assert_uint_eq(slen, size);
		ck_assert(!memcmp(saved, b1 + off, size));
		free(saved);
	}
	ck_assert_uint_eq(head_now().seg, 2);
	r = fsck_run(0, -1);
	if (r->n)
		dump(r);
	ck_assert_uint_eq(r->n, 0);
	ck_assert_uint_eq(r->sum.lost_records, 2);
	ck_assert_uint_eq(r->sum.records, 6);

	/* Every other record is what it was, at its revision; 3 and 5 are
	 * lost records naming themselves. */
	after = all_records();
	want = strdup(before);
	{
		char *line, *save = NULL, *got = after;

		for (line = strtok_r(want, "\n", &save), rev = 1; line;
		     line = strtok_r(NULL, "\n", &save), rev++) {
			char *eol = strchr(got, '\n');

			ck_assert_ptr_nonnull(eol);
			*eol = '\0';
			if (rev == 3 || rev == 5) {
				char head[64];

				snprintf(head, sizeof(head), "%" PRIu64 " n1 "
					 COHORT_LOST_TYPE " {\"lost\":[%" PRIu64
					 ",%" PRIu64 "]", rev, rev, rev);
				ck_assert_msg(!strncmp(got, head, strlen(head)),
					      "revision %" PRIu64 ": %s", rev, got);
			} else {
				ck_assert_str_eq(got, line);
			}
			got = eol + 1;
		}
		ck_assert_uint_eq(rev, 7);
	}
	free(want);
	free(after);
	b2 = slurp(at(seg_rel(1)), &len2);
	ck_assert_uint_gt(len2, 0);
	free(b1);
	free(b2);
	/* The cluster goes on. */
	ck_assert_uint_eq(append_str("after the repair"), 7);
	expect_clean();
	free(before);
}
END_TEST

START_TEST(test_sealed_segment_tail)
{
	static const char junk[] = "bytes of a writer that lost its lease";
	struct cohort__head h;
	char *before;
	off_t size1;
	struct run *r;

	open_node("[journal]\nsegment_size = 4096\n");
	append_many(120, "s");
	h = head_now();
	ck_assert_uint_ge(h.seg, 3);
	before = all_records();
	size1 = file_size(at(seg_rel(1)));
	append_bytes(at(seg_rel(1)), junk, sizeof(junk) - 1);
	r = check_unchanged();
	expect(r, "journal.sealed-tail", seg_rel(1), 0);
	ck_assert_uint_eq(r->n, 1);
	r = fsck_run(1, -1);
	expect(r, "journal.sealed-tail", seg_rel(1), 1);
	ck_assert_int_eq(file_size(at(seg_rel(1))), size1);
	expect_clean();
	records_kept(before);
	free(before);
}
END_TEST

START_TEST(test_sealed_segment_short)
{
	uint64_t off, first2;
	size_t size;
	struct run *r;
	const struct prob *p;
	unsigned char hdr[JSEG_HDR];
	int fd;

	open_node("[journal]\nsegment_size = 4096\n");
	append_many(120, "s");
	fd = open(at(seg_rel(2)), O_RDONLY);
	ck_assert_int_eq(pread(fd, hdr, JSEG_HDR, 0), JSEG_HDR);
	close(fd);
	ck_assert_int_eq(cohort__seg_header_check(hdr, 2, &first2), 0);
	/* Lose the last committed record of the sealed segment 1. */
	find_record(1, first2 - 1, &off, &size);
	ck_assert_int_eq(truncate(at(seg_rel(1)), (off_t)off), 0);
	r = check_unchanged();
	p = expect(r, "journal.short", seg_rel(1), 0);
	ck_assert_uint_eq(p->rev, first2 - 1);
	r = fsck_run(1, -1);
	expect(r, "journal.short", seg_rel(1), 0);
	ck_assert_uint_eq(r->sum.repaired, 0);
}
END_TEST

/* A janitor that died between publishing a new tail and removing the
 * segments below it; a writer that died between creating the next segment
 * and publishing it. */
START_TEST(test_stray_segments)
{
	unsigned char head[JHEAD_SIZE], hdr[JSEG_HDR];
	struct cohort__head h;
	uint64_t first2;
	char *before;
	struct run *r;
	int fd;

	open_node("[journal]\nsegment_size = 4096\n");
	append_many(120, "s");
	ck_assert_int_eq(cohort_journal_set_revision(j, head_now().rev), 0);
	fd = open(at(seg_rel(2)), O_RDONLY);
	ck_assert_int_eq(pread(fd, hdr, JSEG_HDR, 0), JSEG_HDR);
	close(fd);
	ck_assert_int_eq(cohort__seg_header_check(hdr, 2, &first2), 0);
	h = head_now();
	h.tail_seg = 2;
	h.tail_rev = first2;
	h.seq++;
	memset(head, 0, sizeof(head));
	cohort__head_encode(head + cohort__head_slot_off(&h), &h);
	fd = open(at("journal/head"), O_WRONLY);
	ck_assert_int_eq(pwrite(fd, head + cohort__head_slot_off(&h), JHEAD_SLOT,
				(off_t)cohort__head_slot_off(&h)), JHEAD_SLOT);
	close(fd);
	cohort__seg_header(hdr, h.seg + 1, h.rev + 1);
	write_file(at(seg_rel(h.seg + 1)), hdr, JSEG_HDR);
	write_empty_snapshot(h.rev);
	before = all_records();

	r = check_unchanged();
	expect(r, "journal.old-segment", seg_rel(1), 0);
	expect(r, "journal.unpublished-segment", seg_rel(h.seg + 1), 0);
	ck_assert_uint_eq(r->n, 2);
	r = fsck_run(1, -1);
	expect(r, "journal.old-segment", seg_rel(1), 1);
	expect(r, "journal.unpublished-segment", seg_rel(h.seg + 1), 1);
	ck_assert(!exists(at(seg_rel(1))));
	manifest_has(r, seg_rel(1));
	manifest_has(r, seg_rel(h.seg + 1));
	{
		char moved[PATH_MAX + 128];

		snprintf(moved, sizeof(moved), "%s/%s", r->sum.lost_found,
			 seg_rel(1));
		ck_assert(exists(at(moved)));
	}
	expect_clean();
	records_kept(before);
	free(before);
	append_str("after");
}
END_TEST

START_TEST(test_head_damaged)
{
	struct run *r;

	struct cohort__head h;
	char *before;
	const struct prob *p;

	append_many(3, "h");
	h = head_now();
	before = all_records();
	write_str(at("journal/head"), "not a head at all");
	r = check_unchanged();
	p = expect(r, "journal.head", "journal/head", 0);
	ck_assert_ptr_nonnull(strstr(p->detail, "rebuilds it"));
	/* Rebuilt from the segments: the same revisions, the old bytes in
	 * lost+found. */
	r = fsck_run(1, -1);
	expect(r, "journal.head", "journal/head", 1);
	manifest_has(r, "journal/head");
	ck_assert_uint_eq(r->sum.head, h.rev);
	ck_assert_uint_eq(head_now().rev, h.rev);
	ck_assert_uint_eq(head_now().off, h.off);
	ck_assert_uint_eq(head_now().tail_rev, h.tail_rev);
	expect_clean();
	records_kept(before);
	ck_assert_uint_eq(append_str("after"), h.rev + 1);
	free(before);
}
END_TEST

/* ---- nodes -------------------------------------------------------------- */

START_TEST(test_revision_files)
{
	struct run *r;
	uint64_t head;

	append_many(3, "r");
	head = head_now().rev;
	/* A node past the head. */
	ck_assert_int_eq(cohort_journal_set_revision(j, head + 5), 0);
	r = check_unchanged();
	expect(r, "node.revision-ahead", "nodes/n1/revision", 0);
	r = fsck_run(1, -1);
	expect(r, "node.revision-ahead", "nodes/n1/revision", 0);
	/* A damaged revision file. */
	write_str(at("nodes/n1/revision"), "cohort-revision 1\nrev 2\nsum 0\n");
	r = check_unchanged();
	expect(r, "node.revision", "nodes/n1/revision", 0);
	/* Repair sets it before the oldest retained record: the node applies
	 * what is kept again (at least once), nothing is skipped. */
	r = fsck_run(1, -1);
	expect(r, "node.revision", "nodes/n1/revision", 1);
	manifest_has(r, "nodes/n1/revision");
	{
		uint64_t rev = 99;

		ck_assert_int_eq(cohort_journal_revision(j, &rev), 0);
		ck_assert_uint_eq(rev, head_now().tail_rev - 1);
	}
	expect_clean();
	ck_assert_int_eq(cohort_journal_set_revision(j, head), 0);
	expect_clean();
}
END_TEST

START_TEST(test_node_behind)
{
	struct run *r;

	/* A second node that never applied anything, then the history it
	 * needs goes (the tail is moved by hand, as a janitor would). */
	{
		cohort_options o = COHORT_OPTIONS_INIT;
		cohort_cluster *c2 = NULL;
		char st2[PATH_MAX + 8];

		snprintf(st2, sizeof(st2), "%s2", state);
		o.root = root;
		o.node = "n2";
		o.state = st2;
		ck_assert_int_eq(cohort_cluster_open(&c2, &o), 0);
		ck_assert_int_eq(cohort_node_join(c2, NULL), 0);
		cohort_cluster_close(c2);
	}
	open_node("[journal]\nsegment_size = 4096\n");
	append_many(120, "b");
	ck_assert_int_eq(cohort_journal_set_revision(j, head_now().rev), 0);
	{
		struct cohort__head h = head_now();
		unsigned char hdr[JSEG_HDR], slot[JHEAD_SLOT];
		uint64_t first2;
		int fd = open(at(seg_rel(2)), O_RDONLY);

		ck_assert_int_eq(pread(fd, hdr, JSEG_HDR, 0), JSEG_HDR);
		close(fd);
		ck_assert_int_eq(cohort__seg_header_check(hdr, 2, &first2), 0);
		h.tail_seg = 2;
		h.tail_rev = first2;
		h.seq++;
		cohort__head_encode(slot, &h);
		fd = open(at("journal/head"), O_WRONLY);
		ck_assert_int_eq(pwrite(fd, slot, JHEAD_SLOT,
					(off_t)cohort__head_slot_off(&h)), JHEAD_SLOT);
		close(fd);
		ck_assert_int_eq(rename(at(seg_rel(1)), at("seg-1.away")), 0);
		write_empty_snapshot(h.rev);
	}
	r = check_unchanged();
	expect(r, "node.behind", "nodes/n2/revision", 0);
	ck_assert_ptr_null(find(r, "node.behind", "nodes/n1/revision"));
	/* Retired, it holds nothing back and is no problem. */
	write_str(at("nodes/n2/retired"), "retired left 1\n");
	expect_clean();
}
END_TEST

START_TEST(test_heartbeat_and_instance)
{
	struct run *r;

	ck_assert_int_eq(cohort_node_heartbeat(c), 0);
	write_str(at("nodes/n1/heartbeat"), "garbage");
	write_str(at("nodes/n1/instance"), "no claim here\n");
	/* A damaged heartbeat that a live node would rewrite any moment is
	 * not judged yet. */
	r = fsck_run(0, -1);
	ck_assert_ptr_null(find(r, "node.heartbeat", NULL));
	age_file(at("nodes/n1/heartbeat"), 3600);
	r = check_unchanged();
	expect(r, "node.heartbeat", "nodes/n1/heartbeat", 0);
	expect(r, "node.instance", "nodes/n1/instance", 0);
	r = fsck_run(1, -1);
	expect(r, "node.heartbeat", "nodes/n1/heartbeat", 1);
	expect(r, "node.instance", "nodes/n1/instance", 1);
	manifest_has(r, "nodes/n1/heartbeat");
	expect_clean();
	/* The node claims its id again as if nothing happened. */
	open_node(NULL);
	expect_clean();
}
END_TEST

/* ---- locks -------------------------------------------------------------- */

static void format_lease(char out[LEASE_SIZE], const char *node,
			 const char *host, const char *boot, long pid)
{
	char body[LEASE_SIZE];
	int n;

	n = snprintf(body, sizeof(body),
		     "cohort-lease 1\nnode %s\nhost %.64s\nboot %s\npid %ld\n"
		     "nonce 0123456789abcdef0123456789abcdef\ncount 7\n",
		     node, host, boot, pid);
	ck_assert(n > 0 && n < 200);
	memset(out, ' ', LEASE_SIZE);
	n = snprintf(out, LEASE_SIZE, "%ssum %016llx\n", body,
		     (unsigned long long)XXH3_64bits(body, (size_t)n));
	ck_assert(n > 0 && n < LEASE_SIZE);
	out[n] = ' ';
	out[LEASE_SIZE - 1] = '\n';
}

/* A process of this host that took a lock and died holding it. */
START_TEST(test_stale_lease_dead_holder)
{
	struct run *r;
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		cohort_lock *l = NULL;

		if (cohort_lock_acquire(&l, c, "job.nightly", 1000))
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	ck_assert(exists(at("locks/job.nightly.lease")));
	r = check_unchanged();
	expect(r, "lock.stale", "locks/job.nightly.lease", 0);
	r = fsck_run(1, -1);
	expect(r, "lock.stale", "locks/job.nightly.lease", 1);
	manifest_has(r, "locks/job.nightly.lease");
	ck_assert(!exists(at("locks/job.nightly.lease")));
	expect_clean();
}
END_TEST

/* A lease of another host, not refreshed for longer than lease_timeout +
 * skew_margin by the file server's clock; a live one is left alone. */
START_TEST(test_stale_lease_foreign)
{
	char lease[LEASE_SIZE];
	struct run *r;

	format_lease(lease, "far", "far-away-host",
		     "0c8f1a3e-5b7d-4c2a-9e6f-123456789abc", 4242);
	write_file(at("locks/janitor.lease"), lease, LEASE_SIZE);
	write_file(at("locks/run.lease"), lease, LEASE_SIZE);
	/* Fresh: its holder may be alive over there. */
	r = fsck_run(0, -1);
	ck_assert_uint_eq(r->n, 0);
	age_file(at("locks/janitor.lease"), 60);
	r = check_unchanged();
	expect(r, "lock.stale", "locks/janitor.lease", 0);
	ck_assert_uint_eq(r->n, 1);
	r = fsck_run(1, -1);
	expect(r, "lock.stale", "locks/janitor.lease", 1);
	ck_assert(!exists(at("locks/janitor.lease")));
	ck_assert(exists(at("locks/run.lease")));
	expect_clean();
}
END_TEST

START_TEST(test_stale_break_and_leftover)
{
	struct run *r;

	write_str(at("locks/journal.break"), "breaker x boot 1 nonce\n");
	write_str(at("locks/job.x.lease.broken.0123"), "old lease\n");
	r = fsck_run(0, -1);
	ck_assert_uint_eq(r->n, 0); /* a breaker at work holds it for ms */
	age_file(at("locks/journal.break"), 600);
	age_file(at("locks/job.x.lease.broken.0123"), 600);
	r = check_unchanged();
	expect(r, "lock.break", "locks/journal.break", 0);
	expect(r, "lock.leftover", "locks/job.x.lease.broken.0123", 0);
	r = fsck_run(1, -1);
	expect(r, "lock.break", "locks/journal.break", 1);
	expect(r, "lock.leftover", "locks/job.x.lease.broken.0123", 1);
	ck_assert(!exists(at("locks/journal.break")));
	expect_clean();
	append_str("the journal lock works");
}
END_TEST

/* ---- temporary files, empty and unreadable files ------------------------ */

START_TEST(test_temp_files)
{
	struct run *r;
	char moved[PATH_MAX + 128];

	write_str(at("nodes/n1/.revision.tmp.n1.4242.a1b2c3d4e5f6"), "rev 9");
	write_str(at("journal/.head.tmp.init.77.000102030405"), "");
	write_str(at("nodes/n1/.instance.tmp.n1.4243.a1b2c3d4e5f7"), "fresh");
	/* An NFS client's silly rename: never reported, even empty and old. */
	write_str(at("nodes/n1/.nfs000000000123abcd00000001"), "");
	write_str(at("journal/.nfs0000000000aaaa0000002"), "x");
	age_file(at("nodes/n1/.nfs000000000123abcd00000001"), 7200);
	age_file(at("nodes/n1/.revision.tmp.n1.4242.a1b2c3d4e5f6"), 7200);
	age_file(at("journal/.head.tmp.init.77.000102030405"), 7200);
	r = check_unchanged();
	expect(r, "temp", "nodes/n1/.revision.tmp.n1.4242.a1b2c3d4e5f6", 0);
	expect(r, "temp", "journal/.head.tmp.init.77.000102030405", 0);
	ck_assert_uint_eq(r->n, 2);
	ck_assert_uint_eq(r->sum.temp_files, 3);
	/* A shorter grace period catches the young one too. */
	r = fsck_run(0, 0);
	expect(r, "temp", "nodes/n1/.instance.tmp.n1.4243.a1b2c3d4e5f7", 0);
	r = fsck_run(1, -1);
	expect(r, "temp", "nodes/n1/.revision.tmp.n1.4242.a1b2c3d4e5f6", 1);
	expect(r, "temp", "journal/.head.tmp.init.77.000102030405", 1);
	ck_assert_uint_eq(r->n, 2);
	snprintf(moved, sizeof(moved), "%s/nodes/n1/.revision.tmp.n1.4242."
		 "a1b2c3d4e5f6", r->sum.lost_found);
	ck_assert(exists(at(moved)));
	manifest_has(r, "journal/.head.tmp.init.77.000102030405");
	ck_assert(exists(at("nodes/n1/.instance.tmp.n1.4243.a1b2c3d4e5f7")));
	ck_assert(exists(at("nodes/n1/.nfs000000000123abcd00000001")));
	expect_clean();
}
END_TEST

START_TEST(test_zero_length_files)
{
	struct run *r;

	ck_assert_int_eq(mkdir(at("jobs"), 0755) == 0 || errno == EEXIST, 1);
	write_str(at("jobs/nightly"), "");
	write_str(at("snapshots-extra"), "");
	/* Lock targets are empty by design. */
	append_str("takes the journal lock");
	ck_assert_int_eq(file_size(at("locks/journal.lock")), 0);
	r = check_unchanged();
	expect(r, "zero-length", "jobs/nightly", 0);
	expect(r, "zero-length", "snapshots-extra", 0);
	ck_assert_uint_eq(r->n, 2);
	r = fsck_run(1, -1);
	expect(r, "zero-length", "jobs/nightly", 1);
	expect(r, "zero-length", "snapshots-extra", 1);
	manifest_has(r, "jobs/nightly");
	expect_clean();
}
END_TEST

static char deny_path[PATH_MAX + 64];

static int deny_open(const char *path, int flags, mode_t mode)
{
	if (!strcmp(path, deny_path)) {
		errno = EACCES;
		return -1;
	}
	return cohort__sys_default.open(path, flags, mode);
}

START_TEST(test_unreadable_file)
{
	struct run *r;
	const struct prob *p;

	append_str("x");
	write_str(at("jobs-report"), "something");
	snprintf(deny_path, sizeof(deny_path), "%s", at("jobs-report"));
	cohort__sys.open = deny_open;
	r = fsck_run(1, -1);
	p = expect(r, "unreadable", "jobs-report", 0);
	ck_assert_ptr_nonnull(strstr(p->detail, "ermission"));
	ck_assert(exists(at("jobs-report")));
	cohort__sys = cohort__sys_default;
	expect_clean();
}
END_TEST

/* ---- I/O errors and a lost mount ----------------------------------------- */

/* Run fsck without asserting success. */
static struct run *fsck_try(int flags)
{
	static struct run r;
	cohort_fsck_options o = COHORT_FSCK_OPTIONS_INIT;

	memset(&r, 0, sizeof(r));
	o.repair = flags & 1;
	r.rc = cohort_fsck(&r.sum, c, &o, on_problem, &r);
	ck_assert_uint_eq(r.sum.problems, r.n);
	return &r;
}

/* stat of 'fail_path' (and open, if 'fail_opens') fails with 'fail_errno'. */
static char fail_path[PATH_MAX + 64];
static int fail_errno, fail_opens;

static int failing_statx(int dirfd, const char *path, int flags,
			 unsigned int mask, struct statx *st)
{
	if (!strcmp(path, fail_path)) {
		errno = fail_errno;
		return -1;
	}
	return cohort__sys_default.statx(dirfd, path, flags, mask, st);
}

static int failing_open(const char *path, int flags, mode_t mode)
{
	if (fail_opens && !strcmp(path, fail_path)) {
		errno = fail_errno;
		return -1;
	}
	return cohort__sys_default.open(path, flags, mode);
}

/* Any problem whose detail holds 'needle'? */
static const struct prob *detail_has(const struct run *r, const char *needle)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strstr(r->v[i].detail, needle))
			return &r->v[i];
	return NULL;
}

/*
 * A folder whose stat fails with EIO is unreadable, not missing (and repair
 * does not create it again); with ESTALE the same.  ENOENT alone means
 * missing.
 */
START_TEST(test_layout_stat_eio_is_unreadable)
{
	static const int errs[] = { EIO, ESTALE };
	const struct prob *p;
	struct run *r;
	size_t k;

	append_str("x");
	for (k = 0; k < N(errs); k++) {
		snprintf(fail_path, sizeof(fail_path), "%s", at("locks"));
		fail_errno = errs[k];
		fail_opens = 0;
		cohort__sys.statx = failing_statx;
		r = fsck_try(k ? 1 : 0);
		cohort__sys = cohort__sys_default;
		ck_assert_msg(r->rc == 0, "fsck: %s", cohort_error_last());
		ck_assert_msg(!find(r, "layout", "locks"), "stat %s of 'locks' "
			      "reported as a layout problem: %s",
			      strerror(errs[k]),
			      find(r, "layout", "locks")->detail);
		p = expect(r, "unreadable", "locks", 0);
		ck_assert_msg(strstr(p->detail, "I/O error") &&
			      strstr(p->detail, strerror(errs[k])),
			      "detail: %s", p->detail);
		ck_assert_msg(!strstr(p->detail, "missing"), "detail: %s",
			      p->detail);
	}
	expect_clean();
	/* Truly missing: "missing", and repair creates it. */
	ck_assert_int_eq(rmdir(at("locks")) == 0 || errno == ENOTEMPTY, 1);
	if (!exists(at("locks"))) {
		r = fsck_run(0, -1);
		p = expect(r, "layout", "locks", 0);
		ck_assert_ptr_nonnull(strstr(p->detail, "missing"));
	}
}
END_TEST

/* A lost mount (ENOTCONN, ENODEV, EHOSTDOWN) on a stat or an open: fsck
 * could not run (an error, exit 8), it reports no damage. */
START_TEST(test_lost_mount_is_an_error)
{
	static const int errs[] = { ENOTCONN, ENODEV, EHOSTDOWN };
	static const char *const where[] = { "journal", "cohort.conf",
					     "journal/head" };
	struct run *r;
	size_t k, w;

	append_str("x");
	write_str(at("cohort.conf"), "[cluster]\n");
	for (w = 0; w < N(where); w++)
		for (k = 0; k < N(errs); k++) {
			snprintf(fail_path, sizeof(fail_path), "%s",
				 at(where[w]));
			fail_errno = errs[k];
			fail_opens = 1;
			cohort__sys.statx = failing_statx;
			cohort__sys.open = failing_open;
			r = fsck_try(0);
			cohort__sys = cohort__sys_default;
			if (r->rc == 0)
				dump(r);
			ck_assert_msg(r->rc < 0, "fsck with %s on '%s': rc %d, "
				      "%zu problems", strerror(errs[k]),
				      where[w], r->rc, r->n);
			ck_assert_msg(strstr(cohort_error_last(),
					     "the root's mount is gone") &&
				      strstr(cohort_error_last(),
					     strerror(errs[k])),
				      "message: %s", cohort_error_last());
			ck_assert_msg(r->n == 0, "%zu problems reported with "
				      "the mount gone (first: %s %s: %s)", r->n,
				      r->v[0].kind, r->v[0].path,
				      r->v[0].detail);
		}
	expect_clean();
}
END_TEST

/*
 * The fault injector at each stat and each open in turn: EIO is never
 * "missing" and never an error of the run; ENOTCONN is never reported as
 * damage (the run either ends with "the root's mount is gone" or, where
 * the call was one fsck may skip, finds nothing).
 */
static void fault_sweep(enum cohort__os_op op)
{
	unsigned long calls, k;
	struct run *r;

	append_str("x");
	append_str("y");
	cohort__os_fault_clear();
	r = fsck_try(0);
	ck_assert_int_eq(r->rc, 0);
	ck_assert_uint_eq(r->n, 0);
	calls = cohort__os_fault_count(op);
	ck_assert_uint_gt(calls, 0);
	for (k = 1; k <= calls; k++) {
		cohort__os_fault_clear();
		cohort__os_fault_set(op, k, EIO, 0);
		r = fsck_try(0);
		cohort__os_fault_clear();
		if (r->rc)
			ck_assert_msg(!strstr(cohort_error_last(), "mount is gone"),
				      "EIO at %s %lu: %s", cohort__os_op_name(op),
				      k, cohort_error_last());
		ck_assert_msg(!detail_has(r, "missing"), "EIO at %s %lu "
			      "reported as missing: %s", cohort__os_op_name(op),
			      k, detail_has(r, "missing")->detail);

		cohort__os_fault_clear();
		cohort__os_fault_set(op, k, ENOTCONN, 0);
		r = fsck_try(0);
		cohort__os_fault_clear();
		if (r->rc == 0 && r->n)
			dump(r);
		ck_assert_msg(r->n == 0, "ENOTCONN at %s %lu: rc %d, %zu "
			      "problems reported", cohort__os_op_name(op), k,
			      r->rc, r->n);
	}
	expect_clean();
}

START_TEST(test_stat_fault_sweep)
{
	fault_sweep(COHORT__OP_STAT);
}
END_TEST

START_TEST(test_open_fault_sweep)
{
	fault_sweep(COHORT__OP_OPEN);
}
END_TEST

/* ---- the store ---------------------------------------------------------- */

START_TEST(test_store_index_damaged)
{
	struct run *r;

	install("a.pkg", "1.0", "package a", NULL, 0);
	install("b.pkg", "1.0", "package b", NULL, 0);
	append_str("not a store record");
	flip_byte(at("store/index"), 20);
	{
		cohort_store *st = NULL;
		cohort_package *v = NULL;
		size_t n = 0;

		ck_assert_int_eq(cohort_store_open(&st, c), 0);
		ck_assert_int_eq(cohort_store_list(st, NULL, &v, &n),
				 COHORT_ECORRUPT);
		cohort_store_close(st);
	}
	r = check_unchanged();
	expect(r, "store.index", "store/index", 0);
	r = fsck_run(1, -1);
	expect(r, "store.index", "store/index", 1);
	ck_assert_uint_eq(r->n, 1);
	expect_clean();
	ck_assert_uint_eq(installed(), 2);
}
END_TEST

/* A snapshot whose checksum holds but whose content is not what the
 * journal says (written by hand: one package left out). */
START_TEST(test_store_index_mismatch)
{
	unsigned char *text;
	char *line, out[8192], body[8192];
	size_t len, n = 0;
	const struct prob *p;
	struct run *r;

	install("a.pkg", "1.0", "package a", NULL, 0);
	install("b.pkg", "1.0", "package b", NULL, 0);
	text = slurp(at("store/index"), &len);
	/* keep the header and the first package line only */
	line = strchr((char *)text, '\n');
	line = strchr(line + 1, '\n');
	line = strchr(line + 1, '\n');
	n = (size_t)(line + 1 - (char *)text);
	memcpy(body, text, n);
	body[n] = '\0';
	ck_assert(snprintf(out, sizeof(out), "%ssum %016llx\n", body,
			   (unsigned long long)XXH3_64bits(body, n)) <
		  (int)sizeof(out));
	write_str(at("store/index"), out);
	free(text);
	ck_assert_uint_eq(installed(), 1); /* readers trust the snapshot */
	r = check_unchanged();
	p = expect(r, "store.index-mismatch", "store/index", 0);
	ck_assert_ptr_nonnull(strstr(p->detail, "b.pkg"));
	r = fsck_run(1, -1);
	expect(r, "store.index-mismatch", "store/index", 1);
	expect_clean();
	ck_assert_uint_eq(installed(), 2);
}
END_TEST

START_TEST(test_store_blob_missing)
{
	char blob[PATH_MAX];
	const struct prob *p;
	struct run *r;

	install("a.pkg", "1.0", "package a", blob, sizeof(blob));
	ck_assert_int_eq(unlink(at(blob)), 0);
	r = check_unchanged();
	p = expect(r, "store.blob-missing", blob, 0);
	ck_assert_ptr_nonnull(strstr(p->detail, "'a.pkg' 1.0"));
	r = fsck_run(1, -1);
	expect(r, "store.blob-missing", blob, 0);
	/* Installing it again brings the content back. */
	install("a.pkg", "1.0", "package a", NULL, 0);
	expect_clean();
}
END_TEST

START_TEST(test_store_blob_damaged)
{
	char blob[PATH_MAX], moved[PATH_MAX + 128];
	const struct prob *p;
	struct run *r;

	install("a.pkg", "1.0", "package a", blob, sizeof(blob));
	install("b.pkg", "1.0", "package b", NULL, 0);
	flip_byte(at(blob), 100);
	/* Same size: only --read-data sees it. */
	r = fsck_run(0, -1);
	ck_assert_uint_eq(r->n, 0);
	r = fsck_run(2, -1);
	p = expect(r, "store.blob-damaged", blob, 0);
	ck_assert_ptr_nonnull(strstr(p->detail, "'a.pkg' 1.0"));
	ck_assert_uint_eq(r->n, 1);
	/* Repair sets it aside (so that a new install stores good content)
	 * and leaves the problem: the content is gone. */
	r = fsck_run(3, -1);
	p = expect(r, "store.blob-damaged", blob, 0);
	ck_assert(p->moved[0]);
	snprintf(moved, sizeof(moved), "%s/%s", r->sum.lost_found, blob);
	ck_assert_str_eq(p->moved, moved);
	ck_assert(exists(at(moved)));
	ck_assert(!exists(at(blob)));
	r = fsck_run(2, -1);
	expect(r, "store.blob-missing", blob, 0);
	install("a.pkg", "1.0", "package a", NULL, 0);
	r = fsck_run(2, -1);
	ck_assert_uint_eq(r->n, 0);
}
END_TEST

START_TEST(test_store_unreferenced_and_stray)
{
	static const char content[] = "content nobody installed";
	XXH128_canonical_t cn;
	char hex[33], rel[128], dir[PATH_MAX];
	struct run *r;
	int i;

	install("a.pkg", "1.0", "package a", NULL, 0);
	XXH128_canonicalFromHash(&cn, XXH3_128bits(content, sizeof(content) - 1));
	for (i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", cn.digest[i]);
	ck_assert(snprintf(dir, sizeof(dir), "%s/store/blobs/%.2s/%.2s", root,
			   hex, hex + 2) < (int)sizeof(dir));
	ck_assert_int_eq(cohort__os_mkdir_p(dir, 0755), 0);
	snprintf(rel, sizeof(rel), "store/blobs/%.2s/%.2s/%s", hex, hex + 2, hex);
	write_str(at(rel), content);
	write_str(at("store/blobs/not-a-blob"), "?");
	/* Young: an install may be about to index it. */
	r = fsck_run(0, -1);
	ck_assert_uint_eq(r->n, 0);
	age_file(at(rel), 7200);
	age_file(at("store/blobs/not-a-blob"), 7200);
	r = check_unchanged();
	expect(r, "store.blob-unreferenced", rel, 0);
	expect(r, "store.stray", "store/blobs/not-a-blob", 0);
	ck_assert_uint_eq(r->n, 2);
	r = fsck_run(3, -1);
	expect(r, "store.blob-unreferenced", rel, 1);
	expect(r, "store.stray", "store/blobs/not-a-blob", 1);
	manifest_has(r, rel);
	expect_clean();
	ck_assert_uint_eq(installed(), 1);
}
END_TEST

/* The journal no longer starts at revision 1 (a janitor trimmed it) and
 * the index snapshot is gone: the index cannot be rebuilt. */
START_TEST(test_store_index_trimmed)
{
	struct cohort__head h;
	unsigned char hdr[JSEG_HDR], slot[JHEAD_SLOT];
	uint64_t first2;
	const struct prob *p;
	struct run *r;
	int fd;

	open_node("[journal]\nsegment_size = 4096\n");
	install("a.pkg", "1.0", "package a", NULL, 0);
	append_many(120, "i");
	ck_assert_int_eq(cohort_journal_set_revision(j, head_now().rev), 0);
	{
		/* What the janitor does before it trims: a snapshot at the
		 * head. */
		cohort_store *st = NULL;
		uint64_t srev;

		ck_assert_int_eq(cohort_store_open(&st, c), 0);
		ck_assert_int_eq(cohort__store_snapshot_now(st, &srev), 0);
		ck_assert_uint_eq(srev, head_now().rev);
		cohort_store_close(st);
	}
	fd = open(at(seg_rel(2)), O_RDONLY);
	ck_assert_int_eq(pread(fd, hdr, JSEG_HDR, 0), JSEG_HDR);
	close(fd);
	ck_assert_int_eq(cohort__seg_header_check(hdr, 2, &first2), 0);
	h = head_now();
	h.tail_seg = 2;
	h.tail_rev = first2;
	h.seq++;
	cohort__head_encode(slot, &h);
	fd = open(at("journal/head"), O_WRONLY);
	ck_assert_int_eq(pwrite(fd, slot, JHEAD_SLOT,
				(off_t)cohort__head_slot_off(&h)), JHEAD_SLOT);
	close(fd);
	ck_assert_int_eq(rename(at(seg_rel(1)), at("seg-1.away")), 0);
	ck_assert_int_eq(rename(at("store/index"), at("index.away")), 0);
	r = check_unchanged();
	p = expect(r, "store.index-missing", "store/index", 0);
	ck_assert_ptr_nonnull(strstr(p->detail, "cannot be rebuilt"));
	r = fsck_run(1, -1);
	expect(r, "store.index-missing", "store/index", 0);
	/* A snapshot older than the tail: still no way to rebuild it. */
	write_empty_snapshot(first2 - 2);
	r = fsck_run(1, -1);
	expect(r, "store.index-behind", "store/index", 0);
	/* The one the janitor wrote brings it back. */
	ck_assert_int_eq(rename(at("index.away"), at("store/index")), 0);
	expect_clean();
	ck_assert_uint_eq(installed(), 1);
}
END_TEST

/* ---- a busy cluster: nothing in flight is damage ------------------------- */

/* stat of 'glitch_path' answers ENOENT 'glitches' more times. */
static char glitch_path[PATH_MAX + 64];
static int glitches;

static int glitching_statx(int dirfd, const char *path, int flags,
			   unsigned int mask, struct statx *st)
{
	if (glitches > 0 && !strcmp(path, glitch_path)) {
		glitches--;
		errno = ENOENT;
		return -1;
	}
	return cohort__sys_default.statx(dirfd, path, flags, mask, st);
}

/* One package installed, the journal trimmed past it by the janitor: the
 * index lives only in its snapshot now. */
static void trimmed_with_snapshot(void)
{
	cohort_janitor_report jr;

	memset(&jr, 0, sizeof(jr));
	open_node("[journal]\nsegment_size = 4096\n[janitor]\nmin_age = 0s\n");
	install("a.pkg", "1.0", "package a", NULL, 0);
	append_many(120, "i");
	ck_assert_int_eq(cohort_journal_set_revision(j, head_now().rev), 0);
	ck_assert_msg(cohort_janitor_run(c, NULL, &jr) == 0, "janitor: %s",
		      cohort_error_last());
	cohort_janitor_report_free(&jr);
	ck_assert_uint_gt(head_now().tail_rev, 1);
	expect_clean();
}

/*
 * The janitor (or an install) renames a new index snapshot over
 * store/index while a check-only fsck looks: on a FUSE view whose own
 * process renames, a stat can answer ENOENT for that moment (measured on
 * bindfs).  With the journal trimmed that used to read as "index snapshot
 * is missing" (exit 4) on a healthy cluster.
 */
START_TEST(test_busy_index_renamed_over)
{
	struct run *r;

	trimmed_with_snapshot();
	/* The walk's look, then four of cohort__fsck_store_begin's five. */
	snprintf(glitch_path, sizeof(glitch_path), "%s", at("store/index"));
	glitches = 5;
	cohort__sys.statx = glitching_statx;
	r = fsck_try(0);
	cohort__sys = cohort__sys_default;
	ck_assert_int_eq(r->rc, 0);
	if (r->n)
		dump(r);
	ck_assert_uint_eq(r->n, 0);
	ck_assert_int_eq(glitches, 0);
	ck_assert_uint_eq(installed(), 1);
}
END_TEST

/* open of 'glitch_path' answers ENOENT 'open_glitches' more times, and so
 * does the stat that looks right after each (the moment lasts). */
static int open_skips, open_glitches, stat_follows;

static int glitching_open(const char *path, int flags, mode_t mode)
{
	if (open_glitches > 0 && !strcmp(path, glitch_path) &&
	    open_skips-- <= 0) {
		open_glitches--;
		stat_follows = 1;
		errno = ENOENT;
		return -1;
	}
	return cohort__sys_default.open(path, flags, mode);
}

static int glitching_open_statx(int dirfd, const char *path, int flags,
				unsigned int mask, struct statx *st)
{
	if (stat_follows && !strcmp(path, glitch_path)) {
		stat_follows = 0;
		errno = ENOENT;
		return -1;
	}
	return cohort__sys_default.statx(dirfd, path, flags, mask, st);
}

/*
 * The same moment met by the read instead of the stat: the stat finds
 * store/index, the open that reads it answers ENOENT.  That used to load
 * as an empty index at revision 0, and a check-only fsck reported
 * "store.index-behind" on a healthy cluster (CI, 1 run in 162 of
 * tests/cluster/fsck.sh's busy check); 'list' failed the same way.
 */
START_TEST(test_busy_index_read_meets_rename)
{
	struct run *r;
	int k;

	trimmed_with_snapshot();
	snprintf(glitch_path, sizeof(glitch_path), "%s", at("store/index"));
	cohort__sys.open = glitching_open;
	cohort__sys.statx = glitching_open_statx;
	/* Whichever of fsck's opens of it meets the moment; 'list' too. */
	for (k = 0; k < 4; k++) {
		open_skips = k;
		open_glitches = 1;
		r = fsck_try(0);
		ck_assert_int_eq(r->rc, 0);
		if (r->n)
			dump(r);
		ck_assert_uint_eq(r->n, 0);
		open_skips = 0;
		open_glitches = 1;
		ck_assert_uint_eq(installed(), 1);
		ck_assert_int_eq(open_glitches, 0);
	}
	cohort__sys = cohort__sys_default;
	/* A snapshot that is truly gone is still reported. */
	ck_assert_int_eq(unlink(at("store/index")), 0);
	r = check_unchanged();
	expect(r, "store.index-missing", "store/index", 0);
}
END_TEST

/* open of 'release_path': before the 2nd, the file is removed (its holder
 * releases the lock between fsck's read and its pid check). */
static char release_path[PATH_MAX + 64];
static int release_opens;

static int releasing_open(const char *path, int flags, mode_t mode)
{
	if (!strcmp(path, release_path) && ++release_opens == 2)
		(void)unlink(path);
	return cohort__sys_default.open(path, flags, mode);
}

/*
 * A holder of this host that releases its lock and exits right after a
 * check-only fsck read its lease: by the time fsck asks whether the pid
 * lives it does not, yet it died holding nothing.  Not a stale lease.
 */
START_TEST(test_busy_lease_released_during_check)
{
	char lease[LEASE_SIZE];
	struct run *r;
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	format_lease(lease, "n1", cohort__os_host(), cohort__os_boot_id(),
		     (long)pid);
	write_file(at("locks/job.busy.lease"), lease, LEASE_SIZE);

	snprintf(release_path, sizeof(release_path), "%s",
		 at("locks/job.busy.lease"));
	release_opens = 0;
	cohort__sys.open = releasing_open;
	r = fsck_try(0);
	cohort__sys = cohort__sys_default;
	ck_assert_int_eq(r->rc, 0);
	if (r->n)
		dump(r);
	ck_assert_uint_eq(r->n, 0);
	ck_assert_int_ge(release_opens, 2);

	/* The same lease left in place is a dead holder's: reported. */
	write_file(at("locks/job.busy.lease"), lease, LEASE_SIZE);
	r = check_unchanged();
	expect(r, "lock.stale", "locks/job.busy.lease", 0);
}
END_TEST

struct late_publish {
	struct cohort__head h;
	int delay_ms;
};

static void *publish_later(void *arg)
{
	struct late_publish *lp = arg;
	unsigned char slot[JHEAD_SLOT];
	int fd;

	cohort__os_sleep_ms(lp->delay_ms);
	cohort__head_encode(slot, &lp->h);
	fd = open(at("journal/head"), O_WRONLY);
	if (fd >= 0) {
		(void)!pwrite(fd, slot, JHEAD_SLOT,
			      (off_t)cohort__head_slot_off(&lp->h));
		close(fd);
	}
	return NULL;
}

/*
 * A writer slow between its durable data write and its head publish (a
 * slow fsync on a loaded server): a check-only fsck that sees whole
 * commits past the head waits for the head to move before it calls them
 * unpublished.  It once waited a fixed 300 ms.
 */
START_TEST(test_busy_slow_publish)
{
	struct late_publish lp;
	struct cohort__head h;
	unsigned char buf[512];
	pthread_t t;
	struct run *r;
	size_t n;

	append_many(3, "u");
	h = head_now();
	n = cohort__rec_encode(buf, h.rev + 1, 1234, "n9", "data", "slow", 4, 1);
	append_bytes(at(seg_rel(h.seg)), buf, n);
	lp.h = h;
	lp.h.rev = h.rev + 1;
	lp.h.off = h.off + n;
	lp.h.seq = h.seq + 1;
	lp.delay_ms = 1000;
	ck_assert_int_eq(pthread_create(&t, NULL, publish_later, &lp), 0);
	r = fsck_try(0);
	pthread_join(t, NULL);
	if (r->n)
		dump(r);
	ck_assert_uint_eq(r->n, 0);
	ck_assert_uint_eq(head_now().rev, h.rev + 1);
	expect_clean();
}
END_TEST

/* Several kinds at once: repair fixes what it can, one run. */
START_TEST(test_many_at_once)
{
	struct cohort__head h;
	char *before;
	struct run *r;

	install("a.pkg", "1.0", "package a", NULL, 0);
	append_many(10, "m");
	before = all_records();
	h = head_now();
	append_bytes(at(seg_rel(h.seg)), "torn", 4);
	flip_byte(at("store/index"), 25);
	write_str(at("nodes/n1/.node.tmp.n1.1.000000000000"), "x");
	age_file(at("nodes/n1/.node.tmp.n1.1.000000000000"), 7200);
	write_str(at("stray-empty"), "");
	r = check_unchanged();
	ck_assert_uint_eq(r->n, 4);
	r = fsck_run(1, -1);
	ck_assert_uint_eq(r->n, 4);
	ck_assert_uint_eq(r->sum.repaired, 4);
	expect_clean();
	records_kept(before);
	free(before);
}
END_TEST

/* Repair waits for the journal lock like any writer: while another process
 * holds it, repair fails as an operational error after lock_timeout. */
START_TEST(test_repair_waits_for_lock)
{
	cohort_fsck_options o = COHORT_FSCK_OPTIONS_INIT;
	cohort_fsck_summary sum;
	int p[2], rc;
	pid_t pid;
	char b;

	open_node("[cluster]\nlock_timeout = 300ms\n");
	ck_assert_int_eq(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		cohort_options co = COHORT_OPTIONS_INIT;
		cohort_cluster *c2 = NULL;
		cohort_lock *l = NULL;
		char st2[PATH_MAX + 8];

		snprintf(st2, sizeof(st2), "%s2", state);
		co.root = root;
		co.node = "n2";
		co.state = st2;
		if (cohort_cluster_open(&c2, &co) ||
		    cohort_lock_acquire(&l, c2, "journal", 1000))
			_exit(1);
		(void)!write(p[1], "x", 1);
		sleep(5);
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &b, 1), 1);
	o.repair = 1;
	rc = cohort_fsck(&sum, c, &o, NULL, NULL);
	ck_assert_int_eq(rc, COHORT_ELOCKED);
	ck_assert_msg(strstr(cohort_error_last(), "journal") != NULL, "message: %s",
		      cohort_error_last());
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	/* Check-only needs no lock. */
	o.repair = 0;
	ck_assert_int_eq(cohort_fsck(&sum, c, &o, NULL, NULL), 0);
}
END_TEST

static Suite *fsck_suite(void)
{
	Suite *s = suite_create("fsck");
	TCase *tc;

	tc = tcase_create("clean");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_clean_root);
	tcase_add_test(tc, test_options);
	suite_add_tcase(s, tc);

	tc = tcase_create("journal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_unpublished_commit);
	tcase_add_test(tc, test_killed_appender);
	tcase_add_test(tc, test_committed_record_damaged);
	tcase_add_test(tc, test_sealed_segment_tail);
	tcase_add_test(tc, test_sealed_segment_short);
	tcase_add_test(tc, test_stray_segments);
	tcase_add_test(tc, test_head_damaged);
	suite_add_tcase(s, tc);

	tc = tcase_create("nodes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_revision_files);
	tcase_add_test(tc, test_node_behind);
	tcase_add_test(tc, test_heartbeat_and_instance);
	suite_add_tcase(s, tc);

	tc = tcase_create("locks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stale_lease_dead_holder);
	tcase_add_test(tc, test_stale_lease_foreign);
	tcase_add_test(tc, test_stale_break_and_leftover);
	tcase_add_test(tc, test_repair_waits_for_lock);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_temp_files);
	tcase_add_test(tc, test_zero_length_files);
	tcase_add_test(tc, test_unreadable_file);
	tcase_add_test(tc, test_layout_stat_eio_is_unreadable);
	tcase_add_test(tc, test_lost_mount_is_an_error);
	tcase_add_test(tc, test_stat_fault_sweep);
	tcase_add_test(tc, test_open_fault_sweep);
	tcase_add_test(tc, test_many_at_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_store_index_damaged);
	tcase_add_test(tc, test_store_index_mismatch);
	tcase_add_test(tc, test_store_blob_missing);
	tcase_add_test(tc, test_store_blob_damaged);
	tcase_add_test(tc, test_store_unreferenced_and_stray);
	tcase_add_test(tc, test_store_index_trimmed);
	suite_add_tcase(s, tc);

	tc = tcase_create("busy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_busy_index_renamed_over);
	tcase_add_test(tc, test_busy_index_read_meets_rename);
	tcase_add_test(tc, test_busy_lease_released_during_check);
	tcase_add_test(tc, test_busy_slow_publish);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(fsck_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
