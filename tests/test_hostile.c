/*
 * test_hostile.c - hostile input through the library API.
 *
 * 1. Names.  Every hostile value ("..", ".", "/", "a/../b", a leading '-',
 *    the empty string, control characters, bytes that are not ASCII or not
 *    UTF-8, 65 to 70000 bytes...) goes to every entry point that takes a
 *    name (node ids in cohort_cluster_open, cohort_node_mode_of,
 *    cohort_journal_node_revision and cohort_doctor_run; lock names; record
 *    types; job names; namespaces, package ids and versions in install,
 *    uninstall, list, find and materialize).  Each call must fail with
 *    COHORT_EINVAL and a message naming the kind of name and what is wrong
 *    with it, and leave the test folder (root, state folder, everything
 *    around them) exactly as it was: same names, types, modes, sizes,
 *    mtimes (folders' too: not even a temporary file came and went) and
 *    content.
 * 2. The same values as package metadata inside archives built here (the
 *    id, version and a dependency of extension.xed, package.xml,
 *    rhq-plugin.xml and MANIFEST.MF), and a NUL byte, which only an
 *    archive can carry: refused with the reason, nothing stored (no blob,
 *    no temporary file, no journal record, the index unchanged).
 * 3. Hostile archives that tests/test_package.c checks only at the
 *    inspection level, through install here, so that nothing is left in
 *    the store either: a hard link out, a zip bomb, huge metadata (a
 *    manifest of 8 MiB, a line of 900 KB and of 3 MB, a descriptor of
 *    4 MiB), a wrong CRC, a truncated tar.gz, a character and a block
 *    device and a fifo.  (Already covered through install by
 *    tests/test_store.c: "..", absolute paths, a symlink out, an unsafe id,
 *    a file that is no archive, an empty file, a cut zip.)
 *
 * Every test gets a fresh temporary folder: root/ (a cluster with node
 * "n1" joined and one package "good" 1 installed), state/, pkgs/ (the
 * archives, made before the "before" listing), and nothing else.
 */
#define _GNU_SOURCE 1
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "cohort.h"
#include "fixture.h"

/* ---- fixture ------------------------------------------------------------ */

static char tmp[1024], root[1100], state[1100], pkgs[1100];
static cohort_cluster *c;
static cohort_journal *j;
static cohort_store *s;
static const char *good; /* a sound package, installed by setup() */

