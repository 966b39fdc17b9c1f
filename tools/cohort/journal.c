/*
 * cohort - the journal commands: append, log, sync, watch, status.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- append ------------------------------------------------------------- */

static const char append_help[] =
	"usage: cohort append [--type TYPE] [--lines] [DATA | -]\n"
	"Append DATA as one record (type 'data' unless given).  With no DATA or\n"
	"'-', standard input is one record; with --lines, each line of standard\n"
	"input is one record and all of them are one atomic commit.  Prints\n"
	"each new revision on its own line once the commit is durable.  When\n"
	"this node's 'cohort node' runs, the commit goes through its committer\n"
	"(shared with the node's other appending processes), else directly.\n";

int cmd_append(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "type", required_argument, NULL, 't' },
		{ "lines", no_argument, NULL, 'l' }, { 0, 0, 0, 0 } };
	const char *type = "data";
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	cohort_entry *e = NULL, one;
	char *input = NULL;
	size_t len = 0, n = 0, i;
	uint64_t first;
	int ch, rc, lines = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(append_help, stdout); return 0;
		case 't': type = optarg; break;
		case 'l': lines = 1; break;
		default: return usage_error("append", "bad option");
		}
	}
	if (argc - optind > 1)
		return usage_error("append", "one DATA argument at most (quote it)");
	if (lines && optind < argc && strcmp(argv[optind], "-"))
		return usage_error("append", "--lines reads standard input; no "
				   "DATA argument");
	if ((rc = bad_name("append", COHORT_NAME_TYPE, type)))
		return rc;
	if (!strncmp(type, "store.", 6))
		return usage_error("append", "record types 'store.*' are the "
				   "extension store's: use 'cohort install'");
	if ((rc = refuse_if_readonly()))
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	if (optind < argc && strcmp(argv[optind], "-")) {
		one.type = type;
		one.data = argv[optind];
		one.len = strlen(argv[optind]);
		e = &one;
		n = 1;
	} else {
		if ((rc = read_stdin(&input, &len)))
			goto out;
		if (!lines) {
			one.type = type;
			one.data = input;
			one.len = len;
			e = &one;
			n = 1;
		} else {
			size_t start = 0, cap = 0;

			for (i = 0; i <= len; i++) {
				if (i < len && input[i] != '\n')
					continue;
				if (i == len && start == len)
					break; /* no text after the last newline */
				if (n == cap) {
					cohort_entry *g2;

					cap = cap ? cap * 2 : 64;
					g2 = realloc(e, cap * sizeof(*e));
					if (!g2) {
						rc = fail("out of memory");
						goto out;
					}
					e = g2;
				}
				e[n].type = type;
				e[n].data = input + start;
				e[n].len = i - start;
				n++;
				start = i + 1;
			}
			if (n == 0) {
				rc = fail("no lines on standard input: nothing "
					  "appended");
				goto out;
			}
		}
	}
	rc = cohort_journal_open(&j, c);
	if (!rc)
		rc = cohort_committer_append(j, e, n, &first);
	if (rc) {
		rc = fail_lib(rc);
		goto out;
	}
	for (i = 0; i < n; i++)
		printf("%" PRIu64 "\n", first + i);
	if (fflush(stdout) != 0)
		rc = fail("cannot write standard output: %s", strerror(errno));
out:
	if (e != &one)
		free(e);
	free(input);
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc;
}

/* ---- log ---------------------------------------------------------------- */

static const char log_help[] =
	"usage: cohort log [--from REV] [--limit N] [--json]\n"
	"Print records from REV (default: the oldest retained) in revision\n"
	"order: 'REV TIME NODE TYPE DATA' (newlines in DATA as \\n, a payload\n"
	"that is not UTF-8 as base64:...), or JSON Lines with --json.\n";

