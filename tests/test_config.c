/*
 * test_config.c - cohort.conf: defaults, units, loading, validation and
 * the messages that name file, line and key.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cohort/cluster.h"
#include "cohort/common.h"
#include "config.h"
#include "os/os.h"
#include "fixture.h"

/* ---- fixture ------------------------------------------------------------ */

static char dir[PATH_MAX];
/* Every test's folder is made in 'run_dir', which main() removes after
 * the run: a failed assertion ends a test process without teardown. */
static char run_dir[PATH_MAX];
static struct cohort__config cfg;

static void setup(void)
{

	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	make_test_dir(dir, sizeof(dir), run_dir);
	cohort__config_init(&cfg);
}

static void teardown(void)
{
	cohort__config_free(&cfg);
	cohort__sys = cohort__sys_default;
	cohort__os_fault_clear();
	rm_rf(dir);
	dir[0] = '\0';
}

static const char *at(const char *name)
{
	return under(dir, name);
}

/* Write 'text' to NAME in the test folder; returns its path. */
static const char *conf(const char *name, const char *text)
{
	const char *path = at(name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

#define NUM(s, k) cohort__config_num(&cfg, s, k)
#define STR(s, k) cohort__config_str(&cfg, s, k)

/* ---- defaults ----------------------------------------------------------- */

START_TEST(defaults)
{
	ck_assert_str_eq(STR("cluster", "lock_mode"), "auto");
	ck_assert_int_eq(NUM("cluster", "lock_timeout"), 30000);
	ck_assert_int_eq(NUM("cluster", "lease_refresh"), 1000);
	ck_assert_int_eq(NUM("cluster", "lease_timeout"), 10000);
	ck_assert_int_eq(NUM("cluster", "skew_margin"), 5000);
	ck_assert_int_eq(NUM("cluster", "heartbeat_interval"), 2000);
	ck_assert_int_eq(NUM("cluster", "stale_after"), 30000);
	ck_assert_int_eq(NUM("cluster", "file_mode"), 0640);
	ck_assert_int_eq(NUM("cluster", "dir_mode"), 0750);
	ck_assert_str_eq(STR("cluster", "group"), "");
	ck_assert_int_eq(NUM("cluster", "group"), -1);
	ck_assert_int_eq(NUM("journal", "segment_size"), 16 * 1024 * 1024);
	ck_assert_int_eq(NUM("journal", "poll_interval"), 250);
	ck_assert_str_eq(STR("journal", "head_sync"), "auto");
	ck_assert_int_eq(NUM("node", "priority"), 50);
	ck_assert_str_eq(STR("cluster", "lease_timeout"), "10s");
	/* unknown keys: a programming error, empty and 0 */
	ck_assert_str_eq(STR("cluster", "nope"), "");
	ck_assert_int_eq(NUM("nope", "lock_timeout"), 0);
	ck_assert_int_eq(cohort__config_index("cluster", "lock_mode"), 0);
	ck_assert_int_eq(cohort__config_index("node", "lock_mode"), -1);
}
END_TEST

START_TEST(every_default_parses)
{
	unsigned int i;

	ck_assert_uint_le(cohort__nkeys,
			  sizeof(cfg.value) / sizeof(cfg.value[0]));
	for (i = 0; i < cohort__nkeys; i++) {
		const struct cohort__key *k = &cohort__keys[i];
		char text[256];
		const char *path;
		int rc;

		/* a file stating every default explicitly changes nothing */
		snprintf(text, sizeof(text), "[%s]\n%s = %s\n", k->section, k->key,
			 k->def);
		path = conf("c.conf", text);
		rc = cohort__config_load(&cfg, path);
		ck_assert_msg(rc == 0, "default of %s.%s: %s", k->section, k->key,
			      cohort_error_last());
		ck_assert_str_eq(STR(k->section, k->key), k->def);
		ck_assert_ptr_nonnull(k->doc);
		ck_assert_str_ne(k->doc, "");
		ck_assert_int_eq(cohort__config_index(k->section, k->key), (int)i);
	}
}
END_TEST

START_TEST(key_iteration)
{
	const char *section, *key, *def, *doc;
	unsigned int i;

	for (i = 0; cohort_config_key(i, &section, &key, &def, &doc); i++) {
		ck_assert_str_eq(section, cohort__keys[i].section);
		ck_assert_str_eq(key, cohort__keys[i].key);
		ck_assert_str_eq(def, cohort__keys[i].def);
		ck_assert_str_eq(doc, cohort__keys[i].doc);
	}
	ck_assert_uint_eq(i, cohort__nkeys);
	ck_assert_int_eq(cohort_config_key(cohort__nkeys + 5, &section, &key,
					   &def, &doc), 0);
}
END_TEST

/* ---- units -------------------------------------------------------------- */

START_TEST(durations)
{
	static const struct {
		const char *text;
		int64_t ms;
	} good[] = {
		{ "250ms", 250 },      { "30s", 30000 },     { "15m", 900000 },
		{ "2h", 7200000 },     { "7d", 604800000 },  { "0", 0 },
		{ "0ms", 0 },	       { "30", 30000 },      { "1.5s", 1500 },
		{ "0.5m", 30000 },     { "1ms", 1 },	     { "100d", 8640000000LL },
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t v = -1;
		int rc = cohort_parse_duration_ms(&v, good[i].text);

		ck_assert_msg(rc == 0, "'%s' refused: %s", good[i].text,
			      cohort_error_last());
		ck_assert_msg(v == good[i].ms, "'%s' gave %lld, not %lld",
			      good[i].text, (long long)v, (long long)good[i].ms);
	}
}
END_TEST

START_TEST(bad_durations)
{
	static const char *const bad[] = {
		"", "s", "ms", "abc", "10x", "10 s", "10S", "10sec", "-5s",
		"5s ", "5ss", "1e30d", "nan", "nans", "inf", "infinity", "5m3s",
		"0x10s", "1e3s", "+5s", " 5s", "5.s.", "..5s",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 12345;
		int rc = cohort_parse_duration_ms(&v, bad[i]);

		ck_assert_msg(rc == COHORT_EINVAL, "'%s' accepted as %lld ms",
			      bad[i], (long long)v);
		ck_assert_int_eq(v, 12345); /* untouched */
		assert_msg_has("is not a duration");
		ck_assert_msg(strstr(cohort_error_last(), bad[i]) != NULL,
			      "'%s' not quoted in '%s'", bad[i],
			      cohort_error_last());
	}
}
END_TEST

START_TEST(sizes)
{
	static const struct {
		const char *text;
		int64_t bytes;
	} good[] = {
		{ "4M", 4194304 },	 { "16MiB", 16777216 }, { "512k", 524288 },
		{ "512K", 524288 },	 { "1G", 1073741824 },	{ "2GiB", 2147483648LL },
		{ "100", 100 },		 { "0", 0 },		{ "1.5M", 1572864 },
		{ "64KiB", 65536 },	 { "8MB", 8388608 },	{ "8mb", 8388608 },
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t v = -1;
		int rc = cohort_parse_size(&v, good[i].text);

		ck_assert_msg(rc == 0, "'%s' refused: %s", good[i].text,
			      cohort_error_last());
		ck_assert_msg(v == good[i].bytes, "'%s' gave %lld, not %lld",
			      good[i].text, (long long)v,
			      (long long)good[i].bytes);
	}
}
END_TEST

START_TEST(bad_sizes)
{
	static const char *const bad[] = {
		"", "M", "MiB", "4X", "4T", "4MiBs", "4 M", "-1M", "4M ", "4iB",
		"4Mi", "nan", "inf", "1e30G", "0x10M", "+4M", " 4M", "4MM",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 12345;
		int rc = cohort_parse_size(&v, bad[i]);

		ck_assert_msg(rc == COHORT_EINVAL, "'%s' accepted as %lld bytes",
			      bad[i], (long long)v);
		ck_assert_int_eq(v, 12345);
		assert_msg_has("is not a size");
		ck_assert_msg(strstr(cohort_error_last(), bad[i]) != NULL,
			      "'%s' not quoted in '%s'", bad[i],
			      cohort_error_last());
	}
}
END_TEST

/* ---- loading ------------------------------------------------------------ */

START_TEST(load_overrides)
{
	const char *path = conf("cohort.conf",
				"; a comment\n"
				"# another\n"
				"[cluster]\n"
				"lock_mode = lease\n"
				"lease_refresh = 50ms\n"
				"lease_timeout   =   300ms  \n"
				"file_mode = 0600\n"
				"\n"
				"[journal]\n"
				"segment_size = 4MiB\n"
				"head_sync = always\n"
				"[node]\n"
				"priority = 90\n");

	ck_assert_int_eq(cohort__config_load(&cfg, path), 0);
	ck_assert_str_eq(STR("cluster", "lock_mode"), "lease");
	ck_assert_int_eq(NUM("cluster", "lease_refresh"), 50);
	ck_assert_str_eq(STR("cluster", "lease_refresh"), "50ms");
	ck_assert_int_eq(NUM("cluster", "lease_timeout"), 300);
	ck_assert_str_eq(STR("cluster", "lease_timeout"), "300ms");
	ck_assert_int_eq(NUM("cluster", "file_mode"), 0600);
	ck_assert_int_eq(NUM("journal", "segment_size"), 4 * 1024 * 1024);
	ck_assert_str_eq(STR("journal", "head_sync"), "always");
	ck_assert_int_eq(NUM("node", "priority"), 90);
	/* the rest keep their defaults */
	ck_assert_int_eq(NUM("cluster", "skew_margin"), 5000);
	ck_assert_int_eq(NUM("cluster", "dir_mode"), 0750);
	ck_assert_int_eq(NUM("journal", "poll_interval"), 250);
	ck_assert_str_eq(STR("cluster", "stale_after"), "30s");
}
END_TEST

START_TEST(indented_line_is_an_error)
{
	/* inih reads an indented line as the continuation of the previous
	 * value: it must fail loudly, never pass as something else */
	const char *path = conf("cohort.conf",
				"[cluster]\n"
				"lease_refresh = 50ms\n"
				"  lease_timeout = 300ms\n");

	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has(path);
	assert_msg_has("line 3");
	ck_assert_int_eq(NUM("cluster", "lease_timeout"), 10000);
}
END_TEST

START_TEST(load_later_line_wins)
{
	const char *path = conf("cohort.conf",
				"[cluster]\nlock_timeout = 5s\nlock_timeout = 7s\n");

	ck_assert_int_eq(cohort__config_load(&cfg, path), 0);
	ck_assert_int_eq(NUM("cluster", "lock_timeout"), 7000);
}
END_TEST

START_TEST(unknown_key)
{
	const char *path = conf("cohort.conf",
				"[cluster]\n"
				"lock_mode = both\n"
				"lease_timout = 10s\n");
	int rc = cohort__config_load(&cfg, path);

	ck_assert_int_eq(rc, COHORT_EINVAL);
	assert_msg_has(path);
	assert_msg_has("line 3");
	assert_msg_has("lease_timout");
	assert_msg_has("cluster");
}
END_TEST

START_TEST(unknown_section)
{
	const char *path = conf("cohort.conf",
				"[cluster]\nlock_mode = both\n\n[clutser]\n"
				"lock_mode = both\n");

	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has(path);
	assert_msg_has("line 5");
	assert_msg_has("clutser");
	assert_msg_has("lock_mode");

	/* a key outside any section */
	path = conf("other.conf", "lock_mode = both\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has(path);
	assert_msg_has("line 1");
	assert_msg_has("lock_mode");
}
END_TEST

START_TEST(bad_value_names_key)
{
	const char *path = conf("cohort.conf",
				"[cluster]\n"
				"lease_timeout = soon\n");

	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has(path);
	assert_msg_has("line 2");
	assert_msg_has("lease_timeout");
	assert_msg_has("'soon'");
	/* the failed value was not taken */
	ck_assert_int_eq(NUM("cluster", "lease_timeout"), 10000);

	path = conf("size.conf", "[journal]\nsegment_size = 4 lots\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has("segment_size");
	assert_msg_has("line 2");

	path = conf("mode.conf", "[cluster]\n\ndir_mode = 0999\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has("dir_mode");
	assert_msg_has("line 3");
	assert_msg_has("octal");
}
END_TEST

START_TEST(enum_validation)
{
	static const char *const modes[] = { "auto", "fcntl", "lease", "both" };
	const char *path;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char text[128];

		snprintf(text, sizeof(text), "[cluster]\nlock_mode = %s\n",
			 modes[i]);
		path = conf("cohort.conf", text);
		ck_assert_int_eq(cohort__config_load(&cfg, path), 0);
		ck_assert_str_eq(STR("cluster", "lock_mode"), modes[i]);
	}
	path = conf("bad.conf", "[cluster]\nlock_mode = flock\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has("lock_mode");
	assert_msg_has("'flock'");
	assert_msg_has("auto|fcntl|lease|both");
	ck_assert_str_eq(STR("cluster", "lock_mode"), "both");
	/* no prefix or case games */
	path = conf("bad2.conf", "[cluster]\nlock_mode = leas\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	path = conf("bad3.conf", "[cluster]\nlock_mode = leases\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	path = conf("bad4.conf", "[cluster]\nlock_mode = LEASE\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	path = conf("bad5.conf", "[journal]\nhead_sync = sometimes\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has("head_sync");
	path = conf("bad6.conf", "[cluster]\nlock_mode =\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
}
END_TEST

START_TEST(int_range_validation)
{
	static const struct {
		const char *v;
		int ok;
		int64_t n;
	} cases[] = {
		{ "0", 1, 0 },	  { "100", 1, 100 }, { "42", 1, 42 },
		{ "101", 0, 0 },  { "-1", 0, 0 },    { "1000000", 0, 0 },
		{ "5x", 0, 0 },	  { "", 0, 0 },	     { "ten", 0, 0 },
		{ "99999999999999999999", 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[128];
		const char *path;
		int rc;

		cohort__config_free(&cfg);
		cohort__config_init(&cfg);
		snprintf(text, sizeof(text), "[node]\npriority = %s\n", cases[i].v);
		path = conf("cohort.conf", text);
		rc = cohort__config_load(&cfg, path);
		if (cases[i].ok) {
			ck_assert_msg(rc == 0, "'%s' refused: %s", cases[i].v,
				      cohort_error_last());
			ck_assert_int_eq(NUM("node", "priority"), cases[i].n);
		} else {
			ck_assert_msg(rc == COHORT_EINVAL, "'%s' accepted",
				      cases[i].v);
			assert_msg_has("priority");
			ck_assert_int_eq(NUM("node", "priority"), 50);
		}
	}
}
END_TEST

START_TEST(mode_validation)
{
	const char *path = conf("cohort.conf",
				"[cluster]\nfile_mode = 0664\ndir_mode = 2775\n");

	ck_assert_int_eq(cohort__config_load(&cfg, path), 0);
	ck_assert_int_eq(NUM("cluster", "file_mode"), 0664);
	ck_assert_int_eq(NUM("cluster", "dir_mode"), 02775);
	path = conf("big.conf", "[cluster]\nfile_mode = 077777\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	path = conf("neg.conf", "[cluster]\nfile_mode = -1\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	path = conf("word.conf", "[cluster]\nfile_mode = rw-r--r--\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	ck_assert_int_eq(NUM("cluster", "file_mode"), 0664);
}
END_TEST

/* A group this host knows, by name and number (getgrgid of our own gid,
 * or "root"/0 when that has no name). */
static void some_group(char *name, size_t size, gid_t *gid)
{
	struct group *g = getgrgid(getegid());

	if (!g)
		g = getgrnam("root");
	ck_assert_ptr_nonnull(g);
	ck_assert(snprintf(name, size, "%s", g->gr_name) < (int)size);
	*gid = g->gr_gid;
}

START_TEST(group_default_is_empty)
{
	ck_assert_str_eq(STR("cluster", "group"), "");
	ck_assert_int_eq(NUM("cluster", "group"), -1);
	/* stated explicitly as empty: the same */
	ck_assert_int_eq(cohort__config_load(&cfg, conf("e.conf",
							"[cluster]\ngroup =\n")),
			 0);
	ck_assert_int_eq(NUM("cluster", "group"), -1);
}
END_TEST

START_TEST(group_by_name)
{
	char name[256], text[512];
	gid_t gid;

	some_group(name, sizeof(name), &gid);
	snprintf(text, sizeof(text), "[cluster]\ngroup = %s\n", name);
	ck_assert_int_eq(cohort__config_load(&cfg, conf("c.conf", text)), 0);
	ck_assert_int_eq(NUM("cluster", "group"), (int64_t)gid);
	ck_assert_str_eq(STR("cluster", "group"), name);
}
END_TEST

START_TEST(group_by_number)
{
	ck_assert_int_eq(cohort__config_load(&cfg, conf("c.conf",
							"[cluster]\ngroup = 0\n")),
			 0);
	ck_assert_int_eq(NUM("cluster", "group"), 0);
	/* a number need not be known on this host (chown takes any) */
	ck_assert_int_eq(cohort__config_load(&cfg, conf("d.conf",
							"[cluster]\ngroup = 4000123\n")),
			 0);
	ck_assert_int_eq(NUM("cluster", "group"), 4000123);
	/* a later file can set it back to the process's group */
	ck_assert_int_eq(cohort__config_load(&cfg, conf("e.conf",
							"[cluster]\ngroup =\n")),
			 0);
	ck_assert_int_eq(NUM("cluster", "group"), -1);
}
END_TEST

START_TEST(group_unknown_name)
{
	const char *path = conf("c.conf",
				"[cluster]\nfile_mode = 0660\n"
				"group = no-such-group-xq7\n");

	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has(path);
	assert_msg_has("line 3");
	assert_msg_has("cluster.group");
	assert_msg_has("no group 'no-such-group-xq7'");
	/* not taken: still the process's group */
	ck_assert_int_eq(NUM("cluster", "group"), -1);
}
END_TEST

START_TEST(group_bad_values)
{
	static const char *const bad[] = {
		"-1",		/* negative */
		"+5",		/* signed */
		"4294967295",	/* (gid_t)-1 means "leave the group alone" */
		"99999999999999999999", /* overflow */
		"12abc",	/* neither a number nor (here) a name */
		"a:b",		/* not a group name */
		"a,b",
	};
	char text[512], name[256];
	gid_t gid;
	size_t i;

	some_group(name, sizeof(name), &gid);
	snprintf(text, sizeof(text), "[cluster]\ngroup = %s\n", name);
	ck_assert_int_eq(cohort__config_load(&cfg, conf("ok.conf", text)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[cluster]\ngroup = %s\n", bad[i]);
		ck_assert_msg(cohort__config_load(&cfg, conf("bad.conf", text)) ==
				      COHORT_EINVAL,
			      "'%s' accepted", bad[i]);
		assert_msg_has("cluster.group");
		assert_msg_has("line 2");
		/* the earlier value stays */
		ck_assert_int_eq(NUM("cluster", "group"), (int64_t)gid);
	}
	/* a group in the wrong section is an unknown key */
	ck_assert_int_eq(cohort__config_load(&cfg, conf("n.conf",
							"[node]\ngroup = 0\n")),
			 COHORT_EINVAL);
	assert_msg_has("unknown key 'group'");
}
END_TEST

START_TEST(second_file_overrides_first)
{
	const char *root = conf("root.conf",
				"[cluster]\n"
				"lease_refresh = 2s\n"
				"lease_timeout = 20s\n"
				"[node]\n"
				"priority = 10\n");
	const char *node = conf("node.conf",
				"[node]\n"
				"priority = 80\n"
				"[cluster]\n"
				"lease_timeout = 12s\n");

	ck_assert_int_eq(cohort__config_load(&cfg, root), 0);
	ck_assert_int_eq(cohort__config_load(&cfg, node), 0);
	ck_assert_int_eq(NUM("node", "priority"), 80);
	ck_assert_int_eq(NUM("cluster", "lease_timeout"), 12000);
	ck_assert_str_eq(STR("cluster", "lease_timeout"), "12s");
	/* what the second file does not set stays from the first */
	ck_assert_int_eq(NUM("cluster", "lease_refresh"), 2000);
	ck_assert_str_eq(STR("cluster", "lease_refresh"), "2s");
	/* and what neither sets is the default */
	ck_assert_int_eq(NUM("cluster", "skew_margin"), 5000);
}
END_TEST

START_TEST(missing_file_is_fine)
{
	ck_assert_int_eq(cohort__config_load(&cfg, at("nope.conf")), 0);
	ck_assert_int_eq(NUM("cluster", "lock_timeout"), 30000);
	ck_assert_str_eq(STR("cluster", "lock_mode"), "auto");
	/* nor is a missing folder */
	ck_assert_int_eq(cohort__config_load(&cfg, at("no/such/cohort.conf")), 0);
	/* an empty file is fine too */
	ck_assert_int_eq(cohort__config_load(&cfg, conf("empty.conf", "")), 0);
	ck_assert_int_eq(NUM("cluster", "lock_timeout"), 30000);
}
END_TEST

START_TEST(unreadable_and_malformed_files)
{
	char big[1 << 12];
	const char *path;
	FILE *f;
	size_t i;

	/* a syntax error names file and line */
	path = conf("syntax.conf", "[cluster]\nlock_mode = both\n[journal\n");
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has(path);
	assert_msg_has("line 3");

	/* a NUL byte */
	path = at("nul.conf");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite("[cluster]\n\0x = 1\n", 1, 17, f), 17);
	fclose(f);
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_EINVAL);
	assert_msg_has(path);

	/* a file larger than 1 MiB is not a configuration */
	path = at("huge.conf");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	memset(big, ';', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	for (i = 0; i < 300; i++)
		ck_assert_uint_eq(fwrite(big, 1, sizeof(big), f), sizeof(big));
	fclose(f);
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_ECORRUPT);

	/* a read error is an error, not "missing" */
	cohort__config_free(&cfg);
	cohort__config_init(&cfg);
	path = conf("io.conf", "[cluster]\nlock_mode = both\n");
	cohort__os_fault_set(COHORT__OP_READ, 1, EIO, 0);
	ck_assert_int_eq(cohort__config_load(&cfg, path), COHORT_ERROR);
	assert_msg_has(path);
	ck_assert_str_eq(STR("cluster", "lock_mode"), "auto");

	/* a folder where the file should be */
	ck_assert_int_eq(mkdir(at("dir.conf"), 0755), 0);
	ck_assert_int_ne(cohort__config_load(&cfg, at("dir.conf")), 0);
}
END_TEST

START_TEST(free_and_reload)
{
	const char *path = conf("cohort.conf", "[cluster]\nlock_mode = fcntl\n");

	ck_assert_int_eq(cohort__config_load(&cfg, path), 0);
	ck_assert_int_eq(cohort__config_load(&cfg, path), 0);
	ck_assert_str_eq(STR("cluster", "lock_mode"), "fcntl");
	cohort__config_free(&cfg);
	ck_assert_str_eq(STR("cluster", "lock_mode"), "auto");
	cohort__config_free(&cfg); /* twice is harmless */
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("defaults");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, every_default_parses);
	tcase_add_test(tc, key_iteration);
	suite_add_tcase(s, tc);

	tc = tcase_create("units");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, durations);
	tcase_add_test(tc, bad_durations);
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, bad_sizes);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, load_overrides);
	tcase_add_test(tc, indented_line_is_an_error);
	tcase_add_test(tc, load_later_line_wins);
	tcase_add_test(tc, unknown_key);
	tcase_add_test(tc, unknown_section);
	tcase_add_test(tc, bad_value_names_key);
	tcase_add_test(tc, enum_validation);
	tcase_add_test(tc, int_range_validation);
	tcase_add_test(tc, mode_validation);
	tcase_add_test(tc, group_default_is_empty);
	tcase_add_test(tc, group_by_name);
	tcase_add_test(tc, group_by_number);
	tcase_add_test(tc, group_unknown_name);
	tcase_add_test(tc, group_bad_values);
	tcase_add_test(tc, second_file_overrides_first);
	tcase_add_test(tc, missing_file_is_fine);
	tcase_add_test(tc, unreadable_and_malformed_files);
	tcase_add_test(tc, free_and_reload);
	suite_add_tcase(s, tc);
	return s;
}

/* The run's folder: /tmp/cohort-test-config-XXXXXX. */
int main(void)
{
	int failed;

	if (make_run_dir(run_dir, sizeof(run_dir), "config"))
		return 1;
	failed = run_suite(config_suite());
	rm_rf(run_dir);
	return failed ? 1 : 0;
}