/* A path under the test folder (a ring of buffers). */
static const char *at(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *at(const char *fmt, ...)
{
	static char ring[16][PATH_MAX];
	static unsigned int next;
	char *b = ring[next++ % N(ring)];
	va_list ap;
	int n = snprintf(b, PATH_MAX, "%s/", tmp);

	va_start(ap, fmt);
	n += vsnprintf(b + n, PATH_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	ck_assert(n > 0 && n < PATH_MAX);
	return b;
}

/* ---- archives ----------------------------------------------------------- */

/* Write pkgs/NAME (see write_archive()); every entry is 0644. */
static const char *mk(const char *name, const char *fmt, int filter,
		      const char *opts, const struct ent *e, size_t n)
{
	static const struct ent_look look = { 0644, 0644, 0x0801 };
	const char *path = at("pkgs/%s", name);

	write_archive(path, fmt, filter, opts, e, n, &look);
	return path;
}

#define ZIP(name, ents) mk(name, "zip", ARCHIVE_FILTER_NONE, NULL, ents, N(ents))
#define TAR(name, ents) mk(name, "tar", ARCHIVE_FILTER_NONE, NULL, ents, N(ents))

/* ---- the test folder, listed -------------------------------------------- */

/*
 * A listing of everything under the test folder, one line per entry,
 * sorted: relative path, type, mode, size, mtime and, for a file, the
 * XXH3 of its bytes.  'strict' adds the folders' mtimes, which move when
 * anything is created in them, even if it is removed again.
 */
static struct {
	char **line;
	size_t n, cap;
	int strict;
} L;

static int list_one(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	char line[PATH_MAX + 200], sum[40] = "-";
	const char *rel = path + strlen(tmp);
	int isdir = S_ISDIR(st->st_mode);

	(void)ftw;
	if (flag == FTW_NS)
		return -1;
	if (S_ISREG(st->st_mode)) {
		size_t n;
		unsigned char *b = slurp(path, &n);

		snprintf(sum, sizeof(sum), "%016llx",
			 (unsigned long long)XXH3_64bits(b, n));
		free(b);
	}
	snprintf(line, sizeof(line), "%s %o %lld %lld.%09ld %s",
		 *rel ? rel : "/", (unsigned)st->st_mode,
		 isdir ? 0LL : (long long)st->st_size,
		 isdir && !L.strict ? 0LL : (long long)st->st_mtim.tv_sec,
		 isdir && !L.strict ? 0L : st->st_mtim.tv_nsec, sum);
	if (L.n == L.cap) {
		L.cap = L.cap ? L.cap * 2 : 256;
		L.line = realloc(L.line, L.cap * sizeof(*L.line));
		ck_assert_ptr_nonnull(L.line);
	}
	L.line[L.n] = strdup(line);
	ck_assert_ptr_nonnull(L.line[L.n]);
	L.n++;
	return 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The listing as one string (the caller's). */
static char *listing(int strict)
{
	size_t i, len = 0;
	char *out;

	L.n = 0;
	L.strict = strict;
	ck_assert_int_eq(nftw(tmp, list_one, 16, FTW_PHYS), 0);
	qsort(L.line, L.n, sizeof(*L.line), cmp_line);
	for (i = 0; i < L.n; i++)
		len += strlen(L.line[i]) + 1;
	out = malloc(len + 1);
	ck_assert_ptr_nonnull(out);
	len = 0;
	for (i = 0; i < L.n; i++) {
		size_t k = strlen(L.line[i]);

		memcpy(out + len, L.line[i], k);
		out[len + k] = '\n';
		len += k + 1;
		free(L.line[i]);
	}
	out[len] = '\0';
	return out;
}

/* Fail naming the first line that differs. */
static void assert_same_listing(const char *before, const char *after,
				const char *what)
{
	size_t i = 0;
	const char *b, *a;

	if (!strcmp(before, after))
		return;
	while (before[i] && before[i] == after[i])
		i++;
	while (i && before[i - 1] != '\n')
		i--;
	b = before + i;
	a = after + i;
	ck_abort_msg("%s changed the test folder: before '%.*s', after '%.*s'",
		     what, (int)strcspn(b, "\n"), b, (int)strcspn(a, "\n"), a);
}

/* ---- fixture ------------------------------------------------------------ */

static void open_node(void)
{
	open_joined_node(&c, &j, &s, root, state);
}

static const char good_xed[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<extension><id>good</id><version>1</version></extension>\n";

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1];
	const struct ent e[] = { F("META-INF/extension.xed", good_xed),
				 F("lib/a.class", "good") };
	int rc;

	make_tmp(tmp, sizeof(tmp), NULL, "cohort-hostile", 0);
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(pkgs, sizeof(pkgs), "%s/pkgs", tmp);
	ck_assert_int_eq(mkdir(pkgs, 0755), 0);
	rc = cohort_cluster_init(id, root);
	ck_assert_msg(rc == 0, "cluster_init: %s", cohort_error_last());
	open_node();
	good = ZIP("good.jar", e);
	rc = cohort_store_install(s, good, NULL, NULL);
	ck_assert_msg(rc == 0, "install good.jar: %s", cohort_error_last());
}

static void teardown(void)
{
	cohort_store_close(s);
	s = NULL;
	cohort_journal_close(j);
	j = NULL;
	cohort_cluster_close(c);
	c = NULL;
	remove_tmp();
}

/* ---- hostile values ----------------------------------------------------- */

/* Long values, made once: 'a' repeated. */
static char long65[66], long256[257], long300[301], long4096[4097];
static char *long70000;

struct hostile {
	const char *label; /* for messages */
	const char *v;
	const char *why; /* in the message; NULL: "it is longer than" */
};

static const struct hostile *hostile_values(size_t *n)
{
	static struct hostile v[] = {
		{ "dotdot", "..", "it starts with '.'" },
		{ "dot", ".", "it starts with '.'" },
		{ "hidden", ".cohort-materialized", "it starts with '.'" },
		{ "slash", "/", "it holds '/'" },
		{ "a/b", "a/b", "it holds '/'" },
		{ "a/../b", "a/../b", "it holds '/'" },
		{ "../x", "../x", "it holds '/'" },
		{ "../../../etc/x", "../../../etc/x", "it holds '/'" },
		{ "absolute", "/etc/passwd", "it holds '/'" },
		{ "backslash", "..\\x", "it holds '\\'" },
		{ "a\\b", "a\\b", "it holds '\\'" },
		{ "dash", "-x", "it starts with '-'" },
		{ "option", "--help", "it starts with '-'" },
		{ "empty", "", "it is empty" },
		{ "newline", "a\nb", "it holds a control character (\\x0a)" },
		{ "cr", "a\rb", "(\\x0d)" },
		{ "tab", "a\tb", "(\\x09)" },
		{ "escape", "a\033[2J", "(\\x1b)" },
		{ "del", "a\177", "(\\x7f)" },
		{ "latin1", "caf\351", "it holds a byte that is not ASCII (\\xe9)" },
		{ "not-utf8", "\377\376", "it holds a byte that is not ASCII (\\xff)" },
		{ "utf8", "caf\303\251", "not ASCII (\\xc3)" },
		{ "space", "a b", "it holds ' '" },
		{ "semicolon", "a;b", "it holds ';'" },
		{ "star", "*", "it holds '*'" },
		{ "long300", long300, NULL },
		{ "long4096", long4096, NULL },
		{ "long70000", NULL, NULL },
	};
	size_t i;

	if (!long70000) {
		long70000 = malloc(70001);
		ck_assert_ptr_nonnull(long70000);
		memset(long70000, 'a', 70000);
		long70000[70000] = '\0';
		memset(long65, 'a', 65);
		memset(long256, 'a', 256);
		memset(long300, 'a', 300);
		memset(long4096, 'a', 4096);
	}
	for (i = 0; i < N(v); i++)
		if (!strcmp(v[i].label, "long70000"))
			v[i].v = long70000;
	*n = N(v);
	return v;
}

/* ---- entry points ------------------------------------------------------- */

/* Each calls the library with 'v' in one place and returns its code. */
typedef int (*entry_fn)(const char *v);

static int e_cluster_open(const char *v)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *x = NULL;
	int rc;

	o.root = root;
	o.node = v;
	o.state = at("state-of-another"); /* must not appear */
	rc = cohort_cluster_open(&x, &o);
	cohort_cluster_close(x);
	return rc;
}

static int e_cluster_open_default_state(const char *v)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *x = NULL;
	char *old = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) :
					       NULL;
	int rc;

	/* The default state folder is named after the node: $XDG/cohort/ID. */
	setenv("XDG_STATE_HOME", at("xdg"), 1);
	o.root = root;
	o.node = v;
	rc = cohort_cluster_open(&x, &o);
	cohort_cluster_close(x);
	if (old) {
		setenv("XDG_STATE_HOME", old, 1);
		free(old);
	} else {
		unsetenv("XDG_STATE_HOME");
	}
	return rc;
}

