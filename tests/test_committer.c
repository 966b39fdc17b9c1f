/*
 * test_committer.c - the node's committer (cohort/committer.h): appends of
 * several processes through one host, with their own revisions, in fewer
 * commits than requests; the socket is the owner's alone; without a host,
 * with one that refuses or one that is gone before taking a request, the
 * client commits itself, once; a host that took a request and died makes
 * the append fail with "may or may not appear", and what it left appears
 * at most once; errors and read-only mode come back as from a direct
 * append; a stopped host removes its socket and a restarted one is found;
 * a forked child does not use its parent's connection.
 *
 * Every test gets a fresh folder holding a cluster root and the node's
 * state folder, node "n1" joined ('c') and its journal ('j').  Hosts run
 * in this process (threads of the library) or in a forked child (to be
 * killed); clients are this process or forked children with handles of
 * their own.  A fake host (a thread speaking the protocol by hand) plays
 * the committer's failures at chosen moments.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cohort.h"
#include "fixture.h"
#include "os/os.h"

static char tmp[PATH_MAX / 2], root[PATH_MAX], state[PATH_MAX],
	sock[PATH_MAX + 32];

/* A socket address for 'sock' (the test folder's path is short). */
static void sock_addr(struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	ck_assert(strlen(sock) < sizeof(sa->sun_path));
	memcpy(sa->sun_path, sock, strlen(sock) + 1);
}
static cohort_cluster *c;
static cohort_journal *j;

static void setup(void)
{
	char id[COHORT_UUID_LEN + 1];

	make_tmp(tmp, sizeof(tmp), NULL, "cohort-committer", 0);
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(sock, sizeof(sock), "%s/committer.sock", state);
	ck_assert_msg(cohort_cluster_init(id, root) == 0, "cluster_init: %s",
		      cohort_error_last());
	open_joined_node(&c, &j, NULL, root, state);
}

static void teardown(void)
{
	cohort_journal_close(j);
	j = NULL;
	cohort_cluster_close(c);
	c = NULL;
	remove_tmp();
}

/* A second handle on node n1 (what another process of the node has). */
static void open_handle(cohort_cluster **c2, cohort_journal **j2)
{
	cohort_options o = COHORT_OPTIONS_INIT;

	o.root = root;
	o.node = "n1";
	o.state = state;
	ck_assert_msg(cohort_cluster_open(c2, &o) == 0, "open: %s",
		      cohort_error_last());
	ck_assert_msg(cohort_journal_open(j2, *c2) == 0, "journal: %s",
		      cohort_error_last());
}

/* Append 'text' as one record through the committer; its revision. */
static uint64_t append_text(cohort_journal *jj, const char *text)
{
	cohort_entry e = { "note", text, strlen(text) };
	uint64_t rev = 0;
	int rc = cohort_committer_append(jj, &e, 1, &rev);

	ck_assert_msg(rc == 0, "append '%s': %s", text, cohort_error_last());
	return rev;
}

/* The record at 'rev' must be 'text' of node n1. */
struct find {
	const char *text;
	uint64_t rev;
	int count;
	char at[256]; /* the payload at 'rev' */
};

static int find_cb(const cohort_record *r, void *arg)
{
	struct find *f = arg;

	if (r->len == strlen(f->text) && !memcmp(r->data, f->text, r->len))
		f->count++;
	if (r->rev == f->rev)
		snprintf(f->at, sizeof(f->at), "%.*s", (int)r->len,
			 (const char *)r->data);
	return 0;
}

/* How many records hold 'text'; '*at' gets the payload at 'rev'. */
static int count_text(const char *text, uint64_t rev, char *at, size_t size)
{
	struct find f = { text, rev, 0, "" };
	int rc = cohort_journal_read(j, 1, 0, find_cb, &f);

	ck_assert_msg(rc == 0, "read: %s", cohort_error_last());
	if (at)
		snprintf(at, size, "%s", f.at);
	return f.count;
}

static uint64_t head(void)
{
	uint64_t h = 0;

	ck_assert_msg(cohort_journal_bounds(j, NULL, &h) == 0, "bounds: %s",
		      cohort_error_last());
	return h;
}

