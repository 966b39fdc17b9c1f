/*
 * test_cluster.c - the cluster handle: identity, root permissions, node
 * ids, configuration overrides, join and leave.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cohort.h"
#include "fixture.h"

static char base[256], root[300], state[300];

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/cohort-cluster-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(state, sizeof(state), "%s/state", base);
}

static void teardown(void)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
}

static int open_node(cohort_cluster **c, const char *node)
{
	cohort_options o = COHORT_OPTIONS_INIT;

	o.root = root;
	o.node = node;
	o.state = state;
	return cohort_cluster_open(c, &o);
}

START_TEST(init_is_idempotent)
{
	char a[COHORT_UUID_LEN + 1], b[COHORT_UUID_LEN + 1];

	ck_assert_int_eq(cohort_cluster_init(a, root), 0);
	ck_assert_int_eq(cohort_cluster_init(b, root), 0);
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(strlen(a), COHORT_UUID_LEN);
	ck_assert_int_eq(a[14], '4'); /* a version 4 UUID */
}
END_TEST

START_TEST(world_writable_root_refused)
{
	char id[COHORT_UUID_LEN + 1];
	cohort_cluster *c = NULL;

	ck_assert_int_eq(cohort_cluster_init(id, root), 0);
	ck_assert_int_eq(chmod(root, 0777), 0);
	ck_assert_int_eq(open_node(&c, "a"), COHORT_EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(cohort_error_last(), "sticky"));
	ck_assert_int_eq(cohort_cluster_init(id, root), COHORT_EINVAL);
	/* With the sticky bit, as /tmp, it is fine. */
	ck_assert_int_eq(chmod(root, 01777), 0);
	ck_assert_int_eq(open_node(&c, "a"), 0);
	cohort_cluster_close(c);
}
END_TEST

START_TEST(node_ids_checked)
{
	char id[COHORT_UUID_LEN + 1], long_id[80];
	cohort_cluster *c = NULL;

	ck_assert_int_eq(cohort_cluster_init(id, root), 0);
	ck_assert(cohort_node_id_valid("web-1.example_A"));
	ck_assert(!cohort_node_id_valid(".hidden"));
	ck_assert(!cohort_node_id_valid("a/b"));
	ck_assert(!cohort_node_id_valid(".."));
	ck_assert(!cohort_node_id_valid(""));
	memset(long_id, 'x', 65);
	long_id[65] = '\0';
	ck_assert(!cohort_node_id_valid(long_id));
	long_id[64] = '\0';
	ck_assert(cohort_node_id_valid(long_id));
	ck_assert_int_eq(open_node(&c, "../escape"), COHORT_EINVAL);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(unknown_format_refused)
{
	char id[COHORT_UUID_LEN + 1], path[400];
	cohort_cluster *c = NULL;
	FILE *f;

	ck_assert_int_eq(cohort_cluster_init(id, root), 0);
	snprintf(path, sizeof(path), "%s/cohort.id", root);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "cohort-format 99\ncluster %s\n", id);
	fclose(f);
	ck_assert_int_eq(open_node(&c, "a"), COHORT_EINVAL);
	ck_assert_ptr_nonnull(strstr(cohort_error_last(), "99"));
}
END_TEST

START_TEST(node_config_overrides_root)
{
	char id[COHORT_UUID_LEN + 1], path[400];
	cohort_cluster *c = NULL;
	FILE *f;

	ck_assert_int_eq(cohort_cluster_init(id, root), 0);
	snprintf(path, sizeof(path), "%s/cohort.conf", root);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("[journal]\npoll_interval = 400ms\n[node]\npriority = 20\n", f);
	fclose(f);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	snprintf(path, sizeof(path), "%s/cohort.conf", state);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("[node]\npriority = 90\n", f);
	fclose(f);
	ck_assert_int_eq(open_node(&c, "a"), 0);
	ck_assert_int_eq(cohort_config_get_int(c, "journal", "poll_interval"), 400);
	ck_assert_int_eq(cohort_config_get_int(c, "node", "priority"), 90);
	ck_assert_int_eq(cohort_config_get_int(c, "cluster", "lease_timeout"),
			 10000);
	cohort_cluster_close(c);
}
END_TEST

START_TEST(join_leave_rejoin)
{
	char id[COHORT_UUID_LEN + 1];
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	cohort_node_info *v = NULL;
	cohort_cluster *c = NULL;
	size_t n = 0;

	ck_assert_int_eq(cohort_cluster_init(id, root), 0);
	ck_assert_int_eq(open_node(&c, "a"), 0);
	ck_assert_int_eq(cohort_node_leave(c), COHORT_ENOTFOUND);
	jo.priority = 70;
	ck_assert_int_eq(cohort_node_join(c, &jo), 0);
	ck_assert_int_eq(cohort_node_list(&v, &n, c), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0].id, "a");
	ck_assert_int_eq(v[0].priority, 70);
	ck_assert_int_eq(v[0].retired, 0);
	free(v);
	ck_assert_int_eq(cohort_node_leave(c), 0);
	ck_assert_int_eq(cohort_node_list(&v, &n, c), 0);
	ck_assert_int_eq(v[0].retired, 1);
	free(v);
	/* Back again, the priority kept. */
	ck_assert_int_eq(cohort_node_join(c, NULL), 0);
	ck_assert_int_eq(cohort_node_list(&v, &n, c), 0);
	ck_assert_int_eq(v[0].retired, 0);
	ck_assert_int_eq(v[0].priority, 70);
	free(v);
	cohort_cluster_close(c);
}
END_TEST

START_TEST(readonly_mode_round_trip)
{
	char id[COHORT_UUID_LEN + 1], reason[128];
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	int ro = -1;

	ck_assert_int_eq(cohort_cluster_init(id, root), 0);
	ck_assert_int_eq(open_node(&c, "a"), 0);
	ck_assert_int_eq(cohort_node_mode(c, &ro, reason, sizeof(reason)), 0);
	ck_assert_int_eq(ro, 0);
	ck_assert_int_eq(cohort_node_set_mode(c, 1, "root cut off"), 0);
	ck_assert_int_eq(cohort_node_mode(c, &ro, reason, sizeof(reason)), 0);
	ck_assert_int_eq(ro, 1);
	ck_assert_str_eq(reason, "root cut off");
	/* The same from the state folder alone. */
	o.root = root;
	o.node = "a";
	o.state = state;
	ro = 0;
	ck_assert_int_eq(cohort_node_mode_of(&o, &ro, reason, sizeof(reason)), 0);
	ck_assert_int_eq(ro, 1);
	ck_assert_int_eq(cohort_node_set_mode(c, 0, NULL), 0);
	ck_assert_int_eq(cohort_node_mode_of(&o, &ro, reason, sizeof(reason)), 0);
	ck_assert_int_eq(ro, 0);
	cohort_cluster_close(c);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("cluster");
	TCase *tc = tcase_create("cluster");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, init_is_idempotent);
	tcase_add_test(tc, world_writable_root_refused);
	tcase_add_test(tc, node_ids_checked);
	tcase_add_test(tc, unknown_format_refused);
	tcase_add_test(tc, node_config_overrides_root);
	tcase_add_test(tc, join_leave_rejoin);
	tcase_add_test(tc, readonly_mode_round_trip);
	suite_add_tcase(su, tc);
	return run_suite(su) ? 1 : 0;
}