static int e_node_mode_of(const char *v)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	char reason[256];
	int ro = 0;

	o.root = root;
	o.node = v;
	o.state = state;
	return cohort_node_mode_of(&o, &ro, reason, sizeof(reason));
}

static int e_node_revision(const char *v)
{
	uint64_t rev = 0;

	return cohort_journal_node_revision(c, v, &rev);
}

static int e_doctor(const char *v)
{
	cohort_doctor_options o = COHORT_DOCTOR_OPTIONS_INIT;

	o.node = v;
	o.fsync_samples = 1;
	return cohort_doctor_run(root, &o, NULL, NULL, NULL);
}

static int e_lock(const char *v)
{
	cohort_lock *l = NULL;
	int rc = cohort_lock_acquire(&l, c, v, 0);

	if (rc == 0)
		(void)cohort_lock_release(l);
	return rc;
}

static int e_append_type(const char *v)
{
	cohort_entry e = { v, "x", 1 };
	uint64_t rev;

	return cohort_journal_append(j, &e, 1, &rev);
}

static int e_append_second_type(const char *v)
{
	/* a bad type anywhere in a commit refuses all of it */
	cohort_entry e[2] = { { "data", "x", 1 }, { v, "y", 1 } };
	uint64_t rev;

	return cohort_journal_append(j, e, 2, &rev);
}

static int e_job(const char *v)
{
	cohort_job *job = NULL;
	int rc = cohort_job_begin(&job, c, v, 0);

	if (rc == 0)
		(void)cohort_job_end(job, 0);
	return rc;
}

static int e_install_ns(const char *v)
{
	cohort_install_options o = COHORT_INSTALL_OPTIONS_INIT;

	o.ns = v;
	return cohort_store_install(s, good, &o, NULL);
}

static int e_install_id(const char *v)
{
	cohort_install_options o = COHORT_INSTALL_OPTIONS_INIT;

	o.id = v;
	return cohort_store_install(s, good, &o, NULL);
}

static int e_install_version(const char *v)
{
	cohort_install_options o = COHORT_INSTALL_OPTIONS_INIT;

	o.pkg_version = v;
	return cohort_store_install(s, good, &o, NULL);
}

static int e_uninstall_ns(const char *v)
{
	return cohort_store_uninstall(s, v, "good", 1);
}

static int e_uninstall_id(const char *v)
{
	return cohort_store_uninstall(s, NULL, v, 1);
}

static int e_list_ns(const char *v)
{
	cohort_package *p = NULL;
	size_t n = 0;
	int rc = cohort_store_list(s, v, &p, &n);

	cohort_package_list_free(p, n);
	return rc;
}

static int e_find(const char *ns, const char *id, const char *version)
{
	cohort_package p;
	int rc;

	memset(&p, 0, sizeof(p));
	rc = cohort_store_find(s, ns, id, version, &p);
	cohort_package_clear(&p);
	return rc;
}

static int e_find_ns(const char *v) { return e_find(v, "good", NULL); }
static int e_find_id(const char *v) { return e_find(NULL, v, NULL); }
static int e_find_version(const char *v) { return e_find(NULL, "good", v); }

static int e_materialize_ns(const char *v)
{
	cohort_materialize_stats st;

	/* the folder must not even be made */
	return cohort_store_materialize(s, at("plugins"), v, &st);
}

static int e_check(cohort_name_kind k, const char *v)
{
	return cohort_name_check(k, v);
}

static int e_check_node(const char *v) { return e_check(COHORT_NAME_NODE, v); }
static int e_check_ns(const char *v) { return e_check(COHORT_NAME_NAMESPACE, v); }

static const struct entry {
	const char *name;
	entry_fn fn;
	cohort_name_kind kind;
	const char *label; /* the message says "bad LABEL '...'" */
} entries[] = {
	{ "cohort_cluster_open (node)", e_cluster_open, COHORT_NAME_NODE, "bad node id" },
	{ "cohort_cluster_open (node, default state)", e_cluster_open_default_state,
	  COHORT_NAME_NODE, "bad node id" },
	{ "cohort_node_mode_of (node)", e_node_mode_of, COHORT_NAME_NODE, "bad node id" },
	{ "cohort_journal_node_revision (node)", e_node_revision, COHORT_NAME_NODE,
	  "bad node id" },
	{ "cohort_doctor_run (node)", e_doctor, COHORT_NAME_NODE, "bad node id" },
	{ "cohort_lock_acquire (name)", e_lock, COHORT_NAME_LOCK, "bad lock name" },
	{ "cohort_journal_append (type)", e_append_type, COHORT_NAME_TYPE,
	  "bad record type" },
	{ "cohort_journal_append (second type)", e_append_second_type,
	  COHORT_NAME_TYPE, "bad record type" },
	{ "cohort_job_begin (name)", e_job, COHORT_NAME_JOB, "bad job name" },
	{ "cohort_store_install (ns)", e_install_ns, COHORT_NAME_NAMESPACE,
	  "bad namespace" },
	{ "cohort_store_install (id)", e_install_id, COHORT_NAME_PACKAGE,
	  "bad package id" },
	{ "cohort_store_install (version)", e_install_version, COHORT_NAME_VERSION,
	  "bad package version" },
	{ "cohort_store_uninstall (ns)", e_uninstall_ns, COHORT_NAME_NAMESPACE,
	  "bad namespace" },
	{ "cohort_store_uninstall (id)", e_uninstall_id, COHORT_NAME_PACKAGE,
	  "bad package id" },
	{ "cohort_store_list (ns)", e_list_ns, COHORT_NAME_NAMESPACE, "bad namespace" },
	{ "cohort_store_find (ns)", e_find_ns, COHORT_NAME_NAMESPACE, "bad namespace" },
	{ "cohort_store_find (id)", e_find_id, COHORT_NAME_PACKAGE, "bad package id" },
	{ "cohort_store_find (version)", e_find_version, COHORT_NAME_VERSION,
	  "bad package version" },
	{ "cohort_store_materialize (ns)", e_materialize_ns, COHORT_NAME_NAMESPACE,
	  "bad namespace" },
	{ "cohort_name_check (node)", e_check_node, COHORT_NAME_NODE, "bad node id" },
	{ "cohort_name_check (namespace)", e_check_ns, COHORT_NAME_NAMESPACE,
	  "bad namespace" },
};