/* ---- a host in this process ------------------------------------------- */

START_TEST(test_no_committer_commits_directly)
{
	char at[256];
	uint64_t rev;

	ck_assert(!exists(sock));
	rev = append_text(j, "alone");
	ck_assert_uint_eq(rev, 1);
	ck_assert_int_eq(count_text("alone", 1, at, sizeof(at)), 1);
	ck_assert_str_eq(at, "alone");
}
END_TEST

START_TEST(test_socket_is_owner_only_and_removed_at_stop)
{
	cohort_committer *k;
	struct stat st;

	ck_assert_msg(cohort_committer_start(&k, c) == 0, "start: %s",
		      cohort_error_last());
	ck_assert_int_eq(lstat(sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(st.st_uid, geteuid());
	ck_assert_uint_eq(append_text(j, "one"), 1);
	ck_assert_uint_eq(cohort_committer_served(k), 1);
	cohort_committer_stop(k);
	ck_assert(!exists(sock));
	/* The kept connection leads nowhere now: directly, once. */
	ck_assert_uint_eq(append_text(j, "two"), 2);
	ck_assert_int_eq(count_text("two", 2, NULL, 0), 1);
	ck_assert_uint_eq(head(), 2);
}
END_TEST

START_TEST(test_restarted_host_is_found)
{
	cohort_committer *k, *k2;

	ck_assert(cohort_committer_start(&k, c) == 0);
	ck_assert_uint_eq(append_text(j, "a"), 1);
	cohort_committer_stop(k);
	ck_assert(cohort_committer_start(&k2, c) == 0);
	/* The connection kept from the first host is dead: a new one. */
	ck_assert_uint_eq(append_text(j, "b"), 2);
	ck_assert_uint_eq(cohort_committer_served(k2), 1);
	cohort_committer_stop(k2);
}
END_TEST

/*
 * A child forked after the parent kept a connection appends through the
 * same handle while the parent does: sharing the parent's connection,
 * their requests and replies would cross.
 */
static void append_many(const char *who, uint64_t *revs, int count)
{
	int i;

	for (i = 0; i < count; i++) {
		char text[32];

		snprintf(text, sizeof(text), "%s.%d", who, i);
		revs[i] = append_text(j, text);
	}
}

START_TEST(test_forked_child_uses_its_own_connection)
{
	cohort_committer *k;
	uint64_t mine[30], theirs[30];
	char path[PATH_MAX + 32], text[32], at[256];
	pid_t pid;
	int status, i;

	ck_assert(cohort_committer_start(&k, c) == 0);
	ck_assert_uint_eq(append_text(j, "before"), 1); /* keeps a connection */
	snprintf(path, sizeof(path), "%s/child.revs", tmp);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		append_many("child", theirs, 30);
		spit(path, theirs, sizeof(theirs));
		_exit(0);
	}
	append_many("parent", mine, 30);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		size_t len;
		unsigned char *b = slurp(path, &len);

		ck_assert_uint_eq(len, sizeof(theirs));
		memcpy(theirs, b, len);
		free(b);
	}
	for (i = 0; i < 30; i++) {
		snprintf(text, sizeof(text), "parent.%d", i);
		ck_assert_int_eq(count_text(text, mine[i], at, sizeof(at)), 1);
		ck_assert_str_eq(at, text);
		snprintf(text, sizeof(text), "child.%d", i);
		ck_assert_int_eq(count_text(text, theirs[i], at, sizeof(at)), 1);
		ck_assert_str_eq(at, text);
	}
	ck_assert_uint_eq(head(), 61);
	cohort_committer_stop(k);
}
END_TEST

START_TEST(test_a_dead_hosts_socket_is_replaced)
{
	cohort_committer *k;
	int fd;
	struct sockaddr_un sa;

	/* A socket file nobody listens on (a host killed with SIGKILL). */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	sock_addr(&sa);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ck_assert(exists(sock));
	ck_assert_uint_eq(append_text(j, "while dead"), 1);
	ck_assert(cohort_committer_start(&k, c) == 0);
	ck_assert_uint_eq(append_text(j, "served"), 2);
	ck_assert_uint_eq(cohort_committer_served(k), 1);
	cohort_committer_stop(k);
}
END_TEST

