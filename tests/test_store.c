/*
 * test_store.c - the extension store: install (metadata and overrides),
 * content stored once, upgrade, dependencies on install and uninstall,
 * list per namespace, cat (ranges, damaged blobs), materialize (counts,
 * nothing read when nothing changed, hand edits, foreign files, damaged
 * blobs), the index snapshot (used, damaged, rebuilt from the journal),
 * hostile and foreign packages, and a read-only node.
 *
 * Every test gets a fresh temporary folder holding a cluster root, the
 * node's state folder, a folder for packages made at test time with
 * libarchive's write API, and an open cluster handle (node "n1", joined),
 * journal and store.
 *
 * The tcase 'regressions' holds tests of library bugs this suite found.
 */
#define _GNU_SOURCE 1
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "cohort.h"
#include "fixture.h"
#include "os/os.h"

/* ---- fixture ------------------------------------------------------------ */

static char tmp[1024], root[1100], state[1100],
	pkgs[1100], blobs[1200], snap[1200];
static cohort_cluster *c;
static cohort_journal *j;
static cohort_store *s;
/* Paths made by at(), valid for the whole test (emptied by setup()). */
static char at_pool[512][PATH_MAX];
static unsigned int at_next;

static void close_node(void)
{
	cohort_store_close(s);
	s = NULL;
	cohort_journal_close(j);
	j = NULL;
	cohort_cluster_close(c);
	c = NULL;
}

static void open_node(void)
{
	close_node();
	open_joined_node(&c, &j, &s, root, state);
}

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1];
	int rc;

	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	at_next = 0;
	make_tmp(tmp, sizeof(tmp), NULL, "cohort-store", 0);
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(pkgs, sizeof(pkgs), "%s/pkgs", tmp);
	snprintf(blobs, sizeof(blobs), "%s/store/blobs", root);
	snprintf(snap, sizeof(snap), "%s/store/index", root);
	ck_assert_int_eq(mkdir(pkgs, 0755), 0);
	rc = cohort_cluster_init(id, root);
	ck_assert_msg(rc == 0, "cluster_init: %s", cohort_error_last());
	open_node();
}

static void teardown(void)
{
	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	close_node();
	remove_tmp();
}

/* ---- small helpers ------------------------------------------------------ */

/* A path under the test folder. */

static const char *at(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *at(const char *fmt, ...)
{
	char *b;
	va_list ap;
	int n;

	ck_assert_msg(at_next < N(at_pool), "at(): pool exhausted");
	b = at_pool[at_next++];
	n = snprintf(b, PATH_MAX, "%s/", tmp);

	va_start(ap, fmt);
	n += vsnprintf(b + n, PATH_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	ck_assert(n > 0 && n < PATH_MAX);
	return b;
}

static void assert_same_file(const char *a, const char *b)
{
	size_t na, nb;
	unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);

	ck_assert_msg(na == nb && memcmp(x, y, na) == 0,
		      "'%s' (%zu bytes) and '%s' (%zu bytes) differ", a, na, b,
		      nb);
	free(x);
	free(y);
}

static uint64_t head(void)
{
	uint64_t t, h;
	int rc = cohort_journal_bounds(j, &t, &h);

	ck_assert_msg(rc == 0, "journal_bounds: %s", cohort_error_last());
	return h;
}

/* ---- building packages -------------------------------------------------- */

/* Write pkgs/NAME as a zip ("zip") or a tar.gz ("tgz") archive. */
static const char *mk(const char *name, const char *fmt, const struct ent *e,
		      size_t n)
{
	static const struct ent_look look = { 0755, 0777, 0 };
	const char *path = at("pkgs/%s", name);

	write_archive(path, fmt,
		      strcmp(fmt, "zip") ? ARCHIVE_FILTER_GZIP :
					   ARCHIVE_FILTER_NONE,
		      NULL, e, n, &look);
	return path;
}

/*
 * An XWiki extension jar pkgs/NAME: META-INF/MANIFEST.MF, an
 * extension.xed with 'id', 'version' and the dependencies 'deps'
 * (NULL-terminated, may be NULL), and a class file holding 'payload' so
 * that packages differ in content.
 */
static const char *jar(const char *name, const char *id, const char *version,
		       const char *const *deps, const char *payload)
{
	char xed[4096];
	size_t n;
	struct ent e[4] = {
		{ "META-INF/", NULL, 0, DIR_, NULL },
		F("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"
					  "Created-By: test_store\n"),
		F("META-INF/extension.xed", NULL),
		F("org/example/Payload.class", NULL),
	};

	n = (size_t)snprintf(xed, sizeof(xed),
			     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			     "<extension>\n  <id>%s</id>\n  <version>%s</version>\n"
			     "  <type>jar</type>\n  <dependencies>\n",
			     id, version);
	for (; deps && *deps; deps++)
		n += (size_t)snprintf(xed + n, sizeof(xed) - n,
				      "    <dependency><id>%s</id></dependency>\n",
				      *deps);
	n += (size_t)snprintf(xed + n, sizeof(xed) - n,
			      "  </dependencies>\n</extension>\n");
	ck_assert_uint_lt(n, sizeof(xed));
	e[2].data = xed;
	e[3].data = payload;
	return mk(name, "zip", e, N(e));
}

/* A zip without metadata. */
static const char *plain_zip(const char *name, const char *payload)
{
	const struct ent e[] = { F("README", "no metadata here\n"),
				 F("data.txt", payload) };

	return mk(name, "zip", e, N(e));
}

/* ---- the store ---------------------------------------------------------- */

struct inst {
	const char *ns, *id, *version;
	int dependency, force;
};

/* Install 'path' with options; '*out' (may be NULL) gets the package. */
static int install_opt(const char *path, const struct inst *in,
		       cohort_package *out)
{
	cohort_install_options o = COHORT_INSTALL_OPTIONS_INIT;

	if (in) {
		o.ns = in->ns;
		o.id = in->id;
		o.pkg_version = in->version;
		o.dependency = in->dependency;
		o.force = in->force;
	}
	return cohort_store_install(s, path, &o, out);
}

#define INSTALL_OK(path, in, out)                                          \
	do {                                                               \
		int rc_ = install_opt((path), (in), (out));                \
		ck_assert_msg(rc_ == 0, "install '%s': %d %s", (path), rc_, \
			      cohort_error_last());                        \
	} while (0)

static int install_ns(const char *path, const char *ns)
{
	struct inst in = { ns, NULL, NULL, 0, 0 };

	return install_opt(path, &in, NULL);
}

/*
 * The list as one string, "NS:ID@VERSION" ("-" for the root namespace)
 * separated by spaces, in list order.
 */
static const char *list_str(const char *ns)
{
	static char out[8192];
	cohort_package *v = NULL;
	size_t n = 0, i, len = 0;
	int rc = cohort_store_list(s, ns, &v, &n);

	ck_assert_msg(rc == 0, "list: %s", cohort_error_last());
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s:%s@%s",
					i ? " " : "", v[i].ns[0] ? v[i].ns : "-",
					v[i].id, v[i].version);
		ck_assert_uint_lt(len, sizeof(out));
	}
	cohort_package_list_free(v, n);
	return out;
}

static void blob_path(char *buf, size_t size, const char *hash)
{
	int n = snprintf(buf, size, "%s/%.2s/%.2s/%s", blobs, hash, hash + 2,
			 hash);

	ck_assert(n > 0 && (size_t)n < size);
}

/* Files under store/blobs: all regular files, and those named as a blob
 * at their shard ('ab/cd/abcd...'). */
static unsigned long count_files, count_blobs;

static int count_one(const char *path, const struct stat *st, int flag,
		     struct FTW *ftw)
{
	const char *base = path + ftw->base;

	(void)st;
	if (flag != FTW_F)
		return 0;
	count_files++;
	if (ftw->level == 3 && strlen(base) == 32 &&
	    strspn(base, "0123456789abcdef") == 32 &&
	    !strncmp(path + ftw->base - 6, base, 2) &&
	    !strncmp(path + ftw->base - 3, base + 2, 2))
		count_blobs++;
	return 0;
}

static void count_store(void)
{
	count_files = count_blobs = 0;
	if (exists(blobs))
		ck_assert_int_eq(nftw(blobs, count_one, 16, FTW_PHYS), 0);
}