/* Call 'e' with 'v': EINVAL, the message right, the folder untouched. */
static void refused_untouched(const struct entry *e, const char *label,
			      const char *v, const char *why)
{
	char *before, *after, what[512];
	int rc;

	snprintf(what, sizeof(what), "%s with %s", e->name, label);
	before = listing(1);
	rc = e->fn(v);
	ck_assert_msg(rc == COHORT_EINVAL, "%s gave %d (%s), not EINVAL", what,
		      rc, cohort_error_last());
	ck_assert_msg(strstr(cohort_error_last(), e->label) != NULL,
		      "%s: message '%s' lacks '%s'", what, cohort_error_last(),
		      e->label);
	ck_assert_msg(strstr(cohort_error_last(), why) != NULL,
		      "%s: message '%s' lacks '%s'", what, cohort_error_last(),
		      why);
	/* one line, whatever the value held, and not 70000 bytes of it */
	ck_assert_msg(!strchr(cohort_error_last(), '\n') &&
			      !strchr(cohort_error_last(), '\r') &&
			      strlen(cohort_error_last()) < 600,
		      "%s: message is not one short line: '%s'", what,
		      cohort_error_last());
	after = listing(1);
	assert_same_listing(before, after, what);
	free(before);
	free(after);
}

static const char *too_long(cohort_name_kind k)
{
	switch (k) {
	case COHORT_NAME_JOB: return "it is longer than 60 bytes";
	case COHORT_NAME_NAMESPACE:
	case COHORT_NAME_PACKAGE: return "it is longer than 255 bytes";
	case COHORT_NAME_VERSION: return "it is longer than 127 bytes";
	default: return "it is longer than 64 bytes";
	}
}

static int is_pkg_kind(cohort_name_kind k)
{
	return k == COHORT_NAME_NAMESPACE || k == COHORT_NAME_PACKAGE ||
	       k == COHORT_NAME_VERSION;
}

/* Every hostile value at entry point '_i' (one test per entry point). */
START_TEST(every_value_refused_at_every_entry_point)
{
	const struct entry *e = &entries[_i];
	const struct hostile *v;
	size_t n, i;

	v = hostile_values(&n);
	for (i = 0; i < n; i++)
		refused_untouched(e, v[i].label, v[i].v,
				  v[i].why ? v[i].why : too_long(e->kind));
	/* just past each kind's length limit */
	switch (e->kind) {
	case COHORT_NAME_NAMESPACE:
	case COHORT_NAME_PACKAGE:
		refused_untouched(e, "256 bytes", long256, too_long(e->kind));
		break;
	case COHORT_NAME_VERSION:
		long256[128] = '\0';
		refused_untouched(e, "128 bytes", long256, too_long(e->kind));
		long256[128] = 'a';
		break;
	case COHORT_NAME_JOB:
		long65[61] = '\0';
		refused_untouched(e, "61 bytes", long65, too_long(e->kind));
		long65[61] = 'a';
		refused_untouched(e, "clock", "clock", "'clock' is reserved");
		break;
	default:
		refused_untouched(e, "65 bytes", long65, too_long(e->kind));
	}
	if (is_pkg_kind(e->kind))
		refused_untouched(e, "a..b", "a..b", "it holds '..'");
}
END_TEST

/* ---- the rules themselves ----------------------------------------------- */