START_TEST(test_errors_come_back)
{
	cohort_committer *k;
	cohort_entry bad = { "no spaces allowed", "x", 1 };
	cohort_entry ok = { "note", "x", 1 };
	uint64_t rev;
	int rc;

	ck_assert(cohort_committer_start(&k, c) == 0);
	rc = cohort_committer_append(j, &bad, 1, &rev);
	ck_assert_int_eq(rc, COHORT_EINVAL);
	assert_msg_has("no spaces allowed");
	ck_assert_uint_eq(head(), 0);
	ck_assert_int_eq(cohort_node_set_mode(c, 1, "test cut"), 0);
	rc = cohort_committer_append(j, &ok, 1, &rev);
	ck_assert_int_eq(rc, COHORT_EREADONLY);
	assert_msg_has("test cut");
	ck_assert_int_eq(cohort_node_set_mode(c, 0, NULL), 0);
	ck_assert_uint_eq(append_text(j, "back"), 1);
	cohort_committer_stop(k);
}
END_TEST

START_TEST(test_batch_keeps_consecutive_revisions)
{
	cohort_committer *k;
	cohort_entry e[3] = { { "note", "b1", 2 }, { NULL, "b2", 2 },
			      { "note", "", 0 } };
	char at[256];
	uint64_t rev;

	ck_assert(cohort_committer_start(&k, c) == 0);
	ck_assert_uint_eq(append_text(j, "first"), 1);
	ck_assert_int_eq(cohort_committer_append(j, e, 3, &rev), 0);
	ck_assert_uint_eq(rev, 2);
	ck_assert_int_eq(count_text("b2", 3, at, sizeof(at)), 1);
	ck_assert_str_eq(at, "b2");
	ck_assert_uint_eq(head(), 4);
	cohort_committer_stop(k);
}
END_TEST

/*
 * Eight processes, 25 appends each, through one host: every append once,
 * at the revision it was told, and fewer commits (fdatasync calls of the
 * host) than appends.
 */
#define PROCS 8
#define EACH 25

START_TEST(test_processes_share_commits)
{
	cohort_committer *k;
	pid_t pids[PROCS];
	unsigned long syncs;
	int i, n, status, go[2];
	char path[PATH_MAX + 32];

	/* The clients are forked before the host starts: a child forked
	 * while a host thread holds the journal's flock would keep it. */
	ck_assert_int_eq(pipe(go), 0);
	for (i = 0; i < PROCS; i++) {
		pids[i] = fork();
		ck_assert(pids[i] >= 0);
		if (pids[i] == 0) {
			cohort_cluster *c2;
			cohort_journal *j2;
			FILE *f;
			char b;

			close(go[1]);
			if (read(go[0], &b, 1) != 1)
				_exit(3);
			cohort__os_fault_clear(); /* counts from the fork on */
			open_handle(&c2, &j2);
			snprintf(path, sizeof(path), "%s/revs.%d", tmp, i);
			f = fopen(path, "w");
			for (n = 0; n < EACH; n++) {
				char text[64];
				cohort_entry e = { "note", text, 0 };
				uint64_t rev;

				e.len = (size_t)snprintf(text, sizeof(text),
							 "p%d.%d", i, n);
				if (cohort_committer_append(j2, &e, 1, &rev)) {
					fprintf(stderr, "client %d: %s\n", i,
						cohort_error_last());
					_exit(1);
				}
				fprintf(f, "%s %" PRIu64 "\n", text, rev);
			}
			fclose(f);
			_exit(cohort__os_fault_count(COHORT__OP_FSYNC) ? 2 : 0);
		}
	}
	close(go[0]);
	ck_assert(cohort_committer_start(&k, c) == 0);
	cohort__os_fault_clear();
	for (i = 0; i < PROCS; i++)
		ck_assert_int_eq(write(go[1], "g", 1), 1);
	close(go[1]);
	for (i = 0; i < PROCS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "client %d: status %d (2: it synced itself)", i,
			      status);
	}
	syncs = cohort__os_fault_count(COHORT__OP_FSYNC);
	ck_assert_uint_eq(cohort_committer_served(k), PROCS * EACH);
	cohort_committer_stop(k);
	ck_assert_uint_eq(head(), PROCS * EACH);
	ck_assert_msg(syncs < PROCS * EACH, "%lu commits for %d appends", syncs,
		      PROCS * EACH);
	for (i = 0; i < PROCS; i++) {
		char text[64], at[256];
		uint64_t rev;
		FILE *f;

		snprintf(path, sizeof(path), "%s/revs.%d", tmp, i);
		f = fopen(path, "r");
		ck_assert(f != NULL);
		for (n = 0; n < EACH; n++) {
			ck_assert_int_eq(fscanf(f, "%63s %" SCNu64, text, &rev), 2);
			ck_assert_int_eq(count_text(text, rev, at, sizeof(at)), 1);
			ck_assert_str_eq(at, text);
		}
		fclose(f);
	}
}
END_TEST