/* Flip one byte of the file in the middle. */
static void flip_byte(const char *path)
{
	size_t n;
	unsigned char *b = slurp(path, &n);

	ck_assert_uint_gt(n, 0);
	b[n / 2] ^= 0x5a;
	spit(path, b, n);
	free(b);
}

/* A temporary file for cat's output; returns its fd, 'path' gets its name. */
static int out_file(const char *name, const char **path)
{
	int fd;

	*path = at("%s", name);
	fd = open(*path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static off_t fd_size(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return st.st_size;
}

/* Count (and optionally deny) opens of anything under store/blobs. */
static unsigned long blob_opens;
static int deny_blob_opens;

static int watching_open(const char *path, int flags, mode_t mode)
{
	if (strstr(path, "/store/blobs/")) {
		blob_opens++;
		if (deny_blob_opens) {
			errno = EACCES;
			return -1;
		}
	}
	return cohort__sys_default.open(path, flags, mode);
}

static int materialize(const char *dir, const char *ns,
		       cohort_materialize_stats *st)
{
	return cohort_store_materialize(s, dir, ns, st);
}

#define MATERIALIZE_OK(dir, ns, st)                                        \
	do {                                                               \
		int rc_ = materialize((dir), (ns), (st));                  \
		ck_assert_msg(rc_ == 0, "materialize '%s': %d %s", (dir),   \
			      rc_, cohort_error_last());                   \
	} while (0)

#define STATS_EQ(st, a, u, r, k)                                           \
	ck_assert_msg((st).added == (a) && (st).updated == (u) &&          \
			      (st).removed == (r) && (st).unchanged == (k), \
		      "stats %lu added, %lu updated, %lu removed, %lu "    \
		      "unchanged; want %d, %d, %d, %d",                    \
		      (st).added, (st).updated, (st).removed, (st).unchanged, \
		      (a), (u), (r), (k))

/* The names in a folder (not starting with '.'), sorted, space-separated. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *dir_names(const char *dir, int with_hidden)
{
	static char out[8192];
	char *names[256];
	size_t n = 0, i, len = 0;
	struct dirent *d;
	DIR *dh = opendir(dir);

	ck_assert_msg(dh != NULL, "opendir '%s': %s", dir, strerror(errno));
	while ((d = readdir(dh))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (!with_hidden && d->d_name[0] == '.')
			continue;
		ck_assert_uint_lt(n, N(names));
		names[n++] = strdup(d->d_name);
	}
	closedir(dh);
	qsort(names, n, sizeof(names[0]), cmp_str);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s",
					i ? " " : "", names[i]);
		free(names[i]);
	}
	return out;
}

/* ---- install ------------------------------------------------------------ */

START_TEST(install_from_metadata)
{
	static const char *const deps[] = { "org.slf4j:slf4j-api", NULL };
	const char *p = jar("foo-1.2.3.jar", "org.xwiki.contrib:foo", "1.2.3",
			    deps, "foo one");
	cohort_package pk;
	char bp[PATH_MAX];
	struct stat st;
	uint64_t h0 = head();
	int64_t t0 = cohort__os_wall_ms();
	struct inst force = { NULL, NULL, NULL, 0, 1 };
	const struct ent mf[] = {
		F("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"
					  "Bundle-SymbolicName: org.example.bundle;"
					  "singleton:=true\n"
					  "Bundle-Version: 4.5.6\n"),
		F("org/example/A.class", "\xca\xfe"),
	};

	memset(&pk, 0, sizeof(pk));
	INSTALL_OK(p, &force, &pk);
	ck_assert_str_eq(pk.id, "org.xwiki.contrib:foo");
	ck_assert_str_eq(pk.version, "1.2.3");
	ck_assert_str_eq(pk.ns, "");
	ck_assert_str_eq(pk.ext, "jar");
	ck_assert_int_eq(pk.dependency, 0);
	ck_assert_uint_eq(pk.ndeps, 1);
	ck_assert_str_eq(pk.deps[0], "org.slf4j:slf4j-api");
	ck_assert_uint_eq(strlen(pk.hash), 32);
	ck_assert_uint_eq(strspn(pk.hash, "0123456789abcdef"), 32);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(pk.size, (uint64_t)st.st_size);
	ck_assert_int_ge(pk.installed_ms, t0);
	ck_assert_int_le(pk.installed_ms, cohort__os_wall_ms());
	/* One journal record, and the package's revision is it. */
	ck_assert_uint_eq(head(), h0 + 1);
	ck_assert_uint_eq(pk.rev, h0 + 1);
	/* The blob holds the file's bytes under its hash. */
	blob_path(bp, sizeof(bp), pk.hash);
	assert_same_file(bp, p);
	{
		size_t n;
		unsigned char *b = slurp(p, &n);
		XXH128_canonical_t cn;
		char hex[33];
		int i;

		XXH128_canonicalFromHash(&cn, XXH3_128bits(b, n));
		for (i = 0; i < 16; i++)
			sprintf(hex + 2 * i, "%02x", cn.digest[i]);
		ck_assert_str_eq(pk.hash, hex);
		free(b);
	}
	cohort_package_clear(&pk);

	/* Manifest-only OSGi bundle: Bundle-SymbolicName, Bundle-Version. */
	INSTALL_OK(mk("bundle.jar", "zip", mf, N(mf)), NULL, &pk);
	ck_assert_str_eq(pk.id, "org.example.bundle");
	ck_assert_str_eq(pk.version, "4.5.6");
	ck_assert_uint_eq(pk.ndeps, 0);
	cohort_package_clear(&pk);
	ck_assert_str_eq(list_str(NULL),
			 "-:org.example.bundle@4.5.6 -:org.xwiki.contrib:foo@1.2.3");
}
END_TEST

START_TEST(install_overrides)
{
	const char *p = plain_zip("plain.zip", "plain"), *q;
	struct inst in = { NULL, "my.plain", "0.9", 0, 0 };
	cohort_package pk;
	uint64_t h0 = head();

	memset(&pk, 0, sizeof(pk));
	/* No metadata and no override: refused, saying what to do. */
	ck_assert_int_eq(install_opt(p, NULL, NULL), COHORT_EINVAL);
	assert_msg_has("plain.zip");
	assert_msg_has("--id and --version");
	ck_assert_uint_eq(head(), h0);
	in.version = NULL;
	ck_assert_int_eq(install_opt(p, &in, NULL), COHORT_EINVAL);
	assert_msg_has("version");
	ck_assert_uint_eq(head(), h0);
	in.version = "0.9";

	INSTALL_OK(p, &in, &pk);
	ck_assert_str_eq(pk.id, "my.plain");
	ck_assert_str_eq(pk.version, "0.9");
	ck_assert_str_eq(pk.ext, "zip");
	cohort_package_clear(&pk);

	/* Overrides win over the package's own metadata. */
	q = jar("foo.jar", "foo", "1.0", NULL, "foo");
	in.id = "bar";
	in.version = "2.0-custom";
	INSTALL_OK(q, &in, &pk);
	ck_assert_str_eq(pk.id, "bar");
	ck_assert_str_eq(pk.version, "2.0-custom");
	cohort_package_clear(&pk);
	in.id = NULL;
	in.version = "3.0";
	INSTALL_OK(q, &in, &pk);
	ck_assert_str_eq(pk.id, "foo");
	ck_assert_str_eq(pk.version, "3.0");
	cohort_package_clear(&pk);
	ck_assert_str_eq(list_str(NULL), "-:bar@2.0-custom -:foo@3.0 -:my.plain@0.9");

	/* Unsafe overrides are refused before anything happens. */
	h0 = head();
	in.id = "../evil";
	ck_assert_int_eq(install_opt(q, &in, NULL), COHORT_EINVAL);
	assert_msg_has("../evil");
	in.id = "ok";
	in.version = "1/2";
	ck_assert_int_eq(install_opt(q, &in, NULL), COHORT_EINVAL);
	in.version = "1.0";
	in.ns = "a/b";
	ck_assert_int_eq(install_opt(q, &in, NULL), COHORT_EINVAL);
	ck_assert_uint_eq(head(), h0);
}
END_TEST

START_TEST(identical_content_stored_once)
{
	const char *p = jar("foo.jar", "foo", "1.0", NULL, "same bytes");
	const char *copy = at("pkgs/copy-of-foo.jar");
	struct inst other_id = { NULL, "foo.renamed", "1.0", 0, 0 };
	struct inst in_ns = { "ns1", NULL, NULL, 0, 0 };
	struct inst other_both = { "ns2", "foo.two", "7", 1, 0 };
	cohort_package a, b;
	size_t n;
	unsigned char *bytes;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	INSTALL_OK(p, NULL, &a);
	count_store();
	ck_assert_uint_eq(count_blobs, 1);
	ck_assert_uint_eq(count_files, 1);
	/* The same file again, a copy of it, under another id, in a
	 * namespace, and both: one blob. */
	INSTALL_OK(p, NULL, NULL);
	bytes = slurp(p, &n);
	spit(copy, bytes, n);
	free(bytes);
	INSTALL_OK(copy, NULL, NULL);
	INSTALL_OK(p, &other_id, NULL);
	INSTALL_OK(p, &in_ns, NULL);
	INSTALL_OK(copy, &other_both, &b);
	ck_assert_str_eq(b.hash, a.hash);
	count_store();
	ck_assert_uint_eq(count_blobs, 1);
	ck_assert_uint_eq(count_files, 1); /* and no temp file left */
	ck_assert_str_eq(list_str(NULL),
			 "-:foo@1.0 -:foo.renamed@1.0 ns1:foo@1.0 ns2:foo.two@7");
	/* Other content: a second blob. */
	INSTALL_OK(jar("bar.jar", "bar", "1.0", NULL, "other bytes"), NULL, NULL);
	count_store();
	ck_assert_uint_eq(count_blobs, 2);
	ck_assert_uint_eq(count_files, 2);
	cohort_package_clear(&a);
	cohort_package_clear(&b);
}
END_TEST

START_TEST(upgrade_in_namespace)
{
	const char *v1 = jar("foo-1.jar", "foo", "1.0", NULL, "foo one");
	const char *v2 = jar("foo-2.jar", "foo", "2.0", NULL, "foo two");
	cohort_package pk;

	memset(&pk, 0, sizeof(pk));
	ck_assert_int_eq(install_ns(v1, "ns1"), 0);
	ck_assert_int_eq(install_ns(v1, "ns2"), 0);
	ck_assert_int_eq(install_ns(v1, NULL), 0);
	ck_assert_int_eq(install_ns(v2, "ns1"), 0);
	ck_assert_str_eq(list_str(NULL), "-:foo@1.0 ns1:foo@2.0 ns2:foo@1.0");
	ck_assert_int_eq(cohort_store_find(s, "ns1", "foo", NULL, &pk), 0);
	ck_assert_str_eq(pk.version, "2.0");
	ck_assert_str_eq(pk.ns, "ns1");
	cohort_package_clear(&pk);
	ck_assert_int_eq(cohort_store_find(s, "ns2", "foo", NULL, &pk), 0);
	ck_assert_str_eq(pk.version, "1.0");
	ck_assert_str_eq(pk.ns, "ns2");
	cohort_package_clear(&pk);
	ck_assert_int_eq(cohort_store_find(s, "ns1", "foo", "1.0", &pk), 0);
	ck_assert_str_eq(pk.ns, ""); /* only the root one is still 1.0 */
	cohort_package_clear(&pk);
	/* Upgrading the root namespace leaves the others alone. */
	ck_assert_int_eq(install_ns(v2, NULL), 0);
	ck_assert_str_eq(list_str(NULL), "-:foo@2.0 ns1:foo@2.0 ns2:foo@1.0");
	/* And back down: "another version" replaces, whichever it is. */
	ck_assert_int_eq(install_ns(v1, "ns1"), 0);
	ck_assert_str_eq(list_str(NULL), "-:foo@2.0 ns1:foo@1.0 ns2:foo@1.0");
	ck_assert_int_eq(cohort_store_find(s, "ns1", "foo", "2.0", &pk), 0);
	ck_assert_str_eq(pk.ns, "");
	cohort_package_clear(&pk);
}
END_TEST

/* ---- dependencies ------------------------------------------------------- */

START_TEST(missing_dependency_refused_unless_forced)
{
	static const char *const deps[] = { "dep.a", "dep.b", NULL };
	const char *bar = jar("bar.jar", "bar", "1.0", deps, "bar");
	struct inst force = { NULL, NULL, NULL, 0, 1 };
	uint64_t h0 = head();
	cohort_package pk;

	memset(&pk, 0, sizeof(pk));
	ck_assert_int_eq(install_opt(bar, NULL, NULL), COHORT_EINVAL);
	assert_msg_has("'bar'");
	assert_msg_has("'dep.a'");
	ck_assert_uint_eq(head(), h0);
	ck_assert_str_eq(list_str(NULL), "");
	/* One of two present: the message names the other. */
	ck_assert_int_eq(install_ns(jar("a.jar", "dep.a", "1", NULL, "a"), NULL), 0);
	h0 = head();
	ck_assert_int_eq(install_opt(bar, NULL, NULL), COHORT_EINVAL);
	assert_msg_has("'dep.b'");
	ck_assert_msg(strstr(cohort_error_last(), "'dep.a'") == NULL,
		      "message names a dependency that is there: %s",
		      cohort_error_last());
	ck_assert_uint_eq(head(), h0);
	/* In a namespace too, and the message says where. */
	ck_assert_int_eq(install_ns(bar, "ns1"), COHORT_EINVAL);
	assert_msg_has("'dep.b'");
	assert_msg_has("ns1");
	/* --force installs it anyway, with its dependencies recorded. */
	INSTALL_OK(bar, &force, &pk);
	ck_assert_uint_eq(pk.ndeps, 2);
	cohort_package_clear(&pk);
	ck_assert_str_eq(list_str(NULL), "-:bar@1.0 -:dep.a@1");
	ck_assert_int_eq(cohort_store_find(s, NULL, "bar", NULL, &pk), 0);
	ck_assert_uint_eq(pk.ndeps, 2);
	ck_assert_str_eq(pk.deps[0], "dep.a");
	ck_assert_str_eq(pk.deps[1], "dep.b");
	cohort_package_clear(&pk);
}
END_TEST

START_TEST(root_dependency_satisfies_namespace)
{
	static const char *const deps[] = { "dep", NULL };
	const char *dep = jar("dep.jar", "dep", "1.0", NULL, "dep");
	const char *bar = jar("bar.jar", "bar", "1.0", deps, "bar");

	/* In another namespace only: not good enough. */
	ck_assert_int_eq(install_ns(dep, "ns2"), 0);
	ck_assert_int_eq(install_ns(bar, "ns1"), COHORT_EINVAL);
	assert_msg_has("'dep'");
	/* In the root namespace: applies to every namespace. */
	ck_assert_int_eq(install_ns(dep, NULL), 0);
	ck_assert_int_eq(install_ns(bar, "ns1"), 0);
	ck_assert_int_eq(install_ns(bar, "ns3"), 0);
	/* In the package's own namespace. */
	ck_assert_int_eq(install_ns(bar, "ns2"), 0);
	ck_assert_str_eq(list_str(NULL),
			 "-:dep@1.0 ns1:bar@1.0 ns2:bar@1.0 ns2:dep@1.0 ns3:bar@1.0");
}
END_TEST

START_TEST(uninstall_dependency_in_use)
{
	static const char *const deps[] = { "dep", NULL };
	const char *dep = jar("dep.jar", "dep", "1.0", NULL, "dep");
	const char *bar = jar("bar.jar", "bar", "1.0", deps, "bar");
	uint64_t h0;

	ck_assert_int_eq(install_ns(dep, "ns1"), 0);
	ck_assert_int_eq(install_ns(bar, "ns1"), 0);
	h0 = head();
	ck_assert_int_eq(cohort_store_uninstall(s, "ns1", "dep", 0), COHORT_EINVAL);
	assert_msg_has("'dep'");
	assert_msg_has("'bar'");
	ck_assert_uint_eq(head(), h0);
	ck_assert_str_eq(list_str(NULL), "ns1:bar@1.0 ns1:dep@1.0");
	/* A root install needed by a namespace's package. */
	ck_assert_int_eq(install_ns(dep, NULL), 0);
	ck_assert_int_eq(install_ns(bar, "ns2"), 0);
	h0 = head();
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "dep", 0), COHORT_EINVAL);
	assert_msg_has("'bar'");
	assert_msg_has("ns2");
	ck_assert_uint_eq(head(), h0);
	/* --force. */
	ck_assert_int_eq(cohort_store_uninstall(s, "ns1", "dep", 1), 0);
	ck_assert_uint_eq(head(), h0 + 1);
	ck_assert_str_eq(list_str(NULL), "-:dep@1.0 ns1:bar@1.0 ns2:bar@1.0");
	/* The dependent gone first, no force needed. */
	ck_assert_int_eq(cohort_store_uninstall(s, "ns2", "bar", 0), 0);
	ck_assert_int_eq(cohort_store_uninstall(s, "ns1", "bar", 0), 0);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "dep", 0), 0);
	ck_assert_str_eq(list_str(NULL), "");
}
END_TEST

