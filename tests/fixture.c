/*
 * fixture.c - the fixture code the Check suites share (see fixture.h).
 */
#define _GNU_SOURCE 1
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cohort.h"
#include "fixture.h"

/* ---- folders ------------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void rm_rf(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmp_path;
static int tmp_flags;
static pid_t tmp_owner;

void make_tmp(char *buf, size_t size, const char *parent, const char *name,
	      int flags)
{
	static int cleanup_registered;
	const char *t = getenv("TMPDIR");

	if (!parent)
		parent = t && *t ? t : "/tmp";
	tmp_path = buf;
	tmp_flags = flags;
	tmp_owner = getpid();
	snprintf(buf, size, "%s/%s.XXXXXX", parent, name);
	ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp: %s", strerror(errno));
	if (!cleanup_registered) {
		atexit(remove_tmp); /* also when a test ends early */
		cleanup_registered = 1;
	}
}

void remove_tmp(void)
{
	if (!tmp_path)
		return;
	if ((tmp_flags & TMP_OWNER_ONLY) && getpid() != tmp_owner)
		return;
	if (tmp_path[0])
		rm_rf(tmp_path);
	tmp_path[0] = '\0';
}

int make_run_dir(char *buf, size_t size, const char *suite)
{
	snprintf(buf, size, "/tmp/cohort-test-%s-XXXXXX", suite);
	if (!mkdtemp(buf)) {
		perror("cohort test: mkdtemp");
		return -1;
	}
	return 0;
}

void make_test_dir(char *buf, size_t size, const char *run_dir)
{
	ck_assert(snprintf(buf, size, "%s/t-XXXXXX", run_dir) < (int)size);
	ck_assert_ptr_nonnull(mkdtemp(buf));
}

const char *under(const char *base, const char *name)
{
	static char ring[8][PATH_MAX];
	static unsigned int next;
	char *b = ring[next++ % 8];
	int n = snprintf(b, PATH_MAX, "%s/%s", base, name);

	ck_assert(n > 0 && n < PATH_MAX);
	return b;
}

/* ---- files -------------------------------------------------------------- */

int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "cannot write '%s': %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long n;

	ck_assert_msg(f != NULL, "cannot read '%s': %s", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert(n >= 0);
	ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
	b = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return b;
}