/* ---- a host that dies ------------------------------------------------- */

/*
 * A host in a child process that dies (SIGKILL) at its first call of 'op'
 * after it started; returns its pid once its socket is there.
 */
static pid_t dying_host(enum cohort__os_op op)
{
	int p[2];
	char b;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		cohort_cluster *c2;
		cohort_journal *j2;
		cohort_committer *k;

		close(p[0]);
		open_handle(&c2, &j2);
		if (cohort_committer_start(&k, c2))
			_exit(1);
		cohort__os_fault_clear();
		cohort__os_fault_set(op, 1, COHORT__FAULT_KILL, 0);
		(void)write(p[1], "s", 1);
		for (;;)
			pause();
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &b, 1), 1);
	close(p[0]);
	return pid;
}

static void host_dies_at(enum cohort__os_op op, int appears)
{
	cohort_entry e = { "note", "in flight", 9 };
	uint64_t rev = 0;
	pid_t pid = dying_host(op);
	int rc, status;

	rc = cohort_committer_append(j, &e, 1, &rev);
	ck_assert_int_eq(rc, COHORT_ERROR);
	assert_msg_has("may or may not appear");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The next writer settles what the dead host left: its commit whole
	 * (durable past the head) or nothing; never twice. */
	ck_assert_uint_eq(append_text(j, "after"), appears ? 2 : 1);
	ck_assert_int_eq(count_text("in flight", 1, NULL, 0), appears);
	ck_assert_int_eq(count_text("after", 0, NULL, 0), 1);
}

START_TEST(test_host_killed_before_its_write)
{
	/* The first write is the lease's: nothing of the commit is out. */
	host_dies_at(COHORT__OP_WRITE, 0);
}
END_TEST

START_TEST(test_host_killed_before_its_sync)
{
	/* The records are in the segment past the head, whole. */
	host_dies_at(COHORT__OP_FSYNC, 1);
}
END_TEST

/* ---- a fake host ------------------------------------------------------- */

enum fake { FAKE_DROP, FAKE_TAKE_AND_DIE, FAKE_REFUSE };

struct fake_host {
	enum fake how;
	int lfd;
	int requests;
};