START_TEST(uninstall_not_installed)
{
	uint64_t h0 = head();

	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "nothing", 0),
			 COHORT_ENOTFOUND);
	assert_msg_has("'nothing'");
	ck_assert_int_eq(install_ns(jar("foo.jar", "foo", "1", NULL, "f"), NULL), 0);
	h0 = head();
	/* Installed in the root namespace, not in ns1. */
	ck_assert_int_eq(cohort_store_uninstall(s, "ns1", "foo", 0),
			 COHORT_ENOTFOUND);
	assert_msg_has("ns1");
	ck_assert_int_eq(cohort_store_uninstall(s, "ns1", "foo", 1),
			 COHORT_ENOTFOUND);
	ck_assert_uint_eq(head(), h0);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "foo", 0), 0);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "foo", 0),
			 COHORT_ENOTFOUND);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "../x", 0), COHORT_EINVAL);
}
END_TEST

/* ---- list --------------------------------------------------------------- */

START_TEST(list_with_and_without_namespace)
{
	struct inst dep = { "ns1", NULL, NULL, 1, 0 };
	cohort_package *v = NULL;
	size_t n = 0;

	ck_assert_str_eq(list_str(NULL), "");
	ck_assert_str_eq(list_str("ns1"), "");
	ck_assert_int_eq(install_ns(jar("r.jar", "r.pkg", "1", NULL, "r"), NULL), 0);
	ck_assert_int_eq(install_ns(jar("b.jar", "b.pkg", "1", NULL, "b"), "ns2"), 0);
	INSTALL_OK(jar("a.jar", "a.pkg", "1", NULL, "a"), &dep, NULL);
	ck_assert_int_eq(install_ns(jar("z.jar", "a.pkg", "2", NULL, "z"), "ns0"), 0);
	/* Sorted by namespace (root first), then id. */
	ck_assert_str_eq(list_str(NULL),
			 "-:r.pkg@1 ns0:a.pkg@2 ns1:a.pkg@1 ns2:b.pkg@1");
	/* A namespace's list holds the root namespace's packages too. */
	ck_assert_str_eq(list_str("ns1"), "-:r.pkg@1 ns1:a.pkg@1");
	ck_assert_str_eq(list_str("ns2"), "-:r.pkg@1 ns2:b.pkg@1");
	ck_assert_str_eq(list_str("nsX"), "-:r.pkg@1");
	ck_assert_int_eq(cohort_store_list(s, "bad/ns", &v, &n), COHORT_EINVAL);
	ck_assert_int_eq(cohort_store_list(s, "ns1", &v, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(v[0].dependency, 0);
	ck_assert_int_eq(v[1].dependency, 1);
	ck_assert_str_eq(v[1].ns, "ns1");
	cohort_package_list_free(v, n);
}
END_TEST

/* ---- cat ---------------------------------------------------------------- */

/* A stored (uncompressed) zip of more than 3 MiB of pseudo-random bytes:
 * more than one copy chunk. */
static const char *big_package(size_t *size)
{
	size_t len = 3u * 1024 * 1024 + 12345, i;
	char *data = malloc(len);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct ent e[2] = { F("META-INF/extension.xed",
			      "<extension><id>big</id><version>1</version>"
			      "</extension>"),
			    { "blob.bin", NULL, 0, REG, NULL } };
	const char *p;
	struct stat st;

	ck_assert_ptr_nonnull(data);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		data[i] = (char)(x >> 24);
	}
	e[1].data = data;
	e[1].len = len;
	p = mk("big.zip", "zip", e, N(e));
	free(data);
	ck_assert_int_eq(stat(p, &st), 0);
	*size = (size_t)st.st_size;
	ck_assert_uint_gt(*size, 3u << 20);
	return p;
}

START_TEST(cat_whole_and_ranges)
{
	size_t size, n, got_n;
	const char *p = big_package(&size), *op;
	unsigned char *want, *got;
	cohort_package pk;
	static const struct {
		uint64_t off, len;
	} r[] = {
		{ 0, 0 },	   { 0, 1 },	       { 1, 10 },
		{ 1048570, 20 },   { 1048576, 1048576 }, { 100, 0 },
		{ 2000000, 5000000 }, /* length past the end: to the end */
	};
	size_t i;
	int fd;

	memset(&pk, 0, sizeof(pk));
	INSTALL_OK(p, NULL, &pk);
	want = slurp(p, &n);
	ck_assert_uint_eq(n, size);
	for (i = 0; i < N(r); i++) {
		uint64_t end = r[i].len == 0 || r[i].off + r[i].len > size ?
				       size : r[i].off + r[i].len;

		fd = out_file("cat.out", &op);
		ck_assert_msg(cohort_store_cat(s, &pk, r[i].off, r[i].len, fd) == 0,
			      "cat %llu+%llu: %s", (unsigned long long)r[i].off,
			      (unsigned long long)r[i].len, cohort_error_last());
		close(fd);
		got = slurp(op, &got_n);
		ck_assert_uint_eq(got_n, end - r[i].off);
		ck_assert_msg(memcmp(got, want + r[i].off, got_n) == 0,
			      "range %llu+%llu has other bytes",
			      (unsigned long long)r[i].off,
			      (unsigned long long)r[i].len);
		free(got);
	}
	/* Resuming at the very end: nothing left, not an error. */
	fd = out_file("cat.out", &op);
	ck_assert_int_eq(cohort_store_cat(s, &pk, size, 0, fd), 0);
	ck_assert_int_eq(fd_size(fd), 0);
	/* Past the end: an error, and nothing written. */
	ck_assert_int_eq(cohort_store_cat(s, &pk, size + 1, 0, fd), COHORT_EINVAL);
	assert_msg_has("past the end");
	ck_assert_int_eq(cohort_store_cat(s, &pk, size + 1000, 10, fd),
			 COHORT_EINVAL);
	ck_assert_int_eq(fd_size(fd), 0);
	close(fd);
	free(want);
	cohort_package_clear(&pk);
}
END_TEST

START_TEST(cat_damaged_blob_writes_nothing)
{
	size_t size;
	const char *p = big_package(&size), *op;
	cohort_package pk;
	char bp[PATH_MAX];
	int fd;

	memset(&pk, 0, sizeof(pk));
	INSTALL_OK(p, NULL, &pk);
	blob_path(bp, sizeof(bp), pk.hash);
	flip_byte(bp);
	fd = out_file("cat.out", &op);
	ck_assert_int_eq(cohort_store_cat(s, &pk, 0, 0, fd), COHORT_ECORRUPT);
	assert_msg_has("'big'");
	assert_msg_has("damaged");
	assert_msg_has(pk.hash);
	ck_assert_int_eq(fd_size(fd), 0);
	/* A range far from the damage is refused too. */
	ck_assert_int_eq(cohort_store_cat(s, &pk, 0, 10, fd), COHORT_ECORRUPT);
	ck_assert_int_eq(cohort_store_cat(s, &pk, size - 10, 10, fd),
			 COHORT_ECORRUPT);
	ck_assert_int_eq(fd_size(fd), 0);
	/* Truncated: the same. */
	ck_assert_int_eq(truncate(bp, (off_t)size / 2), 0);
	ck_assert_int_eq(cohort_store_cat(s, &pk, 0, 0, fd), COHORT_ECORRUPT);
	ck_assert_int_eq(fd_size(fd), 0);
	/* Longer, with the right bytes first: the same. */
	{
		size_t n;
		unsigned char *b = slurp(p, &n), *b2 = malloc(n + 1);

		ck_assert_ptr_nonnull(b2);
		memcpy(b2, b, n);
		b2[n] = 'x';
		spit(bp, b2, n + 1);
		ck_assert_int_eq(cohort_store_cat(s, &pk, 0, 0, fd), COHORT_ECORRUPT);
		ck_assert_int_eq(fd_size(fd), 0);
		/* Put right: delivered again. */
		spit(bp, b, n);
		ck_assert_int_eq(cohort_store_cat(s, &pk, 0, 0, fd), 0);
		ck_assert_int_eq(fd_size(fd), (off_t)n);
		free(b);
		free(b2);
	}
	/* Missing altogether. */
	ck_assert_int_eq(unlink(bp), 0);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(cohort_store_cat(s, &pk, 0, 0, fd), COHORT_ECORRUPT);
	assert_msg_has("missing");
	ck_assert_int_eq(fd_size(fd), 0);
	close(fd);
	cohort_package_clear(&pk);
}
END_TEST

/* ---- materialize -------------------------------------------------------- */

START_TEST(materialize_adds_updates_removes)
{
	const char *dir = at("plugins");
	const char *a = jar("a.jar", "a", "1.0", NULL, "a one");
	const char *b = jar("b.jar", "b", "1.0", NULL, "b one");
	const char *a_other = jar("a-other.jar", "a", "1.0", NULL, "a other content");
	const char *c_ = jar("c.jar", "c", "3", NULL, "c");
	const char *d = plain_zip("d.zip", "d");
	struct inst dver = { NULL, "d", "0.1", 0, 0 };
	cohort_materialize_stats st;

	ck_assert_int_eq(install_ns(a, NULL), 0);
	ck_assert_int_eq(install_ns(b, NULL), 0);
	INSTALL_OK(d, &dver, NULL);
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 3, 0, 0, 0);
	ck_assert_str_eq(dir_names(dir, 0), "a-1.0.jar b-1.0.jar d-0.1.zip");
	assert_same_file(at("plugins/a-1.0.jar"), a);
	assert_same_file(at("plugins/b-1.0.jar"), b);
	assert_same_file(at("plugins/d-0.1.zip"), d);
	/* a: same name, other content; b: gone; c: new; d: as it was. */
	ck_assert_int_eq(install_ns(a_other, NULL), 0);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "b", 0), 0);
	ck_assert_int_eq(install_ns(c_, NULL), 0);
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 1, 1, 1, 1);
	ck_assert_str_eq(dir_names(dir, 0), "a-1.0.jar c-3.jar d-0.1.zip");
	assert_same_file(at("plugins/a-1.0.jar"), a_other);
	assert_same_file(at("plugins/c-3.jar"), c_);
	/* An upgrade is a new name and an old one removed. */
	ck_assert_int_eq(install_ns(jar("c4.jar", "c", "4", NULL, "c4"), NULL), 0);
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 1, 0, 1, 2);
	ck_assert_str_eq(dir_names(dir, 0), "a-1.0.jar c-4.jar d-0.1.zip");
	/* Nothing left: everything it placed goes. */
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "a", 0), 0);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "c", 0), 0);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "d", 0), 0);
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 0, 0, 3, 0);
	ck_assert_str_eq(dir_names(dir, 0), "");
	/* No temp file left anywhere in DIR. */
	ck_assert_str_eq(dir_names(dir, 1), ".cohort-materialized");
}
END_TEST

