/*
 * fixture.h - the fixture code the Check suites share: test folders and
 * their removal, small file helpers, archives (libarchive or by hand),
 * opening node "n1" and running a suite.
 *
 * Two ways to get a fresh folder per test, both still in use:
 *
 *   - make_tmp() in setup(), remove_tmp() in teardown(): "PARENT/NAME.XXXXXX"
 *     ($TMPDIR, else /tmp, when PARENT is NULL), also removed by atexit().
 *     test_janitor.c makes them under a folder of its own that main()
 *     removes, for the tests that end without running either.
 *   - make_run_dir() in main(), make_test_dir() in setup(), rm_rf() of the
 *     test folder in teardown() and of the run folder when main() is done.
 *
 * Every helper fails the running test (ck_assert) rather than return an
 * error, except where its comment says otherwise.
 */
#ifndef COHORT_TESTS_COMMON_H
#define COHORT_TESTS_COMMON_H

#include <check.h>
#include <stddef.h>

#include "cohort.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- folders ------------------------------------------------------------ */

/* Remove 'path' and everything below it; links are not followed, errors
 * are ignored. */
void rm_rf(const char *path);

/* make_tmp() flags. */
enum {
	/* Only the process that called make_tmp() removes the folder: a
	 * forked child that exits leaves it to its parent. */
	TMP_OWNER_ONLY = 1,
};

/*
 * Make 'buf' ('size' bytes) a new folder "PARENT/NAME.XXXXXX", PARENT
 * being $TMPDIR (or /tmp when unset or empty) if 'parent' is NULL.  The
 * first call registers remove_tmp() with atexit().  'buf' must stay valid
 * until remove_tmp().
 */
void make_tmp(char *buf, size_t size, const char *parent, const char *name,
	      int flags);

/* Remove the folder of the last make_tmp() and empty its name. */
void remove_tmp(void);

/*
 * Make 'buf' ('size' bytes) the run folder "/tmp/cohort-test-SUITE-XXXXXX"
 * in which make_test_dir() makes each test's folder.  Outside a test:
 * returns 0, or -1 after printing why on stderr.
 */
int make_run_dir(char *buf, size_t size, const char *suite);

/* Make 'buf' ('size' bytes) a new folder "RUN_DIR/t-XXXXXX". */
void make_test_dir(char *buf, size_t size, const char *run_dir);

/* "BASE/NAME", in one of 8 buffers used in turn: valid until the 8th
 * call after. */
const char *under(const char *base, const char *name);

/* ---- files -------------------------------------------------------------- */

/* Whether 'path' exists (a dangling symlink does). */
int exists(const char *path);

/* Write 'text' to 'path', replacing it. */
void write_text(const char *path, const char *text);

/* The bytes of 'path' and their number in '*len', followed by a NUL (the
 * caller's, freed with free()). */
unsigned char *slurp(const char *path, size_t *len);

/* Write 'n' bytes at 'b' to 'path', replacing it. */
void spit(const char *path, const void *b, size_t n);

/* Fail unless cohort_error_last() holds 'needle'. */
void assert_msg_has(const char *needle);

/* ---- archives ----------------------------------------------------------- */

enum { REG = 0, DIR_, SYMLINK, HARDLINK, CHARDEV, BLKDEV, FIFO };

struct ent {
	const char *name;
	const char *data; /* NULL: empty */
	size_t len;	  /* 0: strlen(data) */
	int type;
	const char *link; /* symlink or hardlink target */
};

/* A regular file entry. */
#define F(name, data) { (name), (data), 0, REG, NULL }

/* The permission bits and device number write_archive() gives entries;
 * regular files and hard links get 0644. */
struct ent_look {
	unsigned int dir_perm;
	unsigned int symlink_perm;
	unsigned long rdev; /* character and block devices */
};

/*
 * Write 'path' as a 'fmt' ("zip", else a pax tar) archive of the 'n'
 * entries 'e', through 'filter' (ARCHIVE_FILTER_NONE, _GZIP, _BZIP2, _XZ)
 * with libarchive write options 'opts' (may be NULL); every entry's mtime
 * is 1700000000.
 */
void write_archive(const char *path, const char *fmt, int filter,
		   const char *opts, const struct ent *e, size_t n,
		   const struct ent_look *look);

/*
 * Write 'path' as a zip written by hand, as 'zip' writes one when it can
 * seek: stored entries with their CRC and sizes in the local headers, the
 * central directory, the end record.  (libarchive's writer puts them after
 * the data, where a damaged byte reads as a missing descriptor instead.)
 */
void write_stored_zip(const char *path, const struct ent *e, size_t n);

/* ---- nodes ------------------------------------------------------------ */

/*
 * Open the cluster at 'root' as node "n1" with the state folder 'state'
 * into '*c', join it and open its journal into '*j' and, unless 's' is
 * NULL, its store into '*s'.
 */
void open_joined_node(cohort_cluster **c, cohort_journal **j,
		      cohort_store **s, const char *root, const char *state);

/* ---- running ------------------------------------------------------------ */

/* Run 'su' (CK_NORMAL) and free it; returns the number of failed tests. */
int run_suite(Suite *su);

#endif