START_TEST(rules_accept_what_they_should)
{
	static const char *const node_ok[] = { "a", "web-1.example_A", "n1",
					       "a..b", "x.", "9" };
	static const char *const pkg_ok[] = { "org.xwiki.contrib:foo", "1.0-rc-1",
					      "x_y+z~1@2", "A9", "a.b.c" };
	char b[300];
	size_t i;

	for (i = 0; i < N(node_ok); i++) {
		ck_assert_msg(cohort_name_check(COHORT_NAME_NODE, node_ok[i]) == 0,
			      "'%s': %s", node_ok[i], cohort_error_last());
		ck_assert(cohort_node_id_valid(node_ok[i]));
		ck_assert_int_eq(cohort_name_check(COHORT_NAME_JOB, node_ok[i]), 0);
	}
	for (i = 0; i < N(pkg_ok); i++) {
		ck_assert_int_eq(cohort_name_check(COHORT_NAME_PACKAGE, pkg_ok[i]), 0);
		ck_assert_int_eq(cohort_name_check(COHORT_NAME_NAMESPACE, pkg_ok[i]), 0);
		ck_assert_int_eq(cohort_name_check(COHORT_NAME_VERSION, pkg_ok[i]), 0);
	}
	/* the limits themselves */
	memset(b, 'a', sizeof(b));
	b[64] = '\0';
	ck_assert_int_eq(cohort_name_check(COHORT_NAME_NODE, b), 0);
	ck_assert_int_eq(cohort_name_check(COHORT_NAME_JOB, b), COHORT_EINVAL);
	b[60] = '\0';
	ck_assert_int_eq(cohort_name_check(COHORT_NAME_JOB, b), 0);
	memset(b, 'a', sizeof(b));
	b[255] = '\0';
	ck_assert_int_eq(cohort_name_check(COHORT_NAME_PACKAGE, b), 0);
	ck_assert_int_eq(cohort_name_check(COHORT_NAME_VERSION, b), COHORT_EINVAL);
	b[127] = '\0';
	ck_assert_int_eq(cohort_name_check(COHORT_NAME_VERSION, b), 0);
	/* NULL, and a kind that does not exist */
	ck_assert_int_eq(cohort_name_check(COHORT_NAME_NODE, NULL), COHORT_EINVAL);
	assert_msg_has("no node id given");
	ck_assert(!cohort_node_id_valid(NULL));
	ck_assert_int_eq(cohort_name_check((cohort_name_kind)99, "a"), COHORT_EINVAL);
	/* a '-' later is fine; first it is not */
	ck_assert(cohort_node_id_valid("a-"));
	ck_assert(!cohort_node_id_valid("-a"));
}
END_TEST

/* ---- names inside packages ---------------------------------------------- */

/* Where a package may carry a name. */
enum place {
	XED_ID, XED_VERSION, XED_DEP, PKGXML_ID, PKGXML_VERSION, RHQ_NAME,
	RHQ_VERSION, RHQ_DEP, MF_XWIKI_ID, MF_BSN, MF_VERSION, PLACES
};

static const char *const place_name[PLACES] = {
	"extension.xed id", "extension.xed version", "extension.xed dependency",
	"package.xml extensionId", "package.xml version", "rhq-plugin.xml name",
	"rhq-plugin.xml version", "rhq-plugin.xml depends",
	"MANIFEST.MF XWiki-Extension-Id", "MANIFEST.MF Bundle-SymbolicName",
	"MANIFEST.MF Implementation-Version",
};

static int is_xml(enum place p)
{
	return p < MF_XWIKI_ID;
}

static int is_version(enum place p)
{
	return p == XED_VERSION || p == PKGXML_VERSION || p == RHQ_VERSION ||
	       p == MF_VERSION;
}

/* 'v' escaped for XML text or an attribute value (control characters as
 * character references: those XML 1.0 forbids make the document
 * malformed, as they should). */
static char *xml_escape(const char *v)
{
	size_t n = strlen(v), i, k = 0;
	char *out = malloc(n * 6 + 1);

	ck_assert_ptr_nonnull(out);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch == '<')
			k += (size_t)sprintf(out + k, "&lt;");
		else if (ch == '&')
			k += (size_t)sprintf(out + k, "&amp;");
		else if (ch == '\'')
			k += (size_t)sprintf(out + k, "&apos;");
		else if (ch < 0x20)
			k += (size_t)sprintf(out + k, "&#%u;", ch);
		else
			out[k++] = (char)ch;
	}
	out[k] = '\0';
	return out;
}

/* A package with 'v' at 'p' (the other fields sound); pkgs/NAME. */
static const char *pkg_with(const char *name, enum place p, const char *v,
			    size_t vlen)
{
	char *x = is_xml(p) ? xml_escape(v) : NULL, *doc;
	size_t cap = vlen * 6 + 1024;
	struct ent e[2] = { F("lib/a.class", "payload"), F(NULL, NULL) };
	const char *path;
	int n = 0;

	doc = malloc(cap);
	ck_assert_ptr_nonnull(doc);
	switch (p) {
	case XED_ID:
	case XED_VERSION:
	case XED_DEP:
		e[1].name = "META-INF/extension.xed";
		n = snprintf(doc, cap,
			     "<?xml version='1.0' encoding='UTF-8'?>\n<extension>"
			     "<id>%s</id><version>%s</version><dependencies>"
			     "<dependency><id>%s</id></dependency>"
			     "</dependencies></extension>\n",
			     p == XED_ID ? x : "h", p == XED_VERSION ? x : "1",
			     p == XED_DEP ? x : "dep");
		break;
	case PKGXML_ID:
	case PKGXML_VERSION:
		e[1].name = "package.xml";
		n = snprintf(doc, cap,
			     "<?xml version='1.0' encoding='UTF-8'?>\n<package>"
			     "<infos><extensionId>%s</extensionId><version>%s"
			     "</version></infos></package>\n",
			     p == PKGXML_ID ? x : "h",
			     p == PKGXML_VERSION ? x : "1");
		break;
	case RHQ_NAME:
	case RHQ_VERSION:
	case RHQ_DEP:
		e[1].name = "META-INF/rhq-plugin.xml";
		n = snprintf(doc, cap,
			     "<?xml version='1.0' encoding='UTF-8'?>\n"
			     "<plugin name='%s' version='%s'><depends plugin='%s'/>"
			     "</plugin>\n",
			     p == RHQ_NAME ? x : "h", p == RHQ_VERSION ? x : "1",
			     p == RHQ_DEP ? x : "dep");
		break;
	case MF_XWIKI_ID:
	case MF_BSN:
	case MF_VERSION:
		/* raw bytes, as a manifest has them; NUL included */
		e[1].name = "META-INF/MANIFEST.MF";
		n = snprintf(doc, cap, "Manifest-Version: 1.0\n%s: ",
			     p == MF_XWIKI_ID ? "XWiki-Extension-Id" :
			     p == MF_BSN ? "Bundle-SymbolicName" :
			     "Implementation-Version");
		memcpy(doc + n, v, vlen);
		n += (int)vlen;
		n += snprintf(doc + n, cap - (size_t)n, "\n%s\n",
			      p == MF_VERSION ? "Bundle-SymbolicName: h" :
			      "Bundle-Version: 1");
		break;
	default:
		ck_abort();
	}
	ck_assert(n > 0 && (size_t)n < cap);
	e[1].data = doc;
	e[1].len = (size_t)n;
	path = mk(name, "zip", ARCHIVE_FILTER_NONE, NULL, e, N(e));
	free(doc);
	free(x);
	return path;
}