static void *fake_main(void *arg)
{
	struct fake_host *fh = arg;
	unsigned char h[120], *body;
	uint64_t len = 0;
	int fd, i;
	ssize_t r;
	size_t got;

	fd = accept(fh->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	for (got = 0; got < sizeof(h); got += (size_t)r)
		if ((r = read(fd, h + got, sizeof(h) - got)) <= 0)
			goto out;
	for (i = 7; i >= 0; i--)
		len = len << 8 | h[12 + i];
	body = malloc(len + 1);
	for (got = 0; got < len; got += (size_t)r)
		if ((r = read(fd, body + got, len - got)) <= 0)
			break;
	free(body);
	fh->requests++;
	if (fh->how == FAKE_TAKE_AND_DIE)
		(void)write(fd, "T", 1);
	else if (fh->how == FAKE_REFUSE)
		(void)write(fd, "N", 1);
out:
	close(fd);
	return NULL;
}

static void fake_start(struct fake_host *fh, pthread_t *t)
{
	struct sockaddr_un sa;

	fh->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	sock_addr(&sa);
	ck_assert_int_eq(bind(fh->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fh->lfd, 4), 0);
	ck_assert_int_eq(pthread_create(t, NULL, fake_main, fh), 0);
}

static void fake_stop(struct fake_host *fh, pthread_t t)
{
	pthread_join(t, NULL);
	close(fh->lfd);
	unlink(sock);
}

/* A fake host that does not take the request: the client commits. */
static void untaken_commits_directly(enum fake how, const char *text)
{
	struct fake_host fh = { how, -1, 0 };
	pthread_t t;

	fake_start(&fh, &t);
	ck_assert_uint_eq(append_text(j, text), 1);
	fake_stop(&fh, t);
	ck_assert_int_eq(fh.requests, 1);
	ck_assert_int_eq(count_text(text, 1, NULL, 0), 1);
}

START_TEST(test_host_gone_before_taking_commits_directly)
{
	untaken_commits_directly(FAKE_DROP, "untaken");
}
END_TEST

START_TEST(test_host_refusing_commits_directly)
{
	untaken_commits_directly(FAKE_REFUSE, "refused");
}
END_TEST

START_TEST(test_taken_then_lost_is_not_retried)
{
	struct fake_host fh = { FAKE_TAKE_AND_DIE, -1, 0 };
	cohort_entry e = { "note", "taken", 5 };
	pthread_t t;
	uint64_t rev;
	int rc;

	fake_start(&fh, &t);
	rc = cohort_committer_append(j, &e, 1, &rev);
	fake_stop(&fh, t);
	ck_assert_int_eq(rc, COHORT_ERROR);
	assert_msg_has("may or may not appear");
	ck_assert_int_eq(fh.requests, 1);
	/* Not committed a second time by the client. */
	ck_assert_uint_eq(head(), 0);
}
END_TEST

START_TEST(test_host_of_another_node_refuses)
{
	cohort_committer *k;
	cohort_cluster *c2;
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;

	/* Node n2 given n1's state folder by mistake: n1's host must not
	 * commit n2's records as n1's. */
	ck_assert(cohort_committer_start(&k, c) == 0);
	o.root = root;
	o.node = "n2";
	o.state = state;
	ck_assert(cohort_cluster_open(&c2, &o) == 0);
	ck_assert(cohort_node_join(c2, &jo) == 0);
	{
		cohort_journal *j2;
		cohort_entry e = { "note", "from n2", 7 };
		uint64_t rev;

		ck_assert(cohort_journal_open(&j2, c2) == 0);
		ck_assert_int_eq(cohort_committer_append(j2, &e, 1, &rev), 0);
		cohort_journal_close(j2);
	}
	ck_assert_uint_eq(cohort_committer_served(k), 0);
	cohort_cluster_close(c2);
	cohort_committer_stop(k);
}
END_TEST

static Suite *committer_suite(void)
{
	Suite *s = suite_create("committer");
	TCase *tc = tcase_create("committer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_no_committer_commits_directly);
	tcase_add_test(tc, test_socket_is_owner_only_and_removed_at_stop);
	tcase_add_test(tc, test_restarted_host_is_found);
	tcase_add_test(tc, test_forked_child_uses_its_own_connection);
	tcase_add_test(tc, test_a_dead_hosts_socket_is_replaced);
	tcase_add_test(tc, test_errors_come_back);
	tcase_add_test(tc, test_batch_keeps_consecutive_revisions);
	tcase_add_test(tc, test_processes_share_commits);
	tcase_add_test(tc, test_host_killed_before_its_write);
	tcase_add_test(tc, test_host_killed_before_its_sync);
	tcase_add_test(tc, test_host_gone_before_taking_commits_directly);
	tcase_add_test(tc, test_host_refusing_commits_directly);
	tcase_add_test(tc, test_taken_then_lost_is_not_retried);
	tcase_add_test(tc, test_host_of_another_node_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(committer_suite()) == 0 ? 0 : 1;
}