START_TEST(materialize_namespace)
{
	const char *dir = at("ns1-plugins");
	cohort_materialize_stats st;

	ck_assert_int_eq(install_ns(jar("r.jar", "r", "1", NULL, "r"), NULL), 0);
	ck_assert_int_eq(install_ns(jar("a.jar", "a", "1", NULL, "a"), "ns1"), 0);
	ck_assert_int_eq(install_ns(jar("b.jar", "b", "1", NULL, "b"), "ns2"), 0);
	MATERIALIZE_OK(dir, "ns1", &st);
	STATS_EQ(st, 2, 0, 0, 0);
	ck_assert_str_eq(dir_names(dir, 0), "a-1.jar r-1.jar");
}
END_TEST

START_TEST(materialize_unchanged_reads_no_blob)
{
	const char *dir = at("plugins");
	cohort_materialize_stats st;
	int i;

	for (i = 0; i < 5; i++) {
		char name[32], id[32], payload[32];

		snprintf(name, sizeof(name), "p%d.jar", i);
		snprintf(id, sizeof(id), "pkg%d", i);
		snprintf(payload, sizeof(payload), "payload %d", i);
		ck_assert_int_eq(install_ns(jar(name, id, "1", NULL, payload),
					    i % 2 ? "ns1" : NULL), 0);
	}
	cohort__sys.open = watching_open;
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 5, 0, 0, 0);
	ck_assert_uint_ge(blob_opens, 5); /* the counter sees blob reads */
	blob_opens = 0;
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 0, 0, 0, 5);
	ck_assert_uint_eq(blob_opens, 0);
	/* With blob reads denied, still fine: it needs none. */
	deny_blob_opens = 1;
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 0, 0, 0, 5);
	ck_assert_uint_eq(blob_opens, 0);
	/* And a fresh handle (snapshot load, no cache in memory) too. */
	cohort__sys = cohort__sys_default;
	open_node();
	cohort__sys.open = watching_open;
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 0, 0, 0, 5);
	ck_assert_uint_eq(blob_opens, 0);
	/* The denial is real: a file that must be written fails. */
	ck_assert_int_eq(unlink(at("plugins/pkg0-1.jar")), 0);
	ck_assert_int_ne(materialize(dir, NULL, &st), 0);
	ck_assert_uint_ge(blob_opens, 1);
	deny_blob_opens = 0;
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 1, 0, 0, 4);
}
END_TEST