/*
 * What the message of a package with hostile value 'h' at 'p' must say;
 * NULL when the value means something harmless there (an empty
 * dependency is no dependency; "a;b" as a Bundle-SymbolicName is "a").
 * XML cannot carry some bytes at all (the document is malformed); a
 * manifest value ends at a line break; an empty id or version is none.
 */
static const char *meta_why(enum place p, const struct hostile *h)
{
	const char *v = h->v;

	if (!v[0] && (p == XED_DEP || p == RHQ_DEP))
		return NULL;
	if (p == MF_BSN && strchr(v, ';'))
		return NULL;
	if (!v[0])
		return is_version(p) ? "has no version" : "has no id";
	if (is_xml(p)) {
		size_t i;

		for (i = 0; v[i]; i++) {
			unsigned char ch = (unsigned char)v[i];

			if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') ||
			    (ch >= 0x80 && strcmp(h->label, "utf8")))
				return "is not well-formed XML";
		}
		/* leading and trailing blanks are trimmed; '\r' in an
		 * attribute is normalized to a space */
	} else if (strchr(v, '\n') || strchr(v, '\r')) {
		return "'MANIFEST.MF' line 3 is not 'Name: value'";
	}
	if (strlen(v) > (is_version(p) ? 127u : 255u))
		return is_version(p) ? "is longer than 127 bytes" :
				       "is longer than 255 bytes";
	/* (control characters written as character references stay what
	 * they are in attribute values too: no normalization to ' ') */
	return h->why;
}

/* Install 'path': EINVAL with 'why', nothing stored, nothing else moved. */
static void install_refused(const char *path, const char *what,
			    const char *why)
{
	char *before = listing(0), *after;
	uint64_t t0, h0, t1, h1;
	int rc;

	ck_assert_int_eq(cohort_journal_bounds(j, &t0, &h0), 0);
	rc = cohort_store_install(s, path, NULL, NULL);
	ck_assert_msg(rc == COHORT_EINVAL, "%s: install gave %d (%s), not EINVAL",
		      what, rc, cohort_error_last());
	ck_assert_msg(strstr(cohort_error_last(), why) != NULL,
		      "%s: message '%s' lacks '%s'", what, cohort_error_last(), why);
	ck_assert_msg(!strchr(cohort_error_last(), '\n'),
		      "%s: message of more than one line: '%s'", what,
		      cohort_error_last());
	ck_assert_int_eq(cohort_journal_bounds(j, &t1, &h1), 0);
	ck_assert_msg(h1 == h0, "%s: the journal moved from %llu to %llu", what,
		      (unsigned long long)h0, (unsigned long long)h1);
	after = listing(0);
	assert_same_listing(before, after, what);
	free(before);
	free(after);
}

START_TEST(hostile_names_in_package_metadata)
{
	enum place p = (enum place)_i;
	const struct hostile *v;
	size_t n, i;

	v = hostile_values(&n);
	for (i = 0; i < n; i++) {
		char name[64], what[256];
		const char *path, *why = meta_why(p, &v[i]);

		if (!why)
			continue;
		snprintf(name, sizeof(name), "p%d-%zu.jar", (int)p, i);
		path = pkg_with(name, p, v[i].v, strlen(v[i].v));
		snprintf(what, sizeof(what), "%s = %s", place_name[p], v[i].label);
		install_refused(path, what, why);
		unlink(path);
	}
}
END_TEST

START_TEST(nul_in_metadata)
{
	const char *p;
	const struct ent xml_nul[] = {
		F("lib/a.class", "x"),
		{ "META-INF/extension.xed",
		  "<extension><id>a\0b</id><version>1</version></extension>", 56,
		  REG, NULL },
	};
	const struct ent xml_ref[] = {
		F("lib/a.class", "x"),
		F("META-INF/extension.xed",
		  "<extension><id>a&#0;b</id><version>1</version></extension>"),
	};

	p = pkg_with("mf-nul.jar", MF_XWIKI_ID, "a\0b", 3);
	install_refused(p, "a NUL in MANIFEST.MF", "'MANIFEST.MF' holds a NUL byte");
	p = pkg_with("mf-nul-version.jar", MF_VERSION, "1\0/../x", 7);
	install_refused(p, "a NUL in a version", "'MANIFEST.MF' holds a NUL byte");
	install_refused(ZIP("xml-nul.jar", xml_nul), "a NUL in extension.xed",
			"'extension.xed' is not well-formed XML");
	install_refused(ZIP("xml-ref.jar", xml_ref), "&#0; in extension.xed",
			"'extension.xed' is not well-formed XML");
}
END_TEST

