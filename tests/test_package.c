/*
 * test_package.c - reading packages: each metadata source and their
 * precedence, every archive kind, the sink seeing every byte once, and the
 * refusal (with its reason) of hostile, damaged and non-archive files.
 *
 * Test archives are made at test time in a fresh folder with libarchive's
 * write API, then some are damaged byte by byte.
 */
#define _GNU_SOURCE 1
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cohort/common.h"
#include "error.h"
#include "os/os.h"
#include "package.h"
#include "fixture.h"

/* ---- fixture ------------------------------------------------------------ */

static char dir[PATH_MAX];
/* Every test's folder is made in 'run_dir', which main() removes after
 * the run: a failed assertion ends a test process without teardown. */
static char run_dir[PATH_MAX];
static struct cohort__pkg_meta meta;

static void setup(void)
{
	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	make_test_dir(dir, sizeof(dir), run_dir);
	memset(&meta, 0, sizeof(meta));
}

static void teardown(void)
{
	cohort__pkg_meta_free(&meta);
	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	rm_rf(dir);
	dir[0] = '\0';
}

static const char *at(const char *name)
{
	return under(dir, name);
}

/* ---- files -------------------------------------------------------------- */

/* Offset of 'needle' in 'hay' (the last one if 'last'); -1 if absent. */
static long find(const unsigned char *hay, size_t n, const void *needle,
		 size_t k, int last)
{
	long found = -1;
	size_t i;

	for (i = 0; i + k <= n; i++)
		if (!memcmp(hay + i, needle, k)) {
			found = (long)i;
			if (!last)
				break;
		}
	return found;
}

/* ---- building archives -------------------------------------------------- */

/* Write NAME in the test folder (see write_archive()). */
static const char *mk(const char *name, const char *fmt, int filter,
		      const char *opts, const struct ent *e, size_t n)
{
	static const struct ent_look look = { 0755, 0777, 0x0103 };
	const char *path = at(name);

	write_archive(path, fmt, filter, opts, e, n, &look);
	return path;
}

#define ZIP(name, ents) mk(name, "zip", ARCHIVE_FILTER_NONE, NULL, ents, N(ents))
#define TAR(name, filter, ents) mk(name, "tar", filter, NULL, ents, N(ents))

/* A zip written by hand (see write_stored_zip()), NAME in the test folder. */
static const char *mini_zip(const char *name, const struct ent *e, size_t n)
{
	const char *path = at(name);

	write_stored_zip(path, e, n);
	return path;
}

/* ---- inspecting --------------------------------------------------------- */

struct hsink {
	XXH3_state_t *st;
	uint64_t bytes;
	unsigned long calls;
	unsigned long fail_at; /* fail this call (from 1), 0 never */
};

static int hsink_cb(const void *buf, size_t len, void *arg)
{
	struct hsink *h = arg;

	ck_assert_uint_gt(len, 0);
	if (++h->calls == h->fail_at)
		return 42;
	XXH3_64bits_update(h->st, buf, len);
	h->bytes += len;
	return 0;
}

/*
 * Inspect 'path' (named 'name' for the user, or its base name) into
 * 'meta'; on success the sink must have seen the file's bytes, in order,
 * once each.
 */
static int inspect_as(const char *path, const char *name)
{
	struct hsink h = { 0 };
	unsigned char *b;
	size_t n;
	int fd, rc;

	cohort__pkg_meta_free(&meta);
	h.st = XXH3_createState();
	ck_assert_ptr_nonnull(h.st);
	XXH3_64bits_reset(h.st);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	if (!name) {
		name = strrchr(path, '/');
		name = name ? name + 1 : path;
	}
	rc = cohort__pkg_inspect(&meta, fd, name, hsink_cb, &h);
	close(fd);
	if (rc == 0) {
		b = slurp(path, &n);
		ck_assert_uint_eq(h.bytes, n);
		ck_assert_uint_eq(meta.bytes, n);
		ck_assert_msg(XXH3_64bits_digest(h.st) == XXH3_64bits(b, n),
			      "the sink saw other bytes than the file's");
		free(b);
	}
	XXH3_freeState(h.st);
	return rc;
}

static int inspect(const char *path)
{
	return inspect_as(path, NULL);
}

#define OK(path)                                                           \
	do {                                                               \
		int rc_ = inspect(path);                                   \
		ck_assert_msg(rc_ == 0, "'%s' refused: %s", path,          \
			      cohort_error_last());                        \
	} while (0)

/* Refused with COHORT_EINVAL and a message holding 'needle'. */
#define REFUSED(path, needle)                                              \
	do {                                                               \
		int rc_ = inspect(path);                                   \
		ck_assert_msg(rc_ == COHORT_EINVAL,                         \
			      "'%s' gave %d, not EINVAL (%s)", path, rc_,  \
			      cohort_error_last());                        \
		assert_msg_has(needle);                                    \
		ck_assert_str_eq(meta.id, "");                             \
		ck_assert_ptr_null(meta.deps);                             \
	} while (0)

/* ---- metadata texts ----------------------------------------------------- */