START_TEST(materialize_restores_hand_edits)
{
	const char *dir = at("plugins");
	const char *a = jar("a.jar", "a", "1", NULL, "a");
	const char *b = jar("b.jar", "b", "1", NULL, "b");
	const char *fa = at("plugins/a-1.jar"), *fb = at("plugins/b-1.jar");
	cohort_materialize_stats st;
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	FILE *f;

	ck_assert_int_eq(install_ns(a, NULL), 0);
	ck_assert_int_eq(install_ns(b, NULL), 0);
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 2, 0, 0, 0);
	/* Appended to: size changes. */
	f = fopen(fa, "ab");
	ck_assert_ptr_nonnull(f);
	fputs("junk", f);
	ck_assert_int_eq(fclose(f), 0);
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 0, 1, 0, 1);
	assert_same_file(fa, a);
	/* Rewritten in place with the same size, later than it was placed. */
	nanosleep(&pause, NULL);
	f = fopen(fb, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 10, SEEK_SET), 0);
	fputc('#', f);
	ck_assert_int_eq(fclose(f), 0);
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 0, 1, 0, 1);
	assert_same_file(fb, b);
	/* Replaced by another file (another inode), same size and time. */
	{
		struct stat sb;
		struct timespec ts[2];
		size_t n;
		unsigned char *bytes = slurp(fa, &n);
		const char *other = at("plugins/other.tmpfile");

		ck_assert_int_eq(stat(fa, &sb), 0);
		bytes[n / 2] ^= 1;
		spit(other, bytes, n);
		ts[0] = sb.st_atim;
		ts[1] = sb.st_mtim;
		ck_assert_int_eq(utimensat(AT_FDCWD, other, ts, 0), 0);
		ck_assert_int_eq(rename(other, fa), 0);
		free(bytes);
		MATERIALIZE_OK(dir, NULL, &st);
		STATS_EQ(st, 0, 1, 0, 1);
		assert_same_file(fa, a);
	}
	/* Deleted: put back. */
	ck_assert_int_eq(unlink(fb), 0);
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 1, 0, 0, 1);
	assert_same_file(fb, b);
	/* All restored: nothing more to do. */
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 0, 0, 0, 2);
}
END_TEST

START_TEST(materialize_leaves_foreign_files)
{
	const char *dir = at("plugins");
	const char *mine = at("plugins/mine.jar");
	const char *alike = at("plugins/b-1.jar"); /* looks like a package */
	const char *sub = at("plugins/sub");
	cohort_materialize_stats st;
	size_t n;
	unsigned char *bytes;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	spit(mine, "my own plugin", 13);
	spit(alike, "hand-placed b", 13);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	spit(at("plugins/sub/x"), "x", 1);
	ck_assert_int_eq(install_ns(jar("a.jar", "a", "1", NULL, "a"), NULL), 0);
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 1, 0, 0, 0);
	ck_assert_str_eq(dir_names(dir, 0), "a-1.jar b-1.jar mine.jar sub");
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "a", 0), 0);
	MATERIALIZE_OK(dir, NULL, &st);
	STATS_EQ(st, 0, 0, 1, 0);
	ck_assert_str_eq(dir_names(dir, 0), "b-1.jar mine.jar sub");
	bytes = slurp(mine, &n);
	ck_assert_uint_eq(n, 13);
	ck_assert_int_eq(memcmp(bytes, "my own plugin", 13), 0);
	free(bytes);
	bytes = slurp(alike, &n);
	ck_assert_uint_eq(n, 13);
	ck_assert_int_eq(memcmp(bytes, "hand-placed b", 13), 0);
	free(bytes);
	ck_assert(exists(at("plugins/sub/x")));
}
END_TEST