/* Implementation-Title is mostly a title: an unsafe one is no id at all. */
START_TEST(unsafe_title_is_no_id)
{
	const struct ent e[] = {
		F("lib/a.class", "x"),
		F("META-INF/MANIFEST.MF",
		  "Implementation-Title: ../../etc\nImplementation-Version: 1\n"),
	};

	install_refused(ZIP("title.jar", e), "an unsafe Implementation-Title",
			"has no id in its metadata");
}
END_TEST

/* Every node writes ID-VERSION.EXT and a temporary file named after it:
 * an id and a version that are each fine but too long together would
 * make that package impossible to materialize anywhere. */
START_TEST(id_and_version_too_long_together)
{
	cohort_install_options o = COHORT_INSTALL_OPTIONS_INIT;
	cohort_materialize_stats st;
	char id[256], ver[128];
	char *before, *after;
	int rc;

	memset(id, 'i', sizeof(id));
	memset(ver, 'v', sizeof(ver));
	id[200] = '\0';
	ver[100] = '\0';
	o.id = id;
	o.pkg_version = ver;
	before = listing(0);
	rc = cohort_store_install(s, good, &o, NULL);
	ck_assert_msg(rc == COHORT_EINVAL, "gave %d: %s", rc, cohort_error_last());
	assert_msg_has("its id and version are too long together");
	after = listing(0);
	assert_same_listing(before, after, "a 200-byte id with a 100-byte version");
	free(before);
	free(after);
	/* the longest that fits is installed and materialized */
	id[200] = 'i';
	id[164 - 2 - 3 - 20] = '\0';
	ver[20] = '\0';
	rc = cohort_store_install(s, good, &o, NULL);
	ck_assert_msg(rc == 0, "install: %s", cohort_error_last());
	rc = cohort_store_materialize(s, at("plugins"), NULL, &st);
	ck_assert_msg(rc == 0, "materialize: %s", cohort_error_last());
	ck_assert_uint_eq(st.added, 2);
	id[164 - 2 - 3 - 20] = 'i';
	id[164 - 2 - 3 - 20 + 1] = '\0';
	ck_assert_int_eq(cohort_store_install(s, good, &o, NULL), COHORT_EINVAL);
}
END_TEST

/* ---- hostile archives --------------------------------------------------- */

START_TEST(hardlink_out)
{
	const struct ent e1[] = { F("META-INF/extension.xed", good_xed),
				  { "lib/h", NULL, 0, HARDLINK, "../../etc/passwd" } };
	const struct ent e2[] = { F("META-INF/extension.xed", good_xed),
				  { "h", NULL, 0, HARDLINK, "/etc/shadow" } };

	install_refused(TAR("hl1.tar", e1), "a hard link to ../../etc/passwd",
			"entry 'lib/h' is a hard link to '../../etc/passwd'");
	install_refused(mk("hl2.tar.gz", "tar", ARCHIVE_FILTER_GZIP, NULL, e2,
			   N(e2)),
			"a hard link to /etc/shadow",
			"entry 'h' is a hard link to '/etc/shadow'");
}
END_TEST

START_TEST(zip_bomb)
{
	/* 160 MiB of zeros, deflated at level 9: about 160 KB of file */
	size_t n = 160u << 20, len;
	char *zeros = calloc(1, n);
	const struct ent e[] = {
		F("META-INF/extension.xed", good_xed),
		{ "lib/zeros.bin", zeros, n, REG, NULL },
	};
	const char *p;
	unsigned char *b;

	ck_assert_ptr_nonnull(zeros);
	p = mk("bomb.jar", "zip", ARCHIVE_FILTER_NONE, "zip:compression-level=9",
	       e, N(e));
	free(zeros);
	b = slurp(p, &len);
	free(b);
	ck_assert_uint_lt(len, 200000);
	install_refused(p, "a zip bomb",
			"package 'bomb.jar' refused: it expands more than 1000 "
			"times (at entry 'lib/zeros.bin')");
}
END_TEST