int cmd_log(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "from", required_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
	struct print_ctx p;
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	uint64_t from = 0, limit = 0;
	int ch, rc;

	memset(&p, 0, sizeof(p));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(log_help, stdout); return 0;
		case 'f':
			if (parse_u64(&from, optarg))
				return usage_error("log", "--from takes a revision, "
						   "not '%s'", optarg);
			break;
		case 'n':
			if (parse_u64(&limit, optarg))
				return usage_error("log", "--limit takes a count, "
						   "not '%s'", optarg);
			break;
		case 'j': p.json = 1; break;
		default: return usage_error("log", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("log", "unexpected argument '%s'", argv[optind]);
	if ((rc = open_cluster(&c, 0)))
		return rc;
	big_stdout();
	rc = cohort_journal_open(&j, c);
	if (!rc)
		rc = cohort_journal_read(j, from, limit, print_cb, &p);
	if (!rc && fflush(stdout) != 0)
		rc = COHORT_ERROR;
	if (rc == COHORT_ERROR && ferror(stdout))
		/* The reader went away ('cohort log | head'): a quiet end. */
		rc = errno == EPIPE ? 0 :
			fail("cannot write standard output: %s", strerror(errno));
	else if (rc)
		rc = fail_lib(rc);
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc;
}

/* ---- sync / watch ------------------------------------------------------- */

static const char sync_help[] =
	"usage: cohort sync [--exec CMD | --exec-batch CMD] [--batch N] [--skip-own]\n"
	"                   [--json] [--exec-snapshot CMD] [--skip-lost]\n"
	"Apply, in order, every record after this node's revision, advancing\n"
	"the node's revision file as they are applied.  Without a hook print\n"
	"them as 'log' does, in batches: the revision is written after every N\n"
	"records (--batch, default 10000) or every second, once the batch is\n"
	"flushed to standard output, so a killed sync prints at most the batch\n"
	"in flight again (--batch 1: after each record).\n"
	"  --exec CMD   run '/bin/sh -c CMD' once per record with the whole\n"
	"               payload on standard input (a file, not a pipe: a hook\n"
	"               that outlives a killed sync still reads all of it) and\n"
	"               COHORT_REV, COHORT_TYPE, COHORT_ORIGIN, COHORT_TIME and\n"
	"               COHORT_SIZE (bytes) in the environment; the revision is\n"
	"               written after each record.  If CMD fails, stop with exit\n"
	"               1 and the revision at the last record CMD applied; a\n"
	"               record whose hook ran when sync was killed is run again\n"
	"               at the next sync (at least once)\n"
	"  --exec-batch CMD  run '/bin/sh -c CMD' once per batch of up to N\n"
	"               records (--batch), given on standard input as JSON Lines\n"
	"               as 'log --json' prints them, with COHORT_FIRST_REV,\n"
	"               COHORT_LAST_REV, COHORT_COUNT and COHORT_SIZE (bytes) in\n"
	"               the environment; the revision passes the batch once CMD\n"
	"               exits 0.  If CMD fails, stop with exit 1 and the revision\n"
	"               before the batch; a killed sync runs the batch again\n"
	"  --batch N    records per revision write (1-1000000, default 10000)\n"
	"  --skip-own   records appended by this node advance the revision\n"
	"               but are not printed or run\n"
	"  --exec-snapshot CMD  when this node is behind the oldest retained\n"
	"               record, or stopped at lost records (see 'cohort fsck'),\n"
	"               run CMD with the application snapshot on standard\n"
	"               input (COHORT_REV: its revision), then replay from there\n"
	"  --skip-lost  pass lost records (revisions 'cohort fsck --repair'\n"
	"               could not save): they are not printed or run, and\n"
	"               'cohort status' lists them for this node.  Without it\n"
	"               (or --exec-snapshot) sync stops before the first one\n"
	"               with exit 1, naming the revisions\n";

static const char watch_help[] =
	"usage: cohort watch [--exec CMD | --exec-batch CMD] [--batch N]\n"
	"                    [--skip-own] [--json] [--poll-ms N]\n"
	"                    [--exec-snapshot CMD] [--skip-lost]\n"
	"'sync', then keep applying new records as they are committed, until\n"
	"SIGINT or SIGTERM (then exit 0 after the record in hand).  Commits made\n"
	"on this host wake it at once (inotify); other hosts' commits are seen\n"
	"by polling the journal head every N ms (default: [journal]\n"
	"poll_interval, 250ms).  Takes --exec, --exec-batch, --batch,\n"
	"--exec-snapshot and --skip-lost as 'sync'; without a hook it flushes\n"
	"its output after each record, and writes the revision after each\n"
	"record too unless --batch is given.\n";

static int sync_or_watch(int argc, char **argv, int watch)
{
	static const struct option opts[] = {
		HELP_OPT, { "exec", required_argument, NULL, 'e' },
		{ "skip-own", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "exec-snapshot", required_argument, NULL, 'S' },
		{ "skip-lost", no_argument, NULL, 'L' },
		{ "poll-ms", required_argument, NULL, 'p' },
		{ "exec-batch", required_argument, NULL, 'B' },
		{ "batch", required_argument, NULL, 'n' }, { 0, 0, 0, 0 } };
	const char *name = watch ? "watch" : "sync", *snap_cmd = NULL;
	cohort_apply_options ao = COHORT_APPLY_OPTIONS_INIT;
	struct apply_ctx a;
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	uint64_t poll_ms = 0, applied, batch = 0;
	int ch, rc;

	memset(&a, 0, sizeof(a));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(watch ? watch_help : sync_help, stdout); return 0;
		case 'e': a.p.exec = optarg; break;
		case 's': a.p.skip_own = 1; break;
		case 'j': a.p.json = 1; break;
		case 'S': snap_cmd = optarg; break;
		case 'L': ao.skip_lost = 1; break;
		case 'B': a.p.batch_exec = optarg; break;
		case 'n':
			if (parse_u64(&batch, optarg) || batch < 1 ||
			    batch > 1000000)
				return usage_error(name, "--batch takes 1-1000000");
			break;
		case 'p':
			if (!watch || parse_u64(&poll_ms, optarg) || poll_ms < 1 ||
			    poll_ms > 3600000)
				return usage_error(name, "%s", watch ?
						   "--poll-ms takes 1-3600000" :
						   "--poll-ms is for 'watch'");
			break;
		default: return usage_error(name, "bad option");
		}
	}
	if (optind != argc)
		return usage_error(name, "unexpected argument '%s'", argv[optind]);
	if (a.p.exec && a.p.batch_exec)
		return usage_error(name, "--exec and --exec-batch exclude each "
				   "other");
	if (batch && a.p.exec)
		return usage_error(name, "--batch is for --exec-batch and for "
				   "printing; --exec runs per record");
	if ((rc = open_cluster(&c, 1)))
		return rc;
	a.p.self = cohort_cluster_node(c);
	/*
	 * Batches: the revision is written once per batch, after the batch
	 * was flushed or its hook exited 0.  'watch' printing and --exec stay
	 * per record (flushed per record, as CLI.md says of watch).
	 */
	if (a.p.batch_exec || (!a.p.exec && (!watch || batch))) {
		ao.batch = batch ? batch : 10000;
		ao.batch_ms = 1000;
		ao.batch_done = batch_done_cb;
		ao.batch_arg = &a;
		if (!a.p.batch_exec)
			big_stdout();
	}
	if (watch && !a.p.exec && !a.p.batch_exec)
		a.p.flush_each = 1;
	if ((rc = cohort_journal_open(&j, c))) {
		rc = fail_lib(rc);
		goto out;
	}
	if (poll_ms)
		cohort_journal_set_poll_interval_ms(j, (int)poll_ms);
	if (watch) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		uint64_t rev = 0;

		if ((rc = cohort_journal_revision(j, &a.written))) {
			rc = fail_lib(rc);
			break;
		}
		rc = cohort_journal_apply_with(j, &ao, apply_cb, &a, &applied);
		if (rc == COHORT_EBEHIND) {
			if ((rc = bootstrap(c, j, snap_cmd)))
				break;
			continue;
		}
		if (rc == COHORT_ELOST) {
			if ((rc = lost_stop(c, j, snap_cmd)))
				break;
			continue;
		}
		if (rc) {
			rc = apply_result(rc, &a);
			break;
		}
		if (!watch || stop_requested)
			break;
		if ((rc = cohort_journal_revision(j, &rev))) {
			rc = fail_lib(rc);
			break;
		}
		while (!stop_requested &&
		       !cohort_journal_wait(j, rev, cohort_journal_poll_interval_ms(j)))
			;
		if (stop_requested)
			break;
	}