void spit(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "cannot write '%s': %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(b, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

void assert_msg_has(const char *needle)
{
	ck_assert_msg(strstr(cohort_error_last(), needle) != NULL,
		      "message '%s' lacks '%s'", cohort_error_last(), needle);
}

/* ---- archives ----------------------------------------------------------- */

/* Set the type, permission bits and link of 'en' from 'e'; returns the
 * number of data bytes the entry carries. */
static size_t set_type(struct archive_entry *en, const struct ent *e,
		       const struct ent_look *look)
{
	size_t len = e->data ? (e->len ? e->len : strlen(e->data)) : 0;

	switch (e->type) {
	case DIR_:
		archive_entry_set_filetype(en, AE_IFDIR);
		archive_entry_set_perm(en, look->dir_perm);
		return 0;
	case SYMLINK:
		archive_entry_set_filetype(en, AE_IFLNK);
		archive_entry_set_perm(en, look->symlink_perm);
		archive_entry_set_symlink(en, e->link);
		return 0;
	case HARDLINK:
		archive_entry_set_filetype(en, AE_IFREG);
		archive_entry_set_perm(en, 0644);
		archive_entry_set_hardlink(en, e->link);
		return 0;
	case CHARDEV:
	case BLKDEV:
		archive_entry_set_filetype(en, e->type == CHARDEV ? AE_IFCHR :
								    AE_IFBLK);
		archive_entry_set_perm(en, 0644);
		archive_entry_set_rdev(en, (dev_t)look->rdev);
		return 0;
	case FIFO:
		archive_entry_set_filetype(en, AE_IFIFO);
		archive_entry_set_perm(en, 0644);
		return 0;
	default:
		archive_entry_set_filetype(en, AE_IFREG);
		archive_entry_set_perm(en, 0644);
		return len;
	}
}

void write_archive(const char *path, const char *fmt, int filter,
		   const char *opts, const struct ent *e, size_t n,
		   const struct ent_look *look)
{
	struct archive *a = archive_write_new();
	size_t i;

	ck_assert_ptr_nonnull(a);
	if (!strcmp(fmt, "zip"))
		ck_assert_int_eq(archive_write_set_format_zip(a), ARCHIVE_OK);
	else
		ck_assert_int_eq(archive_write_set_format_pax_restricted(a),
				 ARCHIVE_OK);
	if (filter == ARCHIVE_FILTER_GZIP)
		ck_assert_int_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	else if (filter == ARCHIVE_FILTER_BZIP2)
		ck_assert_int_eq(archive_write_add_filter_bzip2(a), ARCHIVE_OK);
	else if (filter == ARCHIVE_FILTER_XZ)
		ck_assert_int_eq(archive_write_add_filter_xz(a), ARCHIVE_OK);
	if (opts)
		ck_assert_msg(archive_write_set_options(a, opts) == ARCHIVE_OK,
			      "options '%s': %s", opts, archive_error_string(a));
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		struct archive_entry *en = archive_entry_new();
		size_t len;

		archive_entry_set_pathname(en, e[i].name);
		archive_entry_set_mtime(en, 1700000000, 0);
		len = set_type(en, &e[i], look);
		archive_entry_set_size(en, (la_int64_t)len);
		ck_assert_msg(archive_write_header(a, en) >= ARCHIVE_WARN,
			      "header '%s': %s", e[i].name,
			      archive_error_string(a));
		if (len)
			ck_assert_int_eq(archive_write_data(a, e[i].data, len),
					 (la_ssize_t)len);
		archive_entry_free(en);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static uint32_t crc32_of(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= b[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

void write_stored_zip(const char *path, const struct ent *e, size_t n)
{
	unsigned char *out = malloc(1 << 20), *cd = malloc(1 << 16);
	size_t o = 0, c = 0, i;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(cd);
	for (i = 0; i < n; i++) {
		size_t nl = strlen(e[i].name);
		size_t len = e[i].data ? (e[i].len ? e[i].len : strlen(e[i].data)) : 0;
		uint32_t crc = crc32_of(e[i].data ? e[i].data : "", len);

		ck_assert_uint_lt(o + 30 + nl + len, 1 << 20);
		memset(out + o, 0, 30);
		memcpy(out + o, "PK\003\004", 4);
		put16(out + o + 4, 10);
		put32(out + o + 14, crc);
		put32(out + o + 18, (uint32_t)len);
		put32(out + o + 22, (uint32_t)len);
		put16(out + o + 26, (unsigned)nl);
		memcpy(out + o + 30, e[i].name, nl);
		if (len)
			memcpy(out + o + 30 + nl, e[i].data, len);
		memset(cd + c, 0, 46);
		memcpy(cd + c, "PK\001\002", 4);
		put16(cd + c + 4, 0x031e); /* made by Unix */
		put16(cd + c + 6, 10);
		put32(cd + c + 16, crc);
		put32(cd + c + 20, (uint32_t)len);
		put32(cd + c + 24, (uint32_t)len);
		put16(cd + c + 28, (unsigned)nl);
		put32(cd + c + 38, (uint32_t)0100644 << 16);
		put32(cd + c + 42, (uint32_t)o);
		memcpy(cd + c + 46, e[i].name, nl);
		c += 46 + nl;
		o += 30 + nl + len;
	}
	memcpy(out + o, cd, c);
	memset(out + o + c, 0, 22);
	memcpy(out + o + c, "PK\005\006", 4);
	put16(out + o + c + 8, (unsigned)n);
	put16(out + o + c + 10, (unsigned)n);
	put32(out + o + c + 12, (uint32_t)c);
	put32(out + o + c + 16, (uint32_t)o);
	spit(path, out, o + c + 22);
	free(out);
	free(cd);
}

/* ---- nodes ------------------------------------------------------------ */

void open_joined_node(cohort_cluster **c, cohort_journal **j,
		      cohort_store **s, const char *root, const char *state)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	int rc;

	o.root = root;
	o.node = "n1";
	o.state = state;
	rc = cohort_cluster_open(c, &o);
	ck_assert_msg(rc == 0, "cluster_open: %s", cohort_error_last());
	rc = cohort_node_join(*c, &jo);
	ck_assert_msg(rc == 0, "node_join: %s", cohort_error_last());
	rc = cohort_journal_open(j, *c);
	ck_assert_msg(rc == 0, "journal_open: %s", cohort_error_last());
	if (!s)
		return;
	rc = cohort_store_open(s, *c);
	ck_assert_msg(rc == 0, "store_open: %s", cohort_error_last());
}

/* ---- running ------------------------------------------------------------ */

int run_suite(Suite *su)
{
	SRunner *sr = srunner_create(su);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed;
}
