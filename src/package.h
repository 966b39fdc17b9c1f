/*
 * package.h - reading a package (jar, zip, xar, tar, tar.gz/bz2/xz) with
 * libarchive: validation of every entry, refusal of hostile content, and
 * its id, version and dependencies from its own metadata (internal).
 *
 * The whole file passes once, in order, through a sink, so the store hashes
 * and copies it in the same pass that validates it.
 */
#ifndef COHORT_PACKAGE_H
#define COHORT_PACKAGE_H

#include <stddef.h>
#include <stdint.h>

/* Largest metadata entry (MANIFEST.MF, XML descriptors) accepted. */
#define COHORT__META_MAX (1u << 20)
/* Largest expansion ratio of a metadata entry (zip bomb guard). */
#define COHORT__META_RATIO 1000
/* A whole package is refused once its entries' data passes this many
 * bytes while expanding more than COHORT__PKG_RATIO times the file bytes
 * read so far (a decompression bomb in any entry, or a bzip2/xz stream
 * around a tar). */
#define COHORT__PKG_RATIO 1000
#define COHORT__PKG_RATIO_FLOOR (64ull << 20)
/* Most entries a package may have (each costs memory while checking). */
#define COHORT__PKG_ENTRIES_MAX (1u << 20)
#define COHORT__PKG_ID_MAX 255
#define COHORT__PKG_VERSION_MAX 127

struct cohort__pkg_meta {
	char id[COHORT__PKG_ID_MAX + 1];	     /* "" if none found */
	char version[COHORT__PKG_VERSION_MAX + 1];  /* "" if none found */
	char **deps;	  /* dependency ids (owned; cohort__pkg_meta_free) */
	size_t ndeps;
	char ext[16];	  /* file extension to materialize with: "jar", ... */
	char source[32];  /* where the id came from: "extension.xed", ... */
	uint64_t entries; /* entries read */
	uint64_t bytes;	  /* bytes of the file (all passed through the sink) */
};

/* Called with each chunk of the file's raw bytes, in order; non-zero
 * aborts the inspection and is returned. */
typedef int (*cohort__pkg_sink)(const void *buf, size_t len, void *arg);

/*
 * Read the whole package from 'fd' (at offset 0), reading every entry's
 * data so that truncation and CRC damage are found; refuse entries with
 * absolute paths, '..' components, or links pointing outside (or anything
 * going through a symlink); refuse a metadata entry over COHORT__META_MAX
 * or expanding more than COHORT__META_RATIO times, and a package whose
 * data expands more than COHORT__PKG_RATIO times past
 * COHORT__PKG_RATIO_FLOOR; refuse devices, encrypted entries, a metadata
 * file found twice, and a zip whose central directory disagrees with its
 * local headers or is followed by other data (Java reads a zip by its
 * central directory, this reader by its local headers: they must agree).
 * Ids, versions and dependencies must pass cohort__pkg_name_valid.
 * 'name' (the file name as given by the user) hints the extension; it is
 * used when it agrees with what the file is.  Every byte of the file,
 * including any past a tar's end, goes through 'sink' (may be NULL)
 * exactly once, in order; a non-zero return from the sink is returned.
 * Returns 0, or COHORT_EINVAL with a message that says why the package is
 * refused ("package 'x.jar' refused: entry '../evil' leaves the package",
 * "package 'x.zip' is damaged: entry 'a': ZIP bad CRC ...", "... is not a
 * package archive ..."), or an I/O error.  On failure '*m' is empty but
 * for 'entries'.  Missing id/version are not an error here: the caller
 * decides (--id/--version).  Thread-safe (the thread's locale is switched
 * to C.UTF-8 while reading, for entry names, and restored).
 */
int cohort__pkg_inspect(struct cohort__pkg_meta *m, int fd, const char *name,
			cohort__pkg_sink sink, void *arg);
void cohort__pkg_meta_free(struct cohort__pkg_meta *m);

/*
 * The metadata parsers, on an entry's bytes (for tests and fuzzing).  Each
 * fills what it finds and leaves the rest; returns 0, or COHORT_EINVAL for
 * malformed input (message says what).  They do not judge names (the
 * inspection does, with cohort__pkg_name_valid), except that the manifest
 * takes an Implementation-Title as the id only when it is a safe name (it
 * is mostly a title, "Maven Core").  A package.xml whose root is not
 * <package> (another tool's file) says nothing; a DOCTYPE is malformed.
 */
int cohort__parse_manifest(struct cohort__pkg_meta *m, const char *text,
			   size_t len);
int cohort__parse_xed(struct cohort__pkg_meta *m, const char *xml, size_t len);
int cohort__parse_package_xml(struct cohort__pkg_meta *m, const char *xml,
			      size_t len);
int cohort__parse_rhq_plugin(struct cohort__pkg_meta *m, const char *xml,
			     size_t len);

/*
 * 1 if 's' is safe as an id, version or namespace and as a file-name
 * component: 1-'max' (at most 255) of A-Za-z0-9._:+~@- , not starting
 * with '.' or '-', no "..".  (XWiki ids look like "org.xwiki.contrib:foo".)
 * The rule of COHORT_NAME_PACKAGE in cohort/name.h; sets no error
 * (name.c).
 */
int cohort__pkg_name_valid(const char *s, size_t max);

#endif