/* Any of our temp files in 'dir'? */
static int has_temp(const char *dir)
{
	struct dirent *d;
	DIR *dh = opendir(dir);
	int found = 0;

	ck_assert_ptr_nonnull(dh);
	while ((d = readdir(dh)))
		if (strstr(d->d_name, ".tmp."))
			found = 1;
	closedir(dh);
	return found;
}

START_TEST(materialize_damaged_blob_not_written)
{
	const char *dir = at("plugins");
	const char *a = jar("a.jar", "a", "1", NULL, "a");
	const char *b = jar("b.jar", "b", "1", NULL, "b");
	cohort_materialize_stats st;
	cohort_package pb;
	char bp[PATH_MAX];

	memset(&pb, 0, sizeof(pb));
	ck_assert_int_eq(install_ns(a, NULL), 0);
	INSTALL_OK(b, NULL, &pb);
	blob_path(bp, sizeof(bp), pb.hash);
	flip_byte(bp);
	ck_assert_int_eq(materialize(dir, NULL, &st), COHORT_ECORRUPT);
	assert_msg_has("'b'");
	assert_msg_has("damaged");
	assert_msg_has("b-1.jar");
	ck_assert(!exists(at("plugins/b-1.jar")));
	ck_assert(!has_temp(dir));
	/* A damaged blob replacing a good file: the good file stays. */
	{
		struct inst bv = { NULL, "b", "1", 0, 0 };
		const char *b2 = jar("b2.jar", "b", "1", NULL, "b two");
		cohort_package p2;
		char bp2[PATH_MAX];

		memset(&p2, 0, sizeof(p2));
		{
			size_t n;
			unsigned char *bytes = slurp(b, &n);

			spit(bp, bytes, n); /* repaired */
			free(bytes);
		}
		MATERIALIZE_OK(dir, NULL, &st);
		assert_same_file(at("plugins/b-1.jar"), b);
		INSTALL_OK(b2, &bv, &p2);
		blob_path(bp2, sizeof(bp2), p2.hash);
		flip_byte(bp2);
		ck_assert_int_eq(materialize(dir, NULL, &st), COHORT_ECORRUPT);
		assert_same_file(at("plugins/b-1.jar"), b);
		ck_assert(!has_temp(dir));
		cohort_package_clear(&p2);
	}
	cohort_package_clear(&pb);
}
END_TEST

/*
 * Regression (fixed):
 * a materialize that fails on one package after placing others does not
 * record what it placed (the manifest is written only on success), so
 * those files are foreign from then on and are never removed when their
 * package goes: DIR no longer holds exactly the installed packages.
 */
START_TEST(materialize_failed_run_records_what_it_placed)
{
	const char *dir = at("plugins");
	const char *a = jar("a.jar", "a", "1", NULL, "a");
	const char *b = jar("b.jar", "b", "1", NULL, "b");
	cohort_materialize_stats st;
	cohort_package pb;
	char bp[PATH_MAX];

	memset(&pb, 0, sizeof(pb));
	ck_assert_int_eq(install_ns(a, NULL), 0);
	INSTALL_OK(b, NULL, &pb);
	blob_path(bp, sizeof(bp), pb.hash);
	flip_byte(bp);
	/* 'a' sorts first: it is placed, then 'b' fails. */
	ck_assert_int_eq(materialize(dir, NULL, &st), COHORT_ECORRUPT);
	assert_same_file(at("plugins/a-1.jar"), a);
	ck_assert(!exists(at("plugins/b-1.jar")));
	/* Both uninstalled: everything materialize placed must go. */
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "a", 0), 0);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "b", 0), 0);
	MATERIALIZE_OK(dir, NULL, &st);
	ck_assert_msg(!exists(at("plugins/a-1.jar")),
		      "'a-1.jar', placed by a materialize that failed later, "
		      "was left behind after 'a' was uninstalled (stats %lu "
		      "added, %lu updated, %lu removed, %lu unchanged)",
		      st.added, st.updated, st.removed, st.unchanged);
	ck_assert_str_eq(dir_names(dir, 0), "");
	cohort_package_clear(&pb);
}
END_TEST

/*
 * Regression (fixed, found by the soak): a materialize stopped after it
 * placed a file but before its manifest listed it left that file foreign
 * for good, so an uninstalled plugin stayed in DIR.  Now an intent
 * manifest names the files first.  Two packages, a materialize stopped at
 * each rename in turn ('kill': SIGKILL in a child, else the rename fails
 * with EIO in this process), then one package uninstalled and a clean
 * materialize: DIR holds exactly the other package and the manifest, and
 * no temp file (a killed run's are removed by the next: their pid is dead).
 */

static void interrupted_materialize(int kill_it)
{
	const char *a = jar("a.jar", "a", "1", NULL, "a one");
	const char *b = jar("b.jar", "b", "1", NULL, "b one");
	cohort_materialize_stats st;
	unsigned long renames;
	int n, done = 0;

	ck_assert_int_eq(install_ns(a, NULL), 0);
	/* How many renames a whole run makes (in a folder of its own). */
	ck_assert_int_eq(install_ns(b, NULL), 0);
	cohort__os_fault_clear();
	MATERIALIZE_OK(at("count"), NULL, &st);
	renames = cohort__os_fault_count(COHORT__OP_RENAME);
	ck_assert_uint_ge(renames, 3);
	for (n = 1; !done && n <= (int)renames + 2; n++) {
		const char *dir = at("plugins-%d", n);
		char why[256];
		int rc;

		if (n > 1)
			ck_assert_int_eq(install_ns(b, NULL), 0);
		if (kill_it) {
			int status = 0;
			pid_t pid = fork();

			ck_assert_int_ge(pid, 0);
			if (pid == 0) {
				cohort__os_fault_clear();
				cohort__os_fault_set(COHORT__OP_RENAME,
						     (unsigned long)n,
						     COHORT__FAULT_KILL, 0);
				_exit(materialize(dir, NULL, &st) ? 1 : 0);
			}
			ck_assert_int_eq(waitpid(pid, &status, 0), pid);
			ck_assert_msg((WIFSIGNALED(status) &&
				       WTERMSIG(status) == SIGKILL) ||
				      (WIFEXITED(status) &&
				       WEXITSTATUS(status) == 0),
				      "materialize killed at rename %d: status "
				      "%d", n, status);
			done = WIFEXITED(status);
			snprintf(why, sizeof(why), "killed at rename %d", n);
		} else {
			cohort__os_fault_clear();
			cohort__os_fault_set(COHORT__OP_RENAME, (unsigned long)n,
					     EIO, 0);
			rc = materialize(dir, NULL, &st);
			done = cohort__os_fault_count(COHORT__OP_RENAME) <
			       (unsigned long)n;
			cohort__os_fault_clear();
			ck_assert_int_eq(rc == 0, done);
			snprintf(why, sizeof(why), "EIO at rename %d", n);
		}
		ck_assert_int_eq(cohort_store_uninstall(s, NULL, "b", 0), 0);
		rc = materialize(dir, NULL, &st);
		ck_assert_msg(rc == 0, "materialize after %s: %d %s", why, rc,
			      cohort_error_last());
		/* Nothing else, temp files included: the killed run's are
		 * removed by the next run (their pid is dead). */
		ck_assert_msg(!strcmp(dir_names(dir, 1),
				      ".cohort-materialized a-1.jar"),
			      "after %s and 'b' uninstalled, '%s' holds '%s', "
			      "want '.cohort-materialized a-1.jar'", why, dir,
			      dir_names(dir, 1));
		assert_same_file(at("plugins-%d/a-1.jar", n), a);
	}
	ck_assert_msg(done, "materialize never finished with %lu renames "
		      "failed in turn", renames + 2);
}