out:
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc;
}

int cmd_sync(int argc, char **argv)
{
	return sync_or_watch(argc, argv, 0);
}

int cmd_watch(int argc, char **argv)
{
	return sync_or_watch(argc, argv, 1);
}

/* ---- status ------------------------------------------------------------- */

/* The lost ranges node 'id' skipped, as [[FIRST,LAST],...]. */
static json_object *skipped_lost_json(cohort_cluster *c, const char *id)
{
	json_object *arr = json_object_new_array();
	char *ranges = NULL, *line, *save = NULL;

	if (cohort_journal_skipped_lost(c, id, &ranges))
		return arr; /* unreadable: status says what it can */
	for (line = ranges ? strtok_r(ranges, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long a, b;
		json_object *r;

		if (sscanf(line, "%llu-%llu", &a, &b) != 2)
			continue;
		r = json_object_new_array();
		json_object_array_add(r, json_object_new_int64((int64_t)a));
		json_object_array_add(r, json_object_new_int64((int64_t)b));
		json_object_array_add(arr, r);
	}
	free(ranges);
	return arr;
}

static const char status_help[] =
	"usage: cohort status [--json]\n"
	"The cluster id, head and tail revisions, this node's mode (rw or ro,\n"
	"with --node), every registered node (revision, lag, state: live, stale\n"
	"or retired, heartbeat age by the file server's clock, priority, the\n"
	"lost revisions it skipped with --skip-lost) and the last run of each\n"
	"run-once job.\n";

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	cohort_node_info *nodes = NULL;
	cohort_job_info *jobs = NULL;
	size_t n = 0, i, njobs = 0;
	uint64_t tail = 0, head = 0;
	int64_t stale_ms;
	int ch, rc, json = 0, ro = 0;
	char reason[1024] = "";

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(status_help, stdout); return 0;
		case 'j': json = 1; break;
		default: return usage_error("status", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("status", "unexpected argument '%s'", argv[optind]);
	if ((rc = open_cluster(&c, 0))) {
		cohort_options o = COHORT_OPTIONS_INIT;
		int ro2 = 0;

		/* Cut off from the root: still say this node's mode. */
		o.root = g.root;
		o.node = g.node;
		o.state = g.state;
		if (rc == EXIT_FAIL && g.node &&
		    cohort_node_mode_of(&o, &ro2, reason, sizeof(reason)) == 0) {
			if (json) {
				json_object *e = json_object_new_object();

				json_object_object_add(e, "cluster", NULL);
				json_object_object_add(e, "head", NULL);
				json_object_object_add(e, "tail", NULL);
				json_object_object_add(e, "mode", json_object_new_string(ro2 ? "ro" : "rw"));
				if (ro2)
					json_object_object_add(e, "mode_reason", json_object_new_string(reason));
				json_object_object_add(e, "nodes", json_object_new_array());
				print_json(e);
			} else {
				printf("mode     %s%s%s\n", ro2 ? "ro" : "rw",
				       ro2 ? " - " : "", ro2 ? reason : "");
			}
		}
		return rc;
	}
	stale_ms = cohort_config_get_int(c, "cluster", "stale_after");
	rc = cohort_journal_open(&j, c);
	if (!rc)
		rc = cohort_journal_bounds(j, &tail, &head);
	if (!rc)
		rc = cohort_node_list(&nodes, &n, c);
	if (!rc)
		rc = cohort_node_mode(c, &ro, reason, sizeof(reason));
	if (!rc)
		rc = cohort_job_list(&jobs, &njobs, c);
	if (rc) {
		rc = fail_lib(rc);
		goto out;
	}
	if (json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();

		json_object_object_add(o, "cluster", json_object_new_string(cohort_cluster_id(c)));
		json_object_object_add(o, "head", json_object_new_int64((int64_t)head));
		json_object_object_add(o, "tail", json_object_new_int64((int64_t)tail));
		json_object_object_add(o, "mode", json_object_new_string(ro ? "ro" : "rw"));
		if (ro)
			json_object_object_add(o, "mode_reason", json_object_new_string(reason));
		json_object_object_add(o, "lock_mode", json_object_new_string(
			cohort_lock_mode_name(cohort_lock_mode_effective(c))));
		for (i = 0; i < n; i++) {
			json_object *e = json_object_new_object();
			const char *state = nodes[i].retired ? "retired" :
				(nodes[i].heartbeat_age_ms < 0 ||
				 nodes[i].heartbeat_age_ms > stale_ms) ? "stale" : "live";

			json_object_object_add(e, "id", json_object_new_string(nodes[i].id));
			json_object_object_add(e, "revision", json_object_new_int64((int64_t)nodes[i].revision));
			json_object_object_add(e, "lag", json_object_new_int64(
				head > nodes[i].revision ? (int64_t)(head - nodes[i].revision) : 0));
			json_object_object_add(e, "state", json_object_new_string(state));
			json_object_object_add(e, "heartbeat_age_ms",
					       nodes[i].heartbeat_age_ms < 0 ? NULL :
					       json_object_new_int64(nodes[i].heartbeat_age_ms));
			json_object_object_add(e, "priority", json_object_new_int(nodes[i].priority));
			json_object_object_add(e, "skipped_lost", skipped_lost_json(c, nodes[i].id));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "nodes", arr);
		arr = json_object_new_array();
		for (i = 0; i < njobs; i++) {
			json_object *e = json_object_new_object();
			char t1[32], t2[32];

			fmt_time(t1, jobs[i].start_ms);
			fmt_time(t2, jobs[i].end_ms);
			json_object_object_add(e, "name", json_object_new_string(jobs[i].name));
			json_object_object_add(e, "node", json_object_new_string(jobs[i].node));
			json_object_object_add(e, "start", json_object_new_string(t1));
			json_object_object_add(e, "end", jobs[i].end_ms ?
					       json_object_new_string(t2) : NULL);
			json_object_object_add(e, "status", jobs[i].end_ms ?
					       json_object_new_int(jobs[i].status) : NULL);
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "jobs", arr);
		print_json(o);
	} else {
		printf("cluster  %s\nhead     %" PRIu64 "\ntail     %" PRIu64
		       "\nmode     %s%s%s\nlocks    %s\n", cohort_cluster_id(c), head,
		       tail, ro ? "ro" : "rw", ro ? " - " : "", ro ? reason : "",
		       cohort_lock_mode_name(cohort_lock_mode_effective(c)));
		printf("%-20s %10s %8s %-8s %12s %8s\n", "NODE", "REVISION", "LAG",
		       "STATE", "HEARTBEAT", "PRIORITY");
		for (i = 0; i < n; i++) {
			char age[32];
			const char *state = nodes[i].retired ? "retired" :
				(nodes[i].heartbeat_age_ms < 0 ||
				 nodes[i].heartbeat_age_ms > stale_ms) ? "stale" : "live";

			if (nodes[i].heartbeat_age_ms < 0)
				snprintf(age, sizeof(age), "never");
			else
				snprintf(age, sizeof(age), "%.1fs ago",
					 (double)nodes[i].heartbeat_age_ms / 1000.0);
			printf("%-20s %10" PRIu64 " %8" PRIu64 " %-8s %12s %8d\n",
			       nodes[i].id, nodes[i].revision,
			       head > nodes[i].revision ? head - nodes[i].revision : 0,
			       state, age, nodes[i].priority);
		}
		for (i = 0; i < n; i++) {
			char *ranges = NULL, *nl;

			if (cohort_journal_skipped_lost(c, nodes[i].id, &ranges) ||
			    !ranges)
				continue;
			while ((nl = strchr(ranges, '\n')) && nl[1])
				*nl = ',';
			if (nl)
				*nl = '\0';
			printf("node %s skipped lost revisions %s (--skip-lost)\n",
			       nodes[i].id, ranges);
			free(ranges);
		}
	}
out:
	free(nodes);
	free(jobs);
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc;
}