START_TEST(huge_metadata)
{
	size_t big = 8u << 20, i;
	char *text = malloc(big + 1);
	struct ent e[] = {
		F("lib/a.class", "x"),
		{ "META-INF/MANIFEST.MF", NULL, 0, REG, NULL },
	};

	ck_assert_ptr_nonnull(text);
	/* 8 MiB of manifest lines */
	for (i = 0; i + 32 <= big; i += 32)
		memcpy(text + i, "X-Filler: 0123456789abcdefghij\n", 32);
	e[1].data = text;
	e[1].len = i;
	install_refused(ZIP("mf8m.jar", e), "a manifest of 8 MiB",
			"entry 'META-INF/MANIFEST.MF' is larger than 1 MiB");
	install_refused(mk("mf8m.tar.gz", "tar", ARCHIVE_FILTER_GZIP, NULL, e,
			   N(e)),
			"a manifest of 8 MiB in a tar.gz",
			"entry 'META-INF/MANIFEST.MF' is larger than 1 MiB");
	/* one line of 900 KB (under the cap): an id far too long */
	memcpy(text, "XWiki-Extension-Id: ", 20);
	memset(text + 20, 'a', 900000);
	text[900020] = '\n';
	e[1].len = 900021;
	install_refused(ZIP("line900k.jar", e), "a manifest line of 900 KB",
			"in 'MANIFEST.MF' is longer than 255 bytes");
	/* one line of 3 MB */
	memset(text + 20, 'a', 3000000);
	text[3000020] = '\n';
	e[1].len = 3000021;
	install_refused(ZIP("line3m.jar", e), "a manifest line of 3 MB",
			"is larger than 1 MiB");
	/* a descriptor of 4 MiB */
	{
		size_t k = 0;

		k += (size_t)sprintf(text, "<extension><id>a</id><version>1"
					   "</version><description>");
		memset(text + k, 'd', 4u << 20);
		k += 4u << 20;
		k += (size_t)sprintf(text + k, "</description></extension>");
		e[1].name = "META-INF/extension.xed";
		e[1].len = k;
		install_refused(ZIP("xed4m.jar", e), "a descriptor of 4 MiB",
				"entry 'META-INF/extension.xed' is larger than "
				"1 MiB");
	}
	free(text);
}
END_TEST

/* A zip written by hand (see write_stored_zip()) as pkgs/NAME. */
static const char *hand_zip(const char *name, const struct ent *e, size_t n)
{
	const char *path = at("pkgs/%s", name);

	write_stored_zip(path, e, n);
	return path;
}

START_TEST(wrong_crc)
{
	const struct ent e[] = {
		F("META-INF/extension.xed", good_xed),
		F("lib/a.class", "hello, hello, hello, hello"),
	};
	const char *p = hand_zip("crc.jar", e, N(e));
	unsigned char *b;
	size_t n, i;

	/* sound as written */
	ck_assert_msg(cohort_store_install(s, p, NULL, NULL) == 0, "%s",
		      cohort_error_last());
	ck_assert_int_eq(cohort_store_uninstall(s, NULL, "good", 1), 0);
	p = hand_zip("crc2.jar", e, N(e));
	b = slurp(p, &n);
	for (i = 0; i + 5 <= n && memcmp(b + i, "hello", 5); i++)
		;
	ck_assert_uint_lt(i + 5, n);
	b[i + 7] ^= 0x20; /* a stored byte: only the CRC can tell */
	spit(p, b, n);
	free(b);
	install_refused(p, "a wrong CRC",
			"package 'crc2.jar' is damaged: entry 'lib/a.class': "
			"ZIP bad CRC");
}
END_TEST

START_TEST(truncated_tar_gz)
{
	char payload[20000];
	const struct ent e[] = {
		F("META-INF/extension.xed", good_xed),
		{ "lib/a.bin", payload, sizeof(payload), REG, NULL },
	};
	const char *p;
	unsigned char *b;
	size_t n, i;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (char)(i * 7919 >> 3);
	p = mk("cut.tar.gz", "tar", ARCHIVE_FILTER_GZIP, NULL, e, N(e));
	b = slurp(p, &n);
	spit(p, b, n / 2);
	free(b);
	install_refused(p, "a tar.gz cut in half",
			"package 'cut.tar.gz' is damaged");
}
END_TEST

START_TEST(devices_and_fifos)
{
	const struct ent chr[] = { F("META-INF/extension.xed", good_xed),
				   { "dev/tty", NULL, 0, CHARDEV, NULL } };
	const struct ent blk[] = { F("META-INF/extension.xed", good_xed),
				   { "dev/sda", NULL, 0, BLKDEV, NULL } };
	const struct ent fifo[] = { F("META-INF/extension.xed", good_xed),
				    { "run/pipe", NULL, 0, FIFO, NULL } };

	install_refused(TAR("chr.tar", chr), "a character device",
			"entry 'dev/tty' is a device, fifo or socket, not a file");
	install_refused(TAR("blk.tar", blk), "a block device",
			"entry 'dev/sda' is a device, fifo or socket, not a file");
	install_refused(TAR("fifo.tar", fifo), "a fifo",
			"entry 'run/pipe' is a device, fifo or socket, not a file");
	install_refused(mk("fifo.tar.gz", "tar", ARCHIVE_FILTER_GZIP, NULL, fifo,
			   N(fifo)),
			"a fifo in a tar.gz", "is a device, fifo or socket");
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *hostile_suite(void)
{
	Suite *su = suite_create("hostile");
	TCase *tc;

	tc = tcase_create("names");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, every_value_refused_at_every_entry_point, 0,
			    (int)N(entries));
	tcase_add_test(tc, rules_accept_what_they_should);
	suite_add_tcase(su, tc);

	tc = tcase_create("metadata");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, hostile_names_in_package_metadata, 0, PLACES);
	tcase_add_test(tc, nul_in_metadata);
	tcase_add_test(tc, unsafe_title_is_no_id);
	tcase_add_test(tc, id_and_version_too_long_together);
	suite_add_tcase(su, tc);

	tc = tcase_create("archives");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, hardlink_out);
	tcase_add_test(tc, zip_bomb);
	tcase_add_test(tc, huge_metadata);
	tcase_add_test(tc, wrong_crc);
	tcase_add_test(tc, truncated_tar_gz);
	tcase_add_test(tc, devices_and_fifos);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return run_suite(hostile_suite()) == 0 ? 0 : 1;
}