START_TEST(materialize_killed_leaves_no_uninstalled_plugin)
{
	interrupted_materialize(1);
}
END_TEST

START_TEST(materialize_rename_eio_leaves_no_uninstalled_plugin)
{
	interrupted_materialize(0);
}
END_TEST

/*
 * An install whose content is stored already (its package uninstalled long
 * ago, the blob older than blob_grace) decides to keep that blob under the
 * store lock, which the janitor's cleanup also takes: a janitor run after
 * it must find the blob referenced and keep it.  (Before the fix the blob
 * was kept before the lock was taken, and a janitor in between removed it.)
 */
START_TEST(reinstall_races_blob_gc)
{
	const char *foo = jar("foo.jar", "foo", "1", NULL, "foo");
	cohort_package pk;
	char bp[PATH_MAX];
	struct timespec ts[2];
	const char *op;
	int fd;

	memset(&pk, 0, sizeof(pk));
	INSTALL_OK(foo, NULL, &pk);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "foo", 0), 0);
	/* Uninstalled two hours ago (blob_grace is 1h). */
	blob_path(bp, sizeof(bp), pk.hash);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 7200;
	ts[1] = ts[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, bp, ts, 0), 0);
	cohort_package_clear(&pk);
	/* Reinstalled, then a janitor run with blob_grace passed. */
	INSTALL_OK(foo, NULL, &pk);
	{
		cohort_janitor_report r;

		ck_assert_msg(cohort_janitor_run(c, NULL, &r) == 0, "janitor: %s",
			      cohort_error_last());
		ck_assert_uint_eq(r.nblobs, 0);
		cohort_janitor_report_free(&r);
	}
	fd = out_file("cat.out", &op);
	ck_assert_msg(cohort_store_cat(s, &pk, 0, 0, fd) == 0,
		      "installed package's content is gone: %s",
		      cohort_error_last());
	close(fd);
	assert_same_file(op, foo);
	cohort_package_clear(&pk);
}
END_TEST

/* ---- the index snapshot ------------------------------------------------- */

/* Rewrite the snapshot with 'from' replaced by 'to' and a right sum. */
static void snapshot_edit(const char *from, const char *to)
{
	size_t n, body;
	char *text = (char *)slurp(snap, &n), *hit, *sum, *out;
	size_t fl = strlen(from), tl = strlen(to);

	hit = strstr(text, from);
	ck_assert_msg(hit != NULL, "snapshot lacks '%s': %s", from, text);
	out = malloc(n + tl + 64);
	ck_assert_ptr_nonnull(out);
	memcpy(out, text, (size_t)(hit - text));
	memcpy(out + (hit - text), to, tl);
	strcpy(out + (hit - text) + tl, hit + fl);
	sum = strstr(out, "\nsum ");
	ck_assert_ptr_nonnull(sum);
	body = (size_t)(sum + 1 - out);
	snprintf(sum + 1, 64, "sum %016llx\n",
		 (unsigned long long)XXH3_64bits(out, body));
	spit(snap, out, strlen(out));
	free(out);
	free(text);
}

START_TEST(snapshot_is_used)
{
	size_t n;
	char *text, want[64];
	unsigned char *saved;
	size_t saved_n;

	ck_assert(!exists(snap));
	ck_assert_int_eq(install_ns(jar("foo.jar", "foo", "1.0", NULL, "f"), NULL), 0);
	/* Tagged with the revision of the commit. */
	text = (char *)slurp(snap, &n);
	snprintf(want, sizeof(want), "cohort-index 1\nrev %llu\n",
		 (unsigned long long)head());
	ck_assert_msg(!strncmp(text, want, strlen(want)), "snapshot: %s", text);
	ck_assert_ptr_nonnull(strstr(text, "\"id\":\"foo\""));
	free(text);
	/* A reader takes what it says at that revision (it does not replay
	 * the journal from the start). */
	snapshot_edit("\"version\":\"1.0\"", "\"version\":\"7.7\"");
	ck_assert_str_eq(list_str(NULL), "-:foo@7.7");
	/* ... and replays only the records after it. */
	saved = slurp(snap, &saved_n);
	ck_assert_int_eq(install_ns(jar("bar.jar", "bar", "2.0", NULL, "b"), "ns1"), 0);
	ck_assert_str_eq(list_str(NULL), "-:foo@7.7 ns1:bar@2.0");
	spit(snap, saved, saved_n); /* the older snapshot */
	ck_assert_str_eq(list_str(NULL), "-:foo@7.7 ns1:bar@2.0");
	free(saved);
	/* Gone: the journal alone gives the truth. */
	ck_assert_int_eq(unlink(snap), 0);
	ck_assert_str_eq(list_str(NULL), "-:foo@1.0 ns1:bar@2.0");
}
END_TEST

START_TEST(snapshot_damaged_is_a_clear_error)
{
	const char *foo = jar("foo.jar", "foo", "1.0", NULL, "f");
	cohort_package *v = NULL;
	cohort_materialize_stats st;
	size_t n = 0;

	ck_assert_int_eq(install_ns(foo, NULL), 0);
	flip_byte(snap);
	ck_assert_int_eq(cohort_store_list(s, NULL, &v, &n), COHORT_ECORRUPT);
	assert_msg_has(snap);
	assert_msg_has("damaged");
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(materialize(at("plugins"), NULL, &st), COHORT_ECORRUPT);
	assert_msg_has("damaged");
	ck_assert_int_eq(install_ns(jar("bar.jar", "bar", "1", NULL, "b"), NULL),
			 COHORT_ECORRUPT);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "foo", 0), COHORT_ECORRUPT);
	/* Truncated before its sum line: the same. */
	ck_assert_int_eq(truncate(snap, 20), 0);
	ck_assert_int_eq(cohort_store_list(s, NULL, &v, &n), COHORT_ECORRUPT);
	assert_msg_has("damaged");
}
END_TEST

/* Every field of two lists equal. */
static void assert_lists_equal(const cohort_package *a, size_t na,
			       const cohort_package *b, size_t nb)
{
	size_t i, k;

	ck_assert_uint_eq(na, nb);
	for (i = 0; i < na; i++) {
		ck_assert_str_eq(a[i].id, b[i].id);
		ck_assert_str_eq(a[i].version, b[i].version);
		ck_assert_str_eq(a[i].ns, b[i].ns);
		ck_assert_int_eq(a[i].dependency, b[i].dependency);
		ck_assert_str_eq(a[i].hash, b[i].hash);
		ck_assert_uint_eq(a[i].size, b[i].size);
		ck_assert_int_eq(a[i].installed_ms, b[i].installed_ms);
		ck_assert_str_eq(a[i].ext, b[i].ext);
		ck_assert_uint_eq(a[i].rev, b[i].rev);
		ck_assert_uint_eq(a[i].ndeps, b[i].ndeps);
		for (k = 0; k < a[i].ndeps; k++)
			ck_assert_str_eq(a[i].deps[k], b[i].deps[k]);
	}
}

START_TEST(index_survives_reopen)
{
	static const char *const deps[] = { "dep", NULL };
	struct inst asdep = { NULL, NULL, NULL, 1, 0 };
	struct inst plain = { "ns2", "plain", "5", 0, 0 };
	cohort_package *v1 = NULL, *v2 = NULL, *v3 = NULL;
	size_t n1 = 0, n2 = 0, n3 = 0;
	uint64_t tail, h;

	INSTALL_OK(jar("dep.jar", "dep", "1.0", NULL, "dep"), &asdep, NULL);
	ck_assert_int_eq(install_ns(jar("bar.jar", "bar", "1.0", deps, "bar"), "ns1"), 0);
	ck_assert_int_eq(install_ns(jar("baz.jar", "baz", "1.0", NULL, "baz"), "ns1"), 0);
	ck_assert_int_eq(install_ns(jar("baz2.jar", "baz", "2.0", NULL, "baz2"), "ns1"), 0);
	INSTALL_OK(plain_zip("p.zip", "p"), &plain, NULL);
	ck_assert_int_eq(install_ns(jar("gone.jar", "gone", "1", NULL, "g"), "ns2"), 0);
	ck_assert_int_eq(cohort_store_uninstall(s, "ns2", "gone", 0), 0);
	ck_assert_int_eq(cohort_store_list(s, NULL, &v1, &n1), 0);
	ck_assert_str_eq(list_str(NULL), "-:dep@1.0 ns1:bar@1.0 ns1:baz@2.0 ns2:plain@5");
	/* Reopened with the snapshot. */
	open_node();
	ck_assert_int_eq(cohort_store_list(s, NULL, &v2, &n2), 0);
	assert_lists_equal(v1, n1, v2, n2);
	/* Reopened without it: replayed from the journal, which starts at 1. */
	ck_assert_int_eq(cohort_journal_bounds(j, &tail, &h), 0);
	ck_assert_uint_eq(tail, 1);
	close_node();
	ck_assert_int_eq(unlink(snap), 0);
	open_node();
	ck_assert_int_eq(cohort_store_list(s, NULL, &v3, &n3), 0);
	assert_lists_equal(v1, n1, v3, n3);
	/* And it goes on from there: the next commit writes a snapshot. */
	ck_assert_int_eq(cohort_store_uninstall(s, "ns1", "baz", 0), 0);
	ck_assert(exists(snap));
	open_node();
	ck_assert_str_eq(list_str(NULL), "-:dep@1.0 ns1:bar@1.0 ns2:plain@5");
	cohort_package_list_free(v1, n1);
	cohort_package_list_free(v2, n2);
	cohort_package_list_free(v3, n3);
}
END_TEST

