/*
 * cohort/store.h - the extension store: packages stored once by content
 * hash on the shared root, an installed index per namespace that changes
 * only through journal records, and local copies kept identical to it.
 *
 * Calling sequence:
 *
 *	cohort_store *s;
 *	cohort_store_open(&s, c);
 *	cohort_store_install(s, "plugin.jar", &io, &pkg);   stored + indexed
 *	cohort_store_list(s, NULL, &pkgs, &n);
 *	cohort_store_materialize(s, "/opt/app/plugins", NULL, &stats);
 *	cohort_store_close(s);
 *
 * Content: 'store/blobs/ab/cd/<32 hex>' named by the XXH3-128 of the bytes,
 * written to a temp file, fsynced and renamed, so a blob name always holds
 * its whole content; identical content is stored once.  Every read
 * verifies the hash before anything is delivered.
 *
 * Index: install and uninstall are journal records (types 'store.install'
 * and 'store.uninstall'), so every node sees them in the same order and a
 * node that was down learns them when it returns.  They are decided under
 * the cluster lock 'store' against the index at the journal head (the
 * dependency checks cannot race), and the blob is durable before its
 * record is appended.  'store/index' is a snapshot of the index (atomic
 * replace, checksummed, tagged with its revision): readers load it and
 * replay only the records after it.
 */
#ifndef COHORT_STORE_H
#define COHORT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cohort_store cohort_store;

#define COHORT_PKG_ID_MAX 255
#define COHORT_PKG_VERSION_MAX 127

/* An installed package. */
typedef struct cohort_package {
	char id[COHORT_PKG_ID_MAX + 1];
	char version[COHORT_PKG_VERSION_MAX + 1];
	char ns[COHORT_PKG_ID_MAX + 1]; /* "" for the root namespace */
	int dependency;			/* installed as a dependency */
	char hash[33];			/* XXH3-128, hex */
	uint64_t size;
	int64_t installed_ms;		/* wall clock of the installing node */
	char ext[16];			/* "jar", "zip", "xar", "tar.gz", ... */
	uint64_t rev;			/* journal revision that installed it */
	char **deps;			/* declared dependency ids */
	size_t ndeps;
} cohort_package;

typedef struct cohort_install_options {
	unsigned int version;
	const char *ns;	     /* namespace; NULL: the root namespace */
	int dependency;	     /* mark installed-as-dependency */
	const char *id;	     /* override the package's own id */
	const char *pkg_version; /* override the package's own version */
	int force;	     /* install despite missing dependencies */
	const char *name;    /* file name for the extension; NULL: from path */
} cohort_install_options;

#define COHORT_INSTALL_OPTIONS_VERSION 1
#define COHORT_INSTALL_OPTIONS_INIT \
	{ COHORT_INSTALL_OPTIONS_VERSION, NULL, 0, NULL, NULL, 0, NULL }

int cohort_store_open(cohort_store **out, cohort_cluster *c);
void cohort_store_close(cohort_store *s);

/*
 * Validate the package at 'path' (every entry read; hostile or damaged
 * packages refused with the reason), store its content, and install it:
 * another version of an installed id in that namespace is upgraded.
 * '*out' (may be NULL) describes what was installed; free with
 * cohort_package_clear().  COHORT_EINVAL for a refused package or missing
 * dependencies (message names them), COHORT_EREADONLY on a read-only node.
 */
int cohort_store_install(cohort_store *s, const char *path,
			 const cohort_install_options *o, cohort_package *out);

/*
 * Uninstall 'id' from namespace 'ns' (NULL: root).  Refused while another
 * installed package depends on it (message names it) unless 'force'.
 * COHORT_ENOTFOUND when it is not installed there.
 */
int cohort_store_uninstall(cohort_store *s, const char *ns, const char *id,
			   int force);

/*
 * Installed packages: with 'ns', those of that namespace and of the root
 * namespace (which applies to every namespace); with NULL, all.  '*out' is
 * the caller's: cohort_package_list_free().  Sorted by namespace, id.
 */
int cohort_store_list(cohort_store *s, const char *ns, cohort_package **out,
		      size_t *count);

/*
 * Find an installed package by id (and version, if not NULL).  Every
 * function here refuses a namespace, id or version that fails
 * cohort_name_check() (cohort/name.h) with COHORT_EINVAL, before it reads
 * or writes anything; so does install for the names in the package's
 * metadata, and for an id and version too long together to be a file
 * name ('ID-VERSION.EXT' must fit in 164 bytes).
 */
int cohort_store_find(cohort_store *s, const char *ns, const char *id,
		      const char *version, cohort_package *out);

/*
 * Write bytes [offset, offset+length) of a package's content to 'fd'
 * (length 0: to the end), after verifying the whole content's hash:
 * nothing is written from a damaged blob (COHORT_ECORRUPT).
 */
int cohort_store_cat(cohort_store *s, const cohort_package *p,
		     uint64_t offset, uint64_t length, int fd);

typedef struct cohort_materialize_stats {
	unsigned long added, updated, removed, unchanged;
} cohort_materialize_stats;

/*
 * Make 'dir' hold exactly the installed packages ('ns' as for list), each
 * as ID-VERSION.EXT, verified against its hash, writing only what changed.
 * Files it did not place there itself are left alone; a placed file changed
 * by hand is restored.  A manifest '.cohort-materialized' in 'dir' records
 * what it placed.  When nothing changed it reads no package content.
 */
int cohort_store_materialize(cohort_store *s, const char *dir, const char *ns,
			     cohort_materialize_stats *st);

void cohort_package_clear(cohort_package *p);
void cohort_package_list_free(cohort_package *v, size_t n);

/*
 * Did the last operation that loaded the index replay past lost records
 * (journal revisions 'cohort fsck --repair' could not save, see
 * COHORT_LOST_TYPE) that the index snapshot does not cover?  Then a
 * package installed or uninstalled there may be missing from the index or
 * listed wrongly, and nothing can tell which: installing it again (then
 * materializing) makes it right.  Returns 1 and the revisions' span, or 0.
 */
int cohort_store_lost(cohort_store *s, uint64_t *first, uint64_t *last);

#ifdef __cplusplus
}
#endif
#endif