static const char xed[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<extension>\n"
	"  <id>org.xwiki.contrib:foo</id>\n"
	"  <version> 1.2.3 </version>\n"
	"  <type>jar</type>\n"
	"  <name>Foo</name>\n"
	"  <dependencies>\n"
	"    <dependency><id>org.xwiki.commons:xwiki-commons-component-api"
	"</id><constraint>[14.10,)</constraint></dependency>\n"
	"    <dependency><id>org.slf4j:slf4j-api</id></dependency>\n"
	"    <dependency><id>org.slf4j:slf4j-api</id></dependency>\n"
	"    <dependency><id>  </id></dependency>\n"
	"  </dependencies>\n"
	"  <managedDependencies><dependency><id>not:this</id></dependency>"
	"</managedDependencies>\n"
	"</extension>\n";

static const char pkgxml[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<package>\n"
	"  <infos>\n"
	"    <name>Foo Pages</name>\n"
	"    <description>d</description>\n"
	"    <version>2.0</version>\n"
	"    <extensionId>org.xwiki.contrib:foo-ui</extensionId>\n"
	"  </infos>\n"
	"  <files><file language=\"\" defaultAction=\"0\">Main.WebHome</file>"
	"</files>\n"
	"</package>\n";

static const char rhq[] =
	"<?xml version=\"1.0\"?>\n"
	"<plugin name=\"PostgresPlugin\" displayName=\"Postgres\"\n"
	"        package=\"org.rhq.plugins.postgres\"\n"
	"        xmlns=\"urn:xmlns:rhq-plugin\"\n"
	"        xmlns:c=\"urn:xmlns:rhq-configuration\">\n"
	"  <depends plugin=\"JMX\" useClasses=\"true\"/>\n"
	"  <depends plugin=\"Database\"/>\n"
	"  <server name=\"Postgres Server\"><depends plugin=\"Nested\"/>"
	"</server>\n"
	"</plugin>\n";

static const char manifest_crlf[] =
	"Manifest-Version: 1.0\r\n"
	"Created-By: test\r\n"
	"Bundle-SymbolicName: org.example.very.long.bundle.symbolic.name.th\r\n"
	" at.continues;singleton:=true\r\n"
	"Implementation-Title: Example Thing\r\n"
	"Bundle-Version: 4.5.6\r\n"
	"\r\n"
	"Name: org/example/\r\n"
	"XWiki-Extension-Id: not.this:one\r\n"
	"Implementation-Version: 9.9\r\n";

/* ---- the parsers, on strings -------------------------------------------- */

START_TEST(name_valid)
{
	static const char *const good[] = {
		"a", "org.xwiki.contrib:foo", "1.0", "1.0-SNAPSHOT", "x_y+z~1@2",
		"A9", "a.b.c", "PostgresPlugin", "1.0-rc-1",
	};
	static const char *const bad[] = {
		"", ".", "..", ".hidden", "-x", "a/b", "a\\b", "../x", "a..b",
		"a b", "a\tb", "a\nb", "a;b", "a*", "é", "a$b", "a|b",
	};
	char longer[300];
	size_t i;

	for (i = 0; i < N(good); i++)
		ck_assert_msg(cohort__pkg_name_valid(good[i], 255), "'%s'", good[i]);
	for (i = 0; i < N(bad); i++)
		ck_assert_msg(!cohort__pkg_name_valid(bad[i], 255), "'%s'", bad[i]);
	ck_assert(!cohort__pkg_name_valid(NULL, 255));
	memset(longer, 'a', sizeof(longer));
	longer[255] = '\0';
	ck_assert(cohort__pkg_name_valid(longer, 255));
	ck_assert(!cohort__pkg_name_valid(longer, 127));
	longer[255] = 'a';
	longer[256] = '\0';
	ck_assert(!cohort__pkg_name_valid(longer, 255));
	ck_assert(!cohort__pkg_name_valid(longer, 1000));
}
END_TEST

static int mf(const char *text)
{
	cohort__pkg_meta_free(&meta);
	memset(&meta, 0, sizeof(meta));
	return cohort__parse_manifest(&meta, text, strlen(text));
}

START_TEST(manifest_precedence_of_attributes)
{
	ck_assert_int_eq(mf("Manifest-Version: 1.0\n"
			    "Implementation-Title: title\n"
			    "Bundle-SymbolicName: bsn\n"
			    "XWiki-Extension-Id: org.x:y\n"
			    "Bundle-Version: 2\n"
			    "Implementation-Version: 1\n"),
			 0);
	ck_assert_str_eq(meta.id, "org.x:y");
	ck_assert_str_eq(meta.version, "1");
	ck_assert_str_eq(meta.source, "MANIFEST.MF");
	ck_assert_int_eq(mf("Implementation-Title: title\n"
			    "bundle-symbolicname: bsn\n"
			    "Bundle-Version: 2\n"),
			 0);
	ck_assert_str_eq(meta.id, "bsn");
	ck_assert_str_eq(meta.version, "2");
	ck_assert_int_eq(mf("Implementation-Title:   title  \n"), 0);
	ck_assert_str_eq(meta.id, "title");
	ck_assert_str_eq(meta.version, "");
	/* a title that is not a safe name is no id */
	ck_assert_int_eq(mf("Implementation-Title: Maven Core\n"
			    "Implementation-Version: 3.8.7\n"),
			 0);
	ck_assert_str_eq(meta.id, "");
	ck_assert_str_eq(meta.source, "");
	ck_assert_str_eq(meta.version, "3.8.7");
	ck_assert_int_eq(mf("Manifest-Version: 1.0\n"), 0);
	ck_assert_str_eq(meta.id, "");
	ck_assert_str_eq(meta.source, "");
	ck_assert_int_eq(mf(""), 0);
	ck_assert_str_eq(meta.id, "");
	/* a repeated attribute: the last wins, as in java.util.jar */
	ck_assert_int_eq(mf("XWiki-Extension-Id: a\nXWiki-Extension-Id: b\n"), 0);
	ck_assert_str_eq(meta.id, "b");
	/* no newline at the end */
	ck_assert_int_eq(mf("XWiki-Extension-Id: a:b"), 0);
	ck_assert_str_eq(meta.id, "a:b");
}
END_TEST

START_TEST(manifest_continuation_crlf_params)
{
	ck_assert_int_eq(mf(manifest_crlf), 0);
	/* continued line joined, parameters cut, per-entry section ignored */
	ck_assert_str_eq(meta.id,
			 "org.example.very.long.bundle.symbolic.name.that.continues");
	ck_assert_str_eq(meta.version, "4.5.6");
	/* LF and CR-only line ends, a value split over three lines */
	ck_assert_int_eq(mf("XWiki-Extension-Id: org.xwiki.contr\n ib:fo\n o\n"
			    "Implementation-Version: 1.\n 0\n"),
			 0);
	ck_assert_str_eq(meta.id, "org.xwiki.contrib:foo");
	ck_assert_str_eq(meta.version, "1.0");
	ck_assert_int_eq(mf("Bundle-SymbolicName: a.b ; singleton:=true\r"
			    "Bundle-Version: 3\r\rName: x\rBundle-Version: 4\r"),
			 0);
	ck_assert_str_eq(meta.id, "a.b");
	ck_assert_str_eq(meta.version, "3");
	/* a continuation's one space is the marker, further ones are text */
	ck_assert_int_eq(mf("XWiki-Extension-Id: a\n  b\n"), 0);
	ck_assert_str_eq(meta.id, "a b");
}
END_TEST

START_TEST(manifest_malformed)
{
	char big[300];

	ck_assert_int_eq(mf("Manifest-Version: 1.0\nno colon here\n"),
			 COHORT_EINVAL);
	assert_msg_has("line 2");
	ck_assert_int_eq(mf(" starts with a continuation\n"), COHORT_EINVAL);
	assert_msg_has("continues no line");
	ck_assert_int_eq(mf(": no name\n"), COHORT_EINVAL);
	ck_assert_int_eq(cohort__parse_manifest(&meta, "A: b\0c\n", 7),
			 COHORT_EINVAL);
	assert_msg_has("NUL");
	memset(big, 'x', sizeof(big));
	memcpy(big, "XWiki-Extension-Id: ", 20);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(mf(big), COHORT_EINVAL);
	assert_msg_has("longer than 255");
}
END_TEST

static int parse(int (*fn)(struct cohort__pkg_meta *, const char *, size_t),
		 const char *text)
{
	cohort__pkg_meta_free(&meta);
	memset(&meta, 0, sizeof(meta));
	return fn(&meta, text, strlen(text));
}

START_TEST(xed_fields_and_deps)
{
	ck_assert_int_eq(parse(cohort__parse_xed, xed), 0);
	ck_assert_str_eq(meta.id, "org.xwiki.contrib:foo");
	ck_assert_str_eq(meta.version, "1.2.3");
	ck_assert_str_eq(meta.source, "extension.xed");
	ck_assert_uint_eq(meta.ndeps, 2);
	ck_assert_str_eq(meta.deps[0],
			 "org.xwiki.commons:xwiki-commons-component-api");
	ck_assert_str_eq(meta.deps[1], "org.slf4j:slf4j-api");
	/* CDATA, comments, a namespace; no id */
	ck_assert_int_eq(parse(cohort__parse_xed,
			       "<x:extension xmlns:x='urn:x'><x:id><![CDATA[a:b]]>"
			       "<!-- c --></x:id></x:extension>"),
			 0);
	ck_assert_str_eq(meta.id, "a:b");
	ck_assert_int_eq(parse(cohort__parse_xed, "<extension/>"), 0);
	ck_assert_str_eq(meta.id, "");
	ck_assert_str_eq(meta.source, "");
	ck_assert_int_eq(parse(cohort__parse_xed, "<plugin name='x'/>"),
			 COHORT_EINVAL);
	assert_msg_has("not 'extension'");
}
END_TEST

START_TEST(package_xml_fields)
{
	ck_assert_int_eq(parse(cohort__parse_package_xml, pkgxml), 0);
	ck_assert_str_eq(meta.id, "org.xwiki.contrib:foo-ui");
	ck_assert_str_eq(meta.version, "2.0");
	ck_assert_str_eq(meta.source, "package.xml");
	ck_assert_uint_eq(meta.ndeps, 0);
	/* another tool's package.xml says nothing */
	ck_assert_int_eq(parse(cohort__parse_package_xml,
			       "<package xmlns='http://pear.php.net/dtd/package-2.0'"
			       "><name>x</name></package>"),
			 0);
	ck_assert_str_eq(meta.id, "");
	ck_assert_int_eq(parse(cohort__parse_package_xml,
			       "<project><infos><extensionId>a</extensionId>"
			       "</infos></project>"),
			 0);
	ck_assert_str_eq(meta.id, "");
}
END_TEST

START_TEST(rhq_plugin_fields)
{
	ck_assert_int_eq(parse(cohort__parse_rhq_plugin, rhq), 0);
	ck_assert_str_eq(meta.id, "PostgresPlugin");
	ck_assert_str_eq(meta.version, "");
	ck_assert_str_eq(meta.source, "rhq-plugin.xml");
	/* direct <depends> only: a server's own depends is not the plugin's */
	ck_assert_uint_eq(meta.ndeps, 2);
	ck_assert_str_eq(meta.deps[0], "JMX");
	ck_assert_str_eq(meta.deps[1], "Database");
	ck_assert_int_eq(parse(cohort__parse_rhq_plugin,
			       "<rhq:plugin xmlns:rhq='urn:xmlns:rhq-plugin' "
			       "name=' P ' version='4.0'/>"),
			 0);
	ck_assert_str_eq(meta.id, "P");
	ck_assert_str_eq(meta.version, "4.0");
	ck_assert_int_eq(parse(cohort__parse_rhq_plugin, "<extension/>"),
			 COHORT_EINVAL);
	assert_msg_has("not 'plugin'");
}
END_TEST

START_TEST(xml_malformed_is_a_clean_error)
{
	static const char *const bad[] = {
		"",
		"not xml at all",
		"<extension><id>a</id>",
		"<extension><id>a</extension>",
		"<extension>&undefined;</extension>",
		"<?xml version='1.0' encoding='bogus-charset'?><extension/>",
		"<a/><b/>",
		"\xff\xfe<\x00a\x00",
	};
	int (*const fns[])(struct cohort__pkg_meta *, const char *, size_t) = {
		cohort__parse_xed,
		cohort__parse_package_xml,
		cohort__parse_rhq_plugin,
	};
	size_t i, j, k;

	for (j = 0; j < N(fns); j++) {
		for (i = 0; i < N(bad); i++) {
			ck_assert_msg(parse(fns[j], bad[i]) == COHORT_EINVAL,
				      "'%s' accepted", bad[i]);
			ck_assert_str_ne(cohort_error_last(), "");
		}
		/* every prefix of a good document: parsed or refused, never a
		 * crash (ASan build) */
		for (k = 0; k < sizeof(xed); k++) {
			cohort__pkg_meta_free(&meta);
			memset(&meta, 0, sizeof(meta));
			(void)fns[j](&meta, xed, k);
		}
	}
	ck_assert_int_eq(parse(cohort__parse_xed, "<extension><id>a</id>"),
			 COHORT_EINVAL);
	assert_msg_has("not well-formed XML");
	assert_msg_has("extension.xed");
}
END_TEST

START_TEST(xml_entities_and_dtds_refused)
{
	static const char laughs[] =
		"<?xml version='1.0'?>\n<!DOCTYPE extension [\n"
		" <!ENTITY a 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'>\n"
		" <!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>\n"
		" <!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>\n"
		" <!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>\n"
		" <!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'>\n"
		" <!ENTITY f '&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;'>\n"
		" <!ENTITY g '&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;'>\n"
		" <!ENTITY h '&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;'>\n"
		" <!ENTITY i '&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;'>\n"
		"]>\n<extension><id>&i;</id></extension>\n";
	char xxe[512];
	const char *secret = at("secret");
	time_t t0 = time(NULL);

	ck_assert_int_eq(parse(cohort__parse_xed, laughs), COHORT_EINVAL);
	ck_assert_str_eq(meta.id, "");
	/* an external entity naming a local file, or an endless one */
	spit(secret, "SECRET", 6);
	snprintf(xxe, sizeof(xxe),
		 "<!DOCTYPE extension [<!ENTITY s SYSTEM 'file://%s'>"
		 "<!ENTITY z SYSTEM '/dev/zero'>]>"
		 "<extension><id>&s;</id><version>&z;</version></extension>",
		 secret);
	ck_assert_int_eq(parse(cohort__parse_xed, xxe), COHORT_EINVAL);
	ck_assert_str_eq(meta.id, "");
	assert_msg_has("document type declaration");
	/* an external DTD is not fetched either */
	ck_assert_int_eq(parse(cohort__parse_rhq_plugin,
			       "<!DOCTYPE plugin SYSTEM 'http://127.0.0.1:9/x.dtd'>"
			       "<plugin name='a'/>"),
			 COHORT_EINVAL);
	ck_assert(time(NULL) - t0 < 20);
}
END_TEST

START_TEST(xml_field_too_long)
{
	char doc[600];
	char v[300];

	memset(v, 'a', sizeof(v));
	v[sizeof(v) - 1] = '\0';
	snprintf(doc, sizeof(doc), "<extension><id>%s</id></extension>", v);
	ck_assert_int_eq(parse(cohort__parse_xed, doc), COHORT_EINVAL);
	assert_msg_has("longer than 255");
	snprintf(doc, sizeof(doc), "<plugin name='x' version='%s'/>", v);
	ck_assert_int_eq(parse(cohort__parse_rhq_plugin, doc), COHORT_EINVAL);
	assert_msg_has("longer than 127");
}
END_TEST

/* ---- metadata sources in packages --------------------------------------- */

START_TEST(jar_with_xed)
{
	const struct ent e[] = {
		{ "META-INF/", NULL, 0, DIR_, NULL },
		F("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"
					  "Bundle-SymbolicName: other\n"),
		F("META-INF/extension.xed", xed),
		F("org/x/Foo.class", "\xca\xfe\xba\xbe"),
	};

	OK(ZIP("foo-1.2.3.jar", e));
	ck_assert_str_eq(meta.id, "org.xwiki.contrib:foo");
	ck_assert_str_eq(meta.version, "1.2.3");
	ck_assert_str_eq(meta.source, "extension.xed");
	ck_assert_str_eq(meta.ext, "jar");
	ck_assert_uint_eq(meta.ndeps, 2);
	ck_assert_str_eq(meta.deps[1], "org.slf4j:slf4j-api");
	ck_assert_uint_eq(meta.entries, 4);
}
END_TEST

START_TEST(jar_with_manifest)
{
	const struct ent e[] = {
		F("META-INF/MANIFEST.MF", manifest_crlf),
		F("a.txt", "a"),
	};

	OK(mk("thing.jar", "zip", ARCHIVE_FILTER_NONE, "zip:compression=store",
	      e, N(e)));
	ck_assert_str_eq(meta.id,
			 "org.example.very.long.bundle.symbolic.name.that.continues");
	ck_assert_str_eq(meta.version, "4.5.6");
	ck_assert_str_eq(meta.source, "MANIFEST.MF");
	ck_assert_uint_eq(meta.ndeps, 0);
}
END_TEST

START_TEST(xar_with_package_xml)
{
	const struct ent e[] = {
		F("package.xml", pkgxml),
		F("Main/WebHome.xml", "<xwikidoc/>"),
	};

	OK(ZIP("foo-ui-2.0.xar", e));
	ck_assert_str_eq(meta.id, "org.xwiki.contrib:foo-ui");
	ck_assert_str_eq(meta.version, "2.0");
	ck_assert_str_eq(meta.source, "package.xml");
	ck_assert_str_eq(meta.ext, "xar");
}
END_TEST

START_TEST(rhq_plugin_version_from_manifest)
{
	const struct ent e[] = {
		F("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"
					  "Implementation-Title: Postgres\n"
					  "Implementation-Version: 4.13.0\n"),
		F("META-INF/rhq-plugin.xml", rhq),
	};

	OK(ZIP("rhq-postgres-plugin.jar", e));
	ck_assert_str_eq(meta.id, "PostgresPlugin");
	ck_assert_str_eq(meta.source, "rhq-plugin.xml");
	ck_assert_str_eq(meta.version, "4.13.0");
	ck_assert_uint_eq(meta.ndeps, 2);
	ck_assert_str_eq(meta.deps[0], "JMX");
}
END_TEST

START_TEST(precedence)
{
	struct ent e[] = {
		F("META-INF/MANIFEST.MF", "XWiki-Extension-Id: from.manifest\n"
					  "Implementation-Version: 0.4\n"),
		F("META-INF/rhq-plugin.xml", "<plugin name='from.rhq'>"
					     "<depends plugin='D'/></plugin>"),
		F("package.xml", "<package><infos><extensionId>from.pkg"
				 "</extensionId></infos></package>"),
		F("META-INF/extension.xed", "<extension><id>from.xed</id>"
					    "</extension>"),
	};

	OK(mk("p1.zip", "zip", ARCHIVE_FILTER_NONE, NULL, e, 4));
	ck_assert_str_eq(meta.id, "from.xed");
	ck_assert_str_eq(meta.source, "extension.xed");
	ck_assert_str_eq(meta.version, "0.4"); /* filled by the manifest */
	ck_assert_uint_eq(meta.ndeps, 1);      /* filled by rhq-plugin.xml */
	OK(mk("p2.zip", "zip", ARCHIVE_FILTER_NONE, NULL, e, 3));
	ck_assert_str_eq(meta.id, "from.pkg");
	ck_assert_str_eq(meta.source, "package.xml");
	OK(mk("p3.zip", "zip", ARCHIVE_FILTER_NONE, NULL, e, 2));
	ck_assert_str_eq(meta.id, "from.rhq");
	ck_assert_str_eq(meta.source, "rhq-plugin.xml");
	ck_assert_str_eq(meta.version, "0.4");
	OK(mk("p4.zip", "zip", ARCHIVE_FILTER_NONE, NULL, e, 1));
	ck_assert_str_eq(meta.id, "from.manifest");
	ck_assert_str_eq(meta.source, "MANIFEST.MF");
	ck_assert_str_eq(meta.ext, "zip");
	/* order in the archive does not matter */
	e[0] = e[3];
	e[3].name = "META-INF/MANIFEST.MF";
	e[3].data = "XWiki-Extension-Id: from.manifest\n";
	OK(mk("p5.zip", "zip", ARCHIVE_FILTER_NONE, NULL, e, 4));
	ck_assert_str_eq(meta.id, "from.xed");
}
END_TEST

START_TEST(no_metadata)
{
	const struct ent e[] = {
		F("README", "hello"),
		{ "lib/", NULL, 0, DIR_, NULL },
		F("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"),
	};

	OK(ZIP("plain.zip", e));
	ck_assert_str_eq(meta.id, "");
	ck_assert_str_eq(meta.version, "");
	ck_assert_str_eq(meta.source, "");
	ck_assert_uint_eq(meta.entries, 3);
	OK(mk("plain.tar", "tar", ARCHIVE_FILTER_NONE, NULL, e, 2));
	ck_assert_str_eq(meta.id, "");
	ck_assert_str_eq(meta.ext, "tar");
}
END_TEST

START_TEST(tar_kinds_and_ext)
{
	static const struct {
		const char *name;
		int filter;
		const char *ext;
	} k[] = {
		{ "a.tar", ARCHIVE_FILTER_NONE, "tar" },
		{ "a.tar.gz", ARCHIVE_FILTER_GZIP, "tar.gz" },
		{ "a.tgz", ARCHIVE_FILTER_GZIP, "tar.gz" },
		{ "a.tar.bz2", ARCHIVE_FILTER_BZIP2, "tar.bz2" },
		{ "a.tar.xz", ARCHIVE_FILTER_XZ, "tar.xz" },
		{ "A.TAR.XZ", ARCHIVE_FILTER_XZ, "tar.xz" },
		/* no hint, or a wrong one: what the file is */
		{ "upload.bin", ARCHIVE_FILTER_BZIP2, "tar.bz2" },
		{ "upload", ARCHIVE_FILTER_NONE, "tar" },
		{ "liar.jar", ARCHIVE_FILTER_GZIP, "tar.gz" },
		{ "liar.tar.gz", ARCHIVE_FILTER_XZ, "tar.xz" },
	};
	const struct ent e[] = {
		{ "./", NULL, 0, DIR_, NULL },
		{ "./META-INF/", NULL, 0, DIR_, NULL },
		F("./META-INF/MANIFEST.MF", "XWiki-Extension-Id: t:t\n"
					    "Bundle-Version: 1\n"),
		F("./bin/run", "#!/bin/sh\n"),
	};
	size_t i;

	for (i = 0; i < N(k); i++) {
		OK(mk(k[i].name, "tar", k[i].filter, NULL, e, N(e)));
		ck_assert_str_eq(meta.id, "t:t");
		ck_assert_str_eq(meta.version, "1");
		ck_assert_msg(!strcmp(meta.ext, k[i].ext), "%s: ext '%s'",
			      k[i].name, meta.ext);
		ck_assert_uint_eq(meta.entries, 4);
	}
	/* a zip's hint: the name if it is a zip kind, else "zip" */
	OK(ZIP("z.bin", e));
	ck_assert_str_eq(meta.ext, "zip");
	OK(ZIP("z.tar.gz", e));
	ck_assert_str_eq(meta.ext, "zip");
	OK(ZIP("z.JAR", e));
	ck_assert_str_eq(meta.ext, "jar");
}
END_TEST

START_TEST(non_ascii_names)
{
	const struct ent e[] = {
		F("donn\xc3\xa9" "es/\xc3\xa9t\xc3\xa9.txt", "x"),
		F("META-INF/MANIFEST.MF", "Bundle-SymbolicName: a.b\n"),
	};

	OK(ZIP("utf8.zip", e));
	ck_assert_str_eq(meta.id, "a.b");
	OK(TAR("utf8.tar.gz", ARCHIVE_FILTER_GZIP, e));
	ck_assert_str_eq(meta.id, "a.b");
}
END_TEST

/* ---- the sink ----------------------------------------------------------- */

static char *random_bytes(size_t n)
{
	char *b = malloc(n);
	size_t i;
	uint64_t s = 0x9e3779b97f4a7c15ull;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		b[i] = (char)(s >> 24);
	}
	return b;
}

START_TEST(sink_sees_every_byte_once)
{
	const size_t big = 3u * 1024 * 1024 + 12345;
	char *r = random_bytes(big);
	const struct ent e[] = {
		F("META-INF/MANIFEST.MF", "XWiki-Extension-Id: s:s\n"),
		{ "big.bin", r, big, REG, NULL },
		F("small", "x"),
	};
	const char *p;
	unsigned char *b;
	size_t n;

	OK(ZIP("big.zip", e));			     /* several chunks */
	OK(mk("big.jar", "zip", ARCHIVE_FILTER_NONE, "zip:compression=store", e,
	      N(e)));
	OK(TAR("big.tar.gz", ARCHIVE_FILTER_GZIP, e));
	OK(TAR("big.tar.xz", ARCHIVE_FILTER_XZ, e));
	/* bytes after a tar's end go through the sink too */
	p = TAR("tail.tar", ARCHIVE_FILTER_NONE, e);
	b = slurp(p, &n);
	b = realloc(b, n + 5000);
	ck_assert_ptr_nonnull(b);
	memset(b + n, 0, 5000);
	memcpy(b + n + 3000, "trailing", 8);
	spit(p, b, n + 5000);
	OK(p);
	ck_assert_uint_eq(meta.bytes, n + 5000);
	ck_assert_str_eq(meta.id, "s:s");
	free(b);
	free(r);
}
END_TEST

START_TEST(sink_failure_aborts)
{
	const size_t big = 2u * 1024 * 1024 + 1;
	char *r = random_bytes(big);
	const struct ent e[] = { { "big.bin", r, big, REG, NULL } };
	const char *p = mk("big.zip", "zip", ARCHIVE_FILTER_NONE,
			   "zip:compression=store", e, 1);
	struct hsink h = { 0 };
	unsigned long nth;
	int fd;

	for (nth = 1; nth <= 3; nth++) {
		memset(&h, 0, sizeof(h));
		h.st = XXH3_createState();
		XXH3_64bits_reset(h.st);
		h.fail_at = nth;
		fd = open(p, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(cohort__pkg_inspect(&meta, fd, "big.zip",
						     hsink_cb, &h),
				 42);
		ck_assert_uint_eq(h.calls, nth);
		close(fd);
		XXH3_freeState(h.st);
	}
	/* no sink at all */
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(cohort__pkg_inspect(&meta, fd, "big.zip", NULL, NULL), 0);
	close(fd);
	free(r);
}
END_TEST

START_TEST(read_error_is_reported)
{
	const size_t big = 2u * 1024 * 1024 + 1;
	char *r = random_bytes(big);
	const struct ent e[] = { { "big.bin", r, big, REG, NULL } };
	const char *p = ZIP("big.zip", e);
	unsigned long nth;

	for (nth = 1; nth <= 3; nth++) {
		int rc;

		cohort__os_fault_clear();
		cohort__os_fault_set(COHORT__OP_READ, nth, EIO, 0);
		rc = inspect(p);
		ck_assert_msg(rc != 0 && rc != COHORT_EINVAL,
			      "read %lu failing gave %d (%s)", nth, rc,
			      cohort_error_last());
		assert_msg_has("cannot read");
		assert_msg_has("Input/output error");
	}
	cohort__os_fault_clear();
	/* a short read is completed, not an error */
	cohort__os_fault_set(COHORT__OP_READ, 1, COHORT__FAULT_SHORT, 1);
	OK(p);
	free(r);
}
END_TEST

/* ---- hostile packages --------------------------------------------------- */

START_TEST(absolute_paths)
{
	const struct ent e1[] = { F("ok", "x"), F("/etc/evil", "x") };
	const struct ent e2[] = { F("\\windows\\evil", "x") };
	const struct ent e3[] = { F("C:/evil", "x") };

	REFUSED(ZIP("abs.zip", e1), "entry '/etc/evil' has an absolute path");
	REFUSED(ZIP("abs2.zip", e2), "has an absolute path");
	REFUSED(ZIP("abs3.zip", e3), "has an absolute path");
}
END_TEST

START_TEST(dotdot_paths)
{
	const struct ent e1[] = { F("../evil", "x") };
	const struct ent e2[] = { F("a/../../evil", "x") };
	const struct ent e3[] = { F("a\\..\\..\\evil", "x") };
	const struct ent e4[] = { { "a/b/..", NULL, 0, DIR_, NULL } };

	REFUSED(ZIP("dd1.jar", e1),
		"package 'dd1.jar' refused: entry '../evil' leaves the package");
	REFUSED(TAR("dd2.tar.gz", ARCHIVE_FILTER_GZIP, e2), "leaves the package");
	REFUSED(ZIP("dd3.zip", e3), "leaves the package");
	REFUSED(TAR("dd4.tar", ARCHIVE_FILTER_NONE, e4), "leaves the package");
}
END_TEST

START_TEST(symlinks)
{
	const struct ent out1[] = { { "a/b/l", NULL, 0, SYMLINK, "../../../etc/passwd" } };
	const struct ent out2[] = { { "l", NULL, 0, SYMLINK, "/etc/passwd" } };
	const struct ent out3[] = { { "a/l", NULL, 0, SYMLINK, "b/../../.." } };
	const struct ent in[] = {
		F("a/b/c", "x"),
		{ "a/b/l", NULL, 0, SYMLINK, "../../a/b/c" },
		{ "top", NULL, 0, SYMLINK, "a/b" },
		{ "here", NULL, 0, SYMLINK, "." },
	};
	const struct ent through[] = {
		{ "d", NULL, 0, SYMLINK, "sub" },
		F("./d/evil", "x"),
	};

	REFUSED(TAR("s1.tar.gz", ARCHIVE_FILTER_GZIP, out1),
		"entry 'a/b/l' links to '../../../etc/passwd', outside the package");
	REFUSED(TAR("s2.tar", ARCHIVE_FILTER_NONE, out2),
		"links to '/etc/passwd', outside");
	REFUSED(TAR("s3.tar", ARCHIVE_FILTER_NONE, out3), "outside the package");
	OK(TAR("s4.tar", ARCHIVE_FILTER_NONE, in));
	REFUSED(TAR("s5.tar", ARCHIVE_FILTER_NONE, through),
		"entry './d/evil' goes through the link 'd'");
	/* in a zip the mode (so that it is a link) is in the central
	 * directory only */
	REFUSED(ZIP("s1.zip", out1),
		"entry 'a/b/l' links to '../../../etc/passwd', outside the package");
	REFUSED(ZIP("s2.zip", out2), "outside the package");
	OK(ZIP("s4.zip", in));
	REFUSED(ZIP("s5.zip", through), "goes through the link 'd'");
}
END_TEST

START_TEST(hardlinks)
{
	const struct ent out1[] = { { "h", NULL, 0, HARDLINK, "../etc/passwd" } };
	const struct ent out2[] = { { "h", NULL, 0, HARDLINK, "/etc/passwd" } };
	const struct ent in[] = {
		F("f", "data"),
		{ "dir/h", NULL, 0, HARDLINK, "f" },
	};
	const struct ent vialink[] = {
		{ "sub/l", NULL, 0, SYMLINK, "../x" },
		{ "h", NULL, 0, HARDLINK, "sub/l" },
	};

	REFUSED(TAR("h1.tar", ARCHIVE_FILTER_NONE, out1),
		"entry 'h' is a hard link to '../etc/passwd'");
	REFUSED(TAR("h2.tar.gz", ARCHIVE_FILTER_GZIP, out2), "is a hard link");
	OK(TAR("h3.tar", ARCHIVE_FILTER_NONE, in));
	ck_assert_uint_eq(meta.entries, 2);
	REFUSED(TAR("h4.tar", ARCHIVE_FILTER_NONE, vialink), "is a hard link");
}
END_TEST

START_TEST(devices_refused)
{
	const struct ent e[] = { { "dev/null", NULL, 0, CHARDEV, NULL } };

	REFUSED(TAR("dev.tar", ARCHIVE_FILTER_NONE, e),
		"entry 'dev/null' is a device");
}
END_TEST

START_TEST(metadata_too_large)
{
	size_t n = COHORT__META_MAX + 1;
	char *big = malloc(n + 1);
	struct ent e[] = {
		{ "META-INF/MANIFEST.MF", NULL, 0, REG, NULL },
	};

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', n);
	memcpy(big, "A: ", 3);
	e[0].data = big;
	e[0].len = n;
	/* the zip writer puts the size after the data: found while reading */
	REFUSED(ZIP("big.jar", e),
		"entry 'META-INF/MANIFEST.MF' is larger than 1 MiB");
	/* a tar says it in the header */
	REFUSED(TAR("big.tar", ARCHIVE_FILTER_NONE, e), "is larger than 1 MiB");
	/* exactly 1 MiB is fine */
	e[0].len = COHORT__META_MAX;
	OK(TAR("ok.tar", ARCHIVE_FILTER_NONE, e));
	/* only metadata is capped */
	e[0].name = "data/MANIFEST.MF";
	e[0].len = n;
	OK(ZIP("data.zip", e));
	free(big);
}
END_TEST

START_TEST(metadata_zip_bomb)
{
	/* just under the size cap, deflated over 1000 times */
	size_t n = COHORT__META_MAX - 1;
	char *zeros = calloc(1, n);
	struct ent e[] = {
		F("a", "x"),
		{ "META-INF/extension.xed", NULL, 0, REG, NULL },
	};
	const char *p;
	size_t len;
	unsigned char *b;

	ck_assert_ptr_nonnull(zeros);
	e[1].data = zeros;
	e[1].len = n;
	p = mk("bomb.jar", "zip", ARCHIVE_FILTER_NONE, "zip:compression-level=9",
	       e, N(e));
	b = slurp(p, &len);
	ck_assert_uint_lt(len, 1500); /* zlib does make it that small */
	free(b);
	REFUSED(p, "entry 'META-INF/extension.xed' expands more than 1000 times");
	/* the same data as a plain entry is fine */
	e[1].name = "zeros.bin";
	OK(mk("zeros.jar", "zip", ARCHIVE_FILTER_NONE, "zip:compression-level=9",
	      e, N(e)));
	/* and a compressible but not explosive descriptor in a bzip2 tar,
	 * after other data, is not mistaken for a bomb */
	memset(zeros, ' ', n);
	memcpy(zeros, "XWiki-Extension-Id: b:b\n", 24);
	e[1].name = "META-INF/MANIFEST.MF";
	{
		char *r = random_bytes(3u << 20);
		const struct ent t[] = {
			{ "r.bin", r, 3u << 20, REG, NULL },
			e[1],
		};

		OK(TAR("text.tar.bz2", ARCHIVE_FILTER_BZIP2, t));
		ck_assert_str_eq(meta.id, "b:b");
		free(r);
	}
	free(zeros);
}
END_TEST

START_TEST(package_bomb)
{
	/* 80 MiB of zeros in a bzip2 tar: a few kilobytes */
	size_t n = 80u << 20;
	char *zeros = calloc(1, n);
	const struct ent e[] = {
		F("README", "x"),
		{ "zeros.img", zeros, n, REG, NULL },
	};

	ck_assert_ptr_nonnull(zeros);
	REFUSED(TAR("bomb.tar.bz2", ARCHIVE_FILTER_BZIP2, e),
		"expands more than 1000 times (at entry 'zeros.img')");
	free(zeros);
}
END_TEST

START_TEST(unsafe_names_in_metadata)
{
	const struct ent id1[] = {
		F("META-INF/extension.xed", "<extension><id>../x</id>"
					    "<version>1</version></extension>"),
	};
	const struct ent id2[] = {
		F("META-INF/MANIFEST.MF", "Bundle-SymbolicName: a/b\n"),
	};
	const struct ent id3[] = {
		F("META-INF/MANIFEST.MF", "Implementation-Title: Foo Bar\n"),
	};
	const struct ent ver[] = {
		F("META-INF/rhq-plugin.xml", "<plugin name='p' version='1/../2'/>"),
	};
	const struct ent dep[] = {
		F("META-INF/rhq-plugin.xml", "<plugin name='p'>"
					     "<depends plugin='.hidden'/></plugin>"),
	};

	REFUSED(ZIP("id1.jar", id1),
		"package 'id1.jar' refused: its id '../x' (from extension.xed) "
		"is not a safe name");
	REFUSED(ZIP("id2.jar", id2), "its id 'a/b' (from MANIFEST.MF)");
	/* a title with spaces is no id: accepted, the caller asks for one */
	OK(ZIP("id3.jar", id3));
	ck_assert_str_eq(meta.id, "");
	REFUSED(ZIP("ver.jar", ver), "its version '1/../2' is not a safe name");
	REFUSED(ZIP("dep.jar", dep), "its dependency '.hidden' is not a safe name");
}
END_TEST

START_TEST(malformed_metadata_in_package)
{
	const struct ent e1[] = {
		F("META-INF/extension.xed", "<extension><id>a</id>"),
	};
	const struct ent e2[] = {
		F("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nbroken\n"),
	};
	const struct ent e3[] = {
		F("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"),
		F("META-INF/manifest.mf", "Bundle-SymbolicName: other\n"),
	};

	REFUSED(ZIP("m1.jar", e1),
		"package 'm1.jar' refused: 'extension.xed' is not well-formed XML");
	REFUSED(ZIP("m2.jar", e2), "'MANIFEST.MF' line 2");
	REFUSED(ZIP("m3.jar", e3), "entry 'META-INF/manifest.mf' appears twice");
}
END_TEST

/* ---- damaged and foreign files ------------------------------------------ */

START_TEST(crc_damage)
{
	char *r = random_bytes(20000);
	const struct ent e[] = {
		F("a/b.class", "hello, hello, hello, hello"),
		{ "r.bin", r, 20000, REG, NULL },
	};
	const char *p;
	unsigned char *b;
	size_t n;
	long off;

	/* the hand-made zip is sound */
	p = mini_zip("crc.zip", e, N(e));
	OK(p);
	ck_assert_uint_eq(meta.entries, 2);
	/* stored: a flipped data byte is only a CRC mismatch */
	b = slurp(p, &n);
	off = find(b, n, "hello", 5, 0);
	ck_assert_int_gt(off, 0);
	b[off + 7] ^= 0x20;
	spit(p, b, n);
	free(b);
	REFUSED(p, "package 'crc.zip' is damaged: entry 'a/b.class': ZIP bad CRC");
	/* deflated: inside the compressed stream */
	p = ZIP("crc2.zip", e);
	b = slurp(p, &n);
	off = find(b, n, "r.bin", 5, 0);
	ck_assert_int_gt(off, 0);
	b[off + 5 + 5000] ^= 0x01;
	spit(p, b, n);
	free(b);
	REFUSED(p, "package 'crc2.zip' is damaged: entry 'r.bin'");
	/* stored with the size after the data (libarchive's writer): the
	 * reader looks for the data descriptor that matches */
	p = mk("crc3.zip", "zip", ARCHIVE_FILTER_NONE, "zip:compression=store",
	       e, N(e));
	b = slurp(p, &n);
	off = find(b, n, "hello", 5, 0);
	b[off + 7] ^= 0x20;
	spit(p, b, n);
	free(b);
	REFUSED(p, "package 'crc3.zip' is damaged: entry 'a/b.class'");
	free(r);
}
END_TEST

START_TEST(truncated)
{
	char *r = random_bytes(200000);
	const struct ent e[] = {
		F("META-INF/MANIFEST.MF", "Bundle-SymbolicName: t\n"),
		{ "r.bin", r, 200000, REG, NULL },
		F("z", "last"),
	};
	static const struct {
		const char *name, *fmt;
		int filter;
	} k[] = {
		{ "t.zip", "zip", ARCHIVE_FILTER_NONE },
		{ "t.tar", "tar", ARCHIVE_FILTER_NONE },
		{ "t.tar.gz", "tar", ARCHIVE_FILTER_GZIP },
		{ "t.tar.bz2", "tar", ARCHIVE_FILTER_BZIP2 },
		{ "t.tar.xz", "tar", ARCHIVE_FILTER_XZ },
	};
	size_t i, n;

	for (i = 0; i < N(k); i++) {
		const char *p = mk(k[i].name, k[i].fmt, k[i].filter, NULL, e, N(e));
		unsigned char *b = slurp(p, &n);
		/* (a plain tar cut in its final zero blocks loses nothing) */
		size_t cuts[] = { n / 2, k[i].filter || i == 0 ? n - 30 : n / 3, 100 };
		size_t c;

		for (c = 0; c < N(cuts); c++) {
			int rc;

			spit(p, b, cuts[c]);
			rc = inspect(p);
			ck_assert_msg(rc == COHORT_EINVAL,
				      "%s cut to %zu: %d (%s)", k[i].name,
				      cuts[c], rc, cohort_error_last());
			/* (100 bytes are not even a tar header) */
			ck_assert_msg(strstr(cohort_error_last(), "damaged") ||
					      (cuts[c] == 100 &&
					       strstr(cohort_error_last(),
						      "not a package archive")),
				      "%s cut to %zu: '%s'", k[i].name, cuts[c],
				      cohort_error_last());
		}
		free(b);
	}
	free(r);
}
END_TEST

START_TEST(tar_header_damage)
{
	const struct ent e[] = {
		F("first", "1"),
		F("second-entry", "2"),
	};
	const char *p = TAR("h.tar", ARCHIVE_FILTER_NONE, e);
	unsigned char *b;
	size_t n;
	long off;

	b = slurp(p, &n);
	off = find(b, n, "second-entry", 12, 0);
	ck_assert_int_gt(off, 0);
	b[off + 3] ^= 0x01; /* the header checksum no longer matches */
	spit(p, b, n);
	REFUSED(p, "package 'h.tar' is damaged: after entry 'first'");
	free(b);
}
END_TEST

START_TEST(zip_central_directory_must_agree)
{
	const struct ent e[] = {
		F("META-INF/MANIFEST.MF", "Bundle-SymbolicName: good\n"),
		F("bbbbbbb", "x"),
	};
	const char *p = ZIP("cd.zip", e);
	unsigned char *b, *c;
	size_t n;
	long off;

	b = slurp(p, &n);
	/* the central directory calls an entry by another name */
	c = malloc(n + 8);
	memcpy(c, b, n);
	off = find(c, n, "bbbbbbb", 7, 1);
	ck_assert_int_gt(off, find(c, n, "bbbbbbb", 7, 0));
	memcpy(c + off, "../evil", 7);
	spit(p, c, n);
	REFUSED(p, "its zip central directory calls entry 'bbbbbbb' '../evil'");
	/* ...or names the manifest where Java would look */
	memcpy(c, b, n);
	off = find(c, n, "bbbbbbb", 7, 1);
	memcpy(c + off, "META-IN", 7);
	spit(p, c, n);
	REFUSED(p, "its zip central directory calls entry");
	/* bytes after the end record */
	memcpy(c, b, n);
	memcpy(c + n, "trailing", 8);
	spit(p, c, n + 8);
	REFUSED(p, "data follows the end of the zip archive");
	/* no central directory at all */
	off = find(b, n, "PK\001\002", 4, 0);
	ck_assert_int_gt(off, 0);
	spit(p, b, (size_t)off);
	REFUSED(p, "package 'cd.zip' is damaged");
	/* the untouched file is fine */
	spit(p, b, n);
	OK(p);
	ck_assert_str_eq(meta.id, "good");
	free(c);
	free(b);
}
END_TEST

START_TEST(foreign_and_empty_files)
{
	const char *p = at("notes.jar");
	const struct ent none[] = { F("x", "x") };

	spit(p, "this is not an archive\n", 23);
	REFUSED(p, "package 'notes.jar' is not a package archive (jar, zip, "
		   "xar or tar)");
	spit(p, "", 0);
	REFUSED(p, "package 'notes.jar' is empty");
	/* a compressed file that is not a tar */
	p = mk("gz.tar.gz", "tar", ARCHIVE_FILTER_GZIP, NULL, none, 1);
	{
		unsigned char *b;
		size_t n;
		struct archive *a = archive_write_new();
		const char *q = at("plain.gz");

		ck_assert_int_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
		ck_assert_int_eq(archive_write_set_format_raw(a), ARCHIVE_OK);
		ck_assert_int_eq(archive_write_open_filename(a, q), ARCHIVE_OK);
		{
			struct archive_entry *en = archive_entry_new();

			archive_entry_set_pathname(en, "x");
			archive_entry_set_filetype(en, AE_IFREG);
			archive_entry_set_size(en, 5);
			ck_assert_int_eq(archive_write_header(a, en), ARCHIVE_OK);
			ck_assert_int_eq(archive_write_data(a, "hello", 5), 5);
			archive_entry_free(en);
		}
		ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
		REFUSED(q, "is not a package archive");
		/* a tar.gz cut inside the gzip header */
		b = slurp(p, &n);
		spit(p, b, 12);
		REFUSED(p, "package 'gz.tar.gz' is damaged");
		free(b);
	}
}
END_TEST

START_TEST(empty_archives)
{
	struct archive *a;
	const char *p;

	a = archive_write_new();
	p = at("empty.zip");
	ck_assert_int_eq(archive_write_set_format_zip(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, p), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	REFUSED(p, "package 'empty.zip' refused: it has no entries");

	a = archive_write_new();
	p = at("empty.tar.gz");
	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, p), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	REFUSED(p, "it has no entries");
}
END_TEST

START_TEST(failure_leaves_meta_empty)
{
	const struct ent e[] = {
		F("META-INF/extension.xed", xed),
		F("../evil", "x"),
	};

	REFUSED(ZIP("late.jar", e), "leaves the package");
	ck_assert_str_eq(meta.version, "");
	ck_assert_uint_eq(meta.ndeps, 0);
	ck_assert_uint_eq(meta.entries, 2);
	cohort__pkg_meta_free(&meta);
	cohort__pkg_meta_free(&meta); /* twice is harmless */
	cohort__pkg_meta_free(NULL);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *package_suite(void)
{
	Suite *s = suite_create("package");
	TCase *tc;

	tc = tcase_create("parsers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, name_valid);
	tcase_add_test(tc, manifest_precedence_of_attributes);
	tcase_add_test(tc, manifest_continuation_crlf_params);
	tcase_add_test(tc, manifest_malformed);
	tcase_add_test(tc, xed_fields_and_deps);
	tcase_add_test(tc, package_xml_fields);
	tcase_add_test(tc, rhq_plugin_fields);
	tcase_add_test(tc, xml_malformed_is_a_clean_error);
	tcase_add_test(tc, xml_entities_and_dtds_refused);
	tcase_add_test(tc, xml_field_too_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("metadata");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, jar_with_xed);
	tcase_add_test(tc, jar_with_manifest);
	tcase_add_test(tc, xar_with_package_xml);
	tcase_add_test(tc, rhq_plugin_version_from_manifest);
	tcase_add_test(tc, precedence);
	tcase_add_test(tc, no_metadata);
	tcase_add_test(tc, tar_kinds_and_ext);
	tcase_add_test(tc, non_ascii_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("sink");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sink_sees_every_byte_once);
	tcase_add_test(tc, sink_failure_aborts);
	tcase_add_test(tc, read_error_is_reported);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, absolute_paths);
	tcase_add_test(tc, dotdot_paths);
	tcase_add_test(tc, symlinks);
	tcase_add_test(tc, hardlinks);
	tcase_add_test(tc, devices_refused);
	tcase_add_test(tc, metadata_too_large);
	tcase_add_test(tc, metadata_zip_bomb);
	tcase_add_test(tc, package_bomb);
	tcase_add_test(tc, unsafe_names_in_metadata);
	tcase_add_test(tc, malformed_metadata_in_package);
	suite_add_tcase(s, tc);

	tc = tcase_create("damaged");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, crc_damage);
	tcase_add_test(tc, truncated);
	tcase_add_test(tc, tar_header_damage);
	tcase_add_test(tc, zip_central_directory_must_agree);
	tcase_add_test(tc, foreign_and_empty_files);
	tcase_add_test(tc, empty_archives);
	tcase_add_test(tc, failure_leaves_meta_empty);
	suite_add_tcase(s, tc);
	return s;
}

/* The run's folder: /tmp/cohort-test-package-XXXXXX. */
int main(void)
{
	int failed;

	if (make_run_dir(run_dir, sizeof(run_dir), "package"))
		return 1;
	failed = run_suite(package_suite());
	rm_rf(run_dir);
	return failed ? 1 : 0;
}