/* ---- refused packages --------------------------------------------------- */

/* Refused with EINVAL and 'needle' in the message, leaving nothing. */
static void assert_refused_leaves_nothing(const char *path, const char *needle)
{
	uint64_t h0 = head();
	int rc = install_opt(path, NULL, NULL);

	ck_assert_msg(rc == COHORT_EINVAL, "'%s' gave %d, not EINVAL: %s", path,
		      rc, cohort_error_last());
	assert_msg_has(needle);
	count_store();
	ck_assert_msg(count_files == 0,
		      "'%s' refused, but store/blobs holds %lu files", path,
		      count_files);
	ck_assert_uint_eq(head(), h0);
	ck_assert_str_eq(list_str(NULL), "");
}

START_TEST(hostile_packages_refused)
{
	static const char xed[] =
		"<extension><id>evil</id><version>1</version></extension>";
	const struct ent dd[] = { F("META-INF/extension.xed", xed),
				  F("../evil", "x") };
	const struct ent dd2[] = { F("META-INF/extension.xed", xed),
				   F("lib/../../evil", "x") };
	const struct ent abs[] = { F("META-INF/extension.xed", xed),
				   F("/etc/evil", "x") };
	const struct ent sl[] = { F("META-INF/extension.xed", xed),
				  { "lib/passwd", NULL, 0, SYMLINK,
				    "../../../../etc/passwd" } };
	const struct ent bad_id[] = { F("META-INF/extension.xed",
					"<extension><id>../../x</id>"
					"<version>1</version></extension>") };

	assert_refused_leaves_nothing(mk("dd.jar", "zip", dd, N(dd)),
				      "leaves the package");
	assert_refused_leaves_nothing(mk("dd.tar.gz", "tgz", dd2, N(dd2)),
				      "leaves the package");
	assert_refused_leaves_nothing(mk("abs.jar", "zip", abs, N(abs)),
				      "absolute path");
	assert_refused_leaves_nothing(mk("abs.tar.gz", "tgz", abs, N(abs)),
				      "absolute path");
	assert_refused_leaves_nothing(mk("sl.tar.gz", "tgz", sl, N(sl)),
				      "outside the package");
	assert_refused_leaves_nothing(mk("bad-id.jar", "zip", bad_id, N(bad_id)),
				      "not a safe name");
	ck_assert(!exists(at("evil")));
	ck_assert(!exists(at("root/evil")));
}
END_TEST

START_TEST(foreign_and_damaged_files_refused)
{
	const char *txt = at("pkgs/notes.jar");
	const char *good = jar("good.jar", "good", "1", NULL, "good");
	const char *cut = at("pkgs/cut.jar");
	size_t n;
	unsigned char *b;

	spit(txt, "this is not an archive\n", 23);
	assert_refused_leaves_nothing(txt, "not a package archive");
	spit(txt, "", 0);
	assert_refused_leaves_nothing(txt, "empty");
	b = slurp(good, &n);
	spit(cut, b, n - 30);
	assert_refused_leaves_nothing(cut, "cut.jar");
	free(b);
	/* A file that is not there. */
	ck_assert_int_eq(install_opt(at("pkgs/missing.jar"), NULL, NULL),
			 COHORT_ENOTFOUND);
	assert_msg_has("missing.jar");
	count_store();
	ck_assert_uint_eq(count_files, 0);
}
END_TEST

/* ---- read-only node ----------------------------------------------------- */

START_TEST(read_only_node_refuses_changes)
{
	const char *foo = jar("foo.jar", "foo", "1", NULL, "foo");
	const char *bar = jar("bar.jar", "bar", "1", NULL, "bar");
	cohort_materialize_stats st;
	uint64_t h0;

	ck_assert_int_eq(install_ns(foo, NULL), 0);
	ck_assert_int_eq(cohort_node_set_mode(c, 1, "test"), 0);
	h0 = head();
	ck_assert_int_eq(install_ns(bar, NULL), COHORT_EREADONLY);
	assert_msg_has("read-only");
	assert_msg_has("test");
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "foo", 0), COHORT_EREADONLY);
	assert_msg_has("read-only");
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "foo", 1), COHORT_EREADONLY);
	ck_assert_uint_eq(head(), h0);
	count_store();
	ck_assert_uint_eq(count_files, 1); /* bar's content was not stored */
	/* Reading still works. */
	ck_assert_str_eq(list_str(NULL), "-:foo@1");
	MATERIALIZE_OK(at("plugins"), NULL, &st);
	STATS_EQ(st, 1, 0, 0, 0);
	/* Back to read-write. */
	ck_assert_int_eq(cohort_node_set_mode(c, 0, NULL), 0);
	ck_assert_int_eq(install_ns(bar, NULL), 0);
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "foo", 0), 0);
	ck_assert_str_eq(list_str(NULL), "-:bar@1");
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *store_suite(void)
{
	Suite *su = suite_create("store");
	TCase *tc;

	tc = tcase_create("install");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, install_from_metadata);
	tcase_add_test(tc, install_overrides);
	tcase_add_test(tc, identical_content_stored_once);
	tcase_add_test(tc, upgrade_in_namespace);
	suite_add_tcase(su, tc);

	tc = tcase_create("dependencies");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, missing_dependency_refused_unless_forced);
	tcase_add_test(tc, root_dependency_satisfies_namespace);
	tcase_add_test(tc, uninstall_dependency_in_use);
	tcase_add_test(tc, uninstall_not_installed);
	tcase_add_test(tc, list_with_and_without_namespace);
	suite_add_tcase(su, tc);

	tc = tcase_create("cat");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, cat_whole_and_ranges);
	tcase_add_test(tc, cat_damaged_blob_writes_nothing);
	suite_add_tcase(su, tc);

	tc = tcase_create("materialize");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, materialize_adds_updates_removes);
	tcase_add_test(tc, materialize_namespace);
	tcase_add_test(tc, materialize_unchanged_reads_no_blob);
	tcase_add_test(tc, materialize_restores_hand_edits);
	tcase_add_test(tc, materialize_leaves_foreign_files);
	tcase_add_test(tc, materialize_damaged_blob_not_written);
	suite_add_tcase(su, tc);

	tc = tcase_create("index");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, snapshot_is_used);
	tcase_add_test(tc, snapshot_damaged_is_a_clear_error);
	tcase_add_test(tc, index_survives_reopen);
	suite_add_tcase(su, tc);

	tc = tcase_create("refused");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hostile_packages_refused);
	tcase_add_test(tc, foreign_and_damaged_files_refused);
	tcase_add_test(tc, read_only_node_refuses_changes);
	suite_add_tcase(su, tc);

	/* Regression tests of library bugs found by this suite. */
	tc = tcase_create("regressions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, materialize_failed_run_records_what_it_placed);
	tcase_add_test(tc, materialize_killed_leaves_no_uninstalled_plugin);
	tcase_add_test(tc, materialize_rename_eio_leaves_no_uninstalled_plugin);
	tcase_add_test(tc, reinstall_races_blob_gc);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return run_suite(store_suite()) == 0 ? 0 : 1;
}
