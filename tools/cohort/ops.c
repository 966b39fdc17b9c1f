/*
 * cohort - operations: janitor, snapshot, doctor, fsck.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ---- janitor and snapshots ---------------------------------------------- */

static const char janitor_help[] =
	"usage: cohort janitor [--dry-run] [--retire-after DURATION] [--json]\n"
	"Retire nodes whose heartbeat and revision have not moved for DURATION\n"
	"(default: [janitor] retire_after, 7d), then remove the journal segments\n"
	"every live node has applied (never past the latest application\n"
	"snapshot), and store content nothing references.  Safe to run from\n"
	"every node's cron at once: one works, the others say another janitor\n"
	"is running and exit 0.\n"
	"  --dry-run   print what would be removed; change nothing\n";

static void json_items(json_object *o, const char *key,
		       const cohort_janitor_item *v, size_t n, int seg)
{
	json_object *arr = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++) {
		json_object *e;

		if (!strcmp(key, "retired")) {
			json_object_array_add(arr, json_object_new_string(v[i].path));
			continue;
		}
		e = json_object_new_object();
		json_object_object_add(e, "path", json_object_new_string(v[i].path));
		if (seg) {
			json_object_object_add(e, "first", json_object_new_int64((int64_t)v[i].first));
			json_object_object_add(e, "last", json_object_new_int64((int64_t)v[i].last));
		}
		json_object_object_add(e, "bytes", json_object_new_int64((int64_t)v[i].bytes));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, key, arr);
}

int cmd_janitor(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "dry-run", no_argument, NULL, 'n' },
		{ "retire-after", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
	cohort_janitor_options jo = COHORT_JANITOR_OPTIONS_INIT;
	cohort_janitor_report r;
	cohort_cluster *c = NULL;
	const char *would;
	int ch, rc, json = 0;
	size_t i;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(janitor_help, stdout); return 0;
		case 'n': jo.dry_run = 1; break;
		case 'j': json = 1; break;
		case 'r':
			if (cohort_parse_duration_ms(&jo.retire_after_ms, optarg))
				return usage_error("janitor", "--retire-after takes a "
						   "duration like 30s, 15m, 2h, 7d, "
						   "not '%s'", optarg);
			break;
		default: return usage_error("janitor", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("janitor", "unexpected argument '%s'", argv[optind]);
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_janitor_run(c, &jo, &r);
	if (rc) {
		rc = fail_lib(rc);
		goto out;
	}
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "busy", json_object_new_boolean(r.busy));
		json_object_object_add(o, "dry_run", json_object_new_boolean(jo.dry_run));
		if (!r.busy) {
			json_items(o, "retired", r.retired, r.nretired, 0);
			json_items(o, "segments", r.segments, r.nsegments, 1);
			json_items(o, "blobs", r.blobs, r.nblobs, 0);
			json_object_object_add(o, "freed", json_object_new_int64((int64_t)r.freed));
			json_object_object_add(o, "limit", json_object_new_int64((int64_t)r.limit));
			json_object_object_add(o, "held_by", r.held_by[0] ?
					       json_object_new_string(r.held_by) : NULL);
			json_object_object_add(o, "head", json_object_new_int64((int64_t)r.head));
			json_object_object_add(o, "tail_before", json_object_new_int64((int64_t)r.tail_before));
			json_object_object_add(o, "tail_after", json_object_new_int64((int64_t)r.tail_after));
		} else {
			json_object_object_add(o, "holder", json_object_new_string(r.busy_holder));
		}
		print_json(o);
		goto out;
	}
	if (r.busy) {
		printf("another janitor is running (%s): nothing to do here\n",
		       r.busy_holder);
		goto out;
	}
	would = jo.dry_run ? "would " : "";
	for (i = 0; i < r.nretired; i++)
		printf("%s%s node %s\n", would, jo.dry_run ? "retire" : "retired",
		       r.retired[i].path);
	for (i = 0; i < r.nsegments; i++)
		printf("%s%s journal segment %s (revisions %" PRIu64 "-%" PRIu64
		       ", %" PRIu64 " bytes)\n", would,
		       jo.dry_run ? "remove" : "removed", r.segments[i].path,
		       r.segments[i].first, r.segments[i].last, r.segments[i].bytes);
	for (i = 0; i < r.nblobs; i++)
		printf("%s%s unreferenced content %s (%" PRIu64 " bytes)\n", would,
		       jo.dry_run ? "remove" : "removed", r.blobs[i].path,
		       r.blobs[i].bytes);
	printf("%s %" PRIu64 " bytes; journal tail %s%" PRIu64 " (head %" PRIu64
	       ", every live node has applied %" PRIu64 "%s%s%s)\n",
	       jo.dry_run ? "would free" : "freed", r.freed,
	       jo.dry_run ? "would be " : "", r.tail_after, r.head, r.limit,
	       r.held_by[0] ? ", held back by " : "", r.held_by,
	       r.held_by[0] ? "" : "");
out:
	cohort_janitor_report_free(&r);
	cohort_cluster_close(c);
	return rc;
}

static const char snapshot_help[] =
	"usage: cohort snapshot put FILE\n"
	"       cohort snapshot get\n"
	"'put' publishes FILE ('-': standard input) as the application's own\n"
	"snapshot of its state as of this node's revision; the janitor never\n"
	"removes records newer than it.  'get' writes the latest one to\n"
	"standard output and its revision to standard error.  A node behind\n"
	"the oldest retained record loads it with 'sync --exec-snapshot CMD'.\n";

int cmd_snapshot(int argc, char **argv)
{
	static const struct option opts[] = { HELP_OPT, { 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	void *data = NULL;
	size_t len = 0;
	uint64_t rev = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(snapshot_help, stdout);
			return 0;
		}
		return usage_error("snapshot", "bad option");
	}
	if (optind >= argc)
		return usage_error("snapshot", "say 'put FILE' or 'get'");
	if (!strcmp(argv[optind], "put")) {
		char *buf = NULL;
		FILE *f;

		if (argc - optind != 2)
			return usage_error("snapshot", "'put' takes one FILE");
		if ((rc = open_cluster(&c, 1)))
			return rc;
		if (!strcmp(argv[optind + 1], "-")) {
			rc = read_stdin(&buf, &len);
		} else if (!(f = fopen(argv[optind + 1], "rb"))) {
			rc = fail("cannot open '%s': %s", argv[optind + 1],
				  strerror(errno));
		} else {
			FILE *saved = stdin;

			stdin = f;
			rc = read_stdin(&buf, &len);
			stdin = saved;
			fclose(f);
		}
		if (!rc && (rc = cohort_snapshot_put(c, buf, len, &rev)))
			rc = fail_lib(rc);
		if (!rc)
			printf("published snapshot at revision %" PRIu64 " (%zu bytes)\n",
			       rev, len);
		free(buf);
	} else if (!strcmp(argv[optind], "get")) {
		if (argc - optind != 1)
			return usage_error("snapshot", "'get' takes no argument");
		if ((rc = open_cluster(&c, 0)))
			return rc;
		rc = cohort_snapshot_get(c, &data, &len, &rev);
		if (rc) {
			rc = fail_lib(rc);
		} else {
			if (fwrite(data, 1, len, stdout) != len || fflush(stdout))
				rc = fail("cannot write standard output");
			fprintf(stderr, "%" PRIu64 "\n", rev);
		}
		free(data);
	} else {
		return usage_error("snapshot", "unknown subcommand '%s'",
				   argv[optind]);
	}
	cohort_cluster_close(c);
	return rc;
}

/* ---- doctor ------------------------------------------------------------- */

static const char doctor_help[] =
	"usage: cohort doctor [--peer-check] [--json]\n"
	"Check the root's filesystem and mount options and say what to fix:\n"
	"the filesystem type and NFS version, options that break cohort's\n"
	"assumptions (nolock, local_lock=, soft, noac, lookupcache) and the lock\n"
	"mode that follows, whether O_EXCL create, rename over a file, link,\n"
	"OFD locks and folder fsync work there, this node's clock against the\n"
	"file server's, and the fsync rate.  With --peer-check, run it on two\n"
	"nodes at once: it tells whether a lock taken on one excludes the other.\n"
	"Exit 0 when nothing is wrong, 1 when something is.\n";

struct doctor_out {
	int json;
};

static void doctor_print(const cohort_doctor_finding *f, void *arg)
{
	static const char *const names[] = { "ok", "note", "warn", "FAIL" };
	struct doctor_out *d = arg;

	if (d->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "check", json_object_new_string(f->check));
		json_object_object_add(o, "level", json_object_new_string(
			f->level == COHORT_DOCTOR_FAIL ? "fail" : names[f->level]));
		json_object_object_add(o, "detail", json_object_new_string(f->detail));
		json_object_object_add(o, "fix", f->fix[0] ?
				       json_object_new_string(f->fix) : NULL);
		print_json(o);
		return;
	}
	printf("%-5s %-12s %s\n", names[f->level], f->check, f->detail);
	if (f->fix[0] && f->level >= COHORT_DOCTOR_WARN)
		printf("      %-12s fix: %s\n", "", f->fix);
	fflush(stdout);
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "peer-check", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
	cohort_doctor_options o = COHORT_DOCTOR_OPTIONS_INIT;
	cohort_doctor_level worst = COHORT_DOCTOR_OK;
	struct doctor_out d = { 0 };
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(doctor_help, stdout); return 0;
		case 'p': o.peer_check = 1; break;
		case 'j': d.json = 1; break;
		default: return usage_error("doctor", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("doctor", "unexpected argument '%s'", argv[optind]);
	if (!g.root)
		return usage_error(NULL, "no cluster root: use --root DIR or set "
				   "COHORT_ROOT");
	o.node = g.node;
	rc = cohort_doctor_run(g.root, &o, doctor_print, &d, &worst);
	if (rc)
		return fail_lib(rc);
	return worst >= COHORT_DOCTOR_WARN ? 1 : 0;
}

/* ---- fsck --------------------------------------------------------------- */

static const char fsck_help[] =
	"usage: cohort fsck [--repair] [--read-data] [--json] [--grace DURATION]\n"
	"Check everything on the root: the cluster identity and format; the\n"
	"journal (every record's framing and checksum, revisions contiguous, the\n"
	"head against the segments, torn or uncommitted bytes past the head,\n"
	"sealed segments that changed, segments left below the tail or past the\n"
	"head); node files (revision files readable and not past the head, live\n"
	"nodes behind the oldest retained record, heartbeats); stale leases of\n"
	"dead lock holders; temporary files of crashed writers; the store (index\n"
	"snapshot against the journal, every package's content and size, blobs\n"
	"nothing references); zero-length or unreadable files anywhere.\n"
	"Without --repair it takes no lock and changes nothing: it may run while\n"
	"the cluster works.  --repair (needs --node) takes the cluster locks\n"
	"'store' and 'journal' and fixes what it can: publishes whole commits a\n"
	"dead writer left past the head and cuts the rest, rebuilds the index\n"
	"snapshot from the journal, breaks stale leases by the lock protocol,\n"
	"moves stale temporary files and damaged or unreferenced files away.  It\n"
	"never deletes: what it removes or cuts goes to lost+found/<UTC time>/\n"
	"under the root, with a MANIFEST saying what each was and why it moved.\n"
	"A damaged committed record, head or revision file, or a blob whose\n"
	"content is gone, is reported and left for the operator.\n"
	"  --repair          fix what can be fixed\n"
	"  --read-data       also hash every blob's content (XXH3-128)\n"
	"  --json            one JSON object per problem (kind, path, detail,\n"
	"                    repaired, and rev, offset, moved_to when known),\n"
	"                    then one summary object (\"summary\": true)\n"
	"  --grace DURATION  temporary files and unreferenced blobs younger than\n"
	"                    this are left alone (default 1h)\n"
	"Exit status: 0 clean; 1 problems found and all repaired; 4 problems\n"
	"left; 8 operational error (the check could not run); 2 usage error.\n";

#define FSCK_CLEAN 0
#define FSCK_REPAIRED 1
#define FSCK_LEFT 4
#define FSCK_ERROR 8

struct fsck_out {
	int json;
	int repair;
	int bar; /* stderr is a terminal: draw progress there */
	int drawn;
};

static void fsck_clear_bar(struct fsck_out *o)
{
	if (o->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		o->drawn = 0;
	}
}

static void fsck_progress(const char *phase, uint64_t done, uint64_t total,
			  void *arg)
{
	struct fsck_out *o = arg;
	char bar[31];
	int i, fill;

	if (!o->bar)
		return;
	if (total) {
		if (done > total)
			done = total;
		fill = (int)(done * 30 / total);
		for (i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r\033[Kfsck: %-14s [%s] %3d%%", phase, bar,
			(int)(done * 100 / total));
	} else {
		fprintf(stderr, "\r\033[Kfsck: %-14s %" PRIu64, phase, done);
	}
	fflush(stderr);
	o->drawn = 1;
}

static void fsck_problem(const cohort_fsck_problem *p, void *arg)
{
	struct fsck_out *o = arg;

	fsck_clear_bar(o);
	if (o->json) {
		json_object *j = json_object_new_object();

		json_object_object_add(j, "kind", json_object_new_string(p->kind));
		json_object_object_add(j, "path", json_object_new_string(p->path));
		json_object_object_add(j, "detail", json_object_new_string(p->detail));
		json_object_object_add(j, "repaired", json_object_new_boolean(p->repaired));
		if (p->rev)
			json_object_object_add(j, "rev", json_object_new_int64((int64_t)p->rev));
		if (p->offset >= 0)
			json_object_object_add(j, "offset", json_object_new_int64(p->offset));
		if (p->moved_to)
			json_object_object_add(j, "moved_to", json_object_new_string(p->moved_to));
		print_json(j);
	} else {
		printf("%-9s %s %s: %s\n", p->repaired ? "repaired" :
		       o->repair ? "LEFT" : "found", p->kind, p->path, p->detail);
	}
	fflush(stdout);
}

static int fsck_exit(const cohort_fsck_summary *s)
{
	if (s->problems == 0)
		return FSCK_CLEAN;
	return s->repaired == s->problems ? FSCK_REPAIRED : FSCK_LEFT;
}

static void fsck_summary(const cohort_fsck_summary *s, struct fsck_out *o,
			 int read_data, int code, const char *error)
{
	fsck_clear_bar(o);
	if (o->json) {
		json_object *j = json_object_new_object();

		json_object_object_add(j, "summary", json_object_new_boolean(1));
		json_object_object_add(j, "exit", json_object_new_int(code));
		json_object_object_add(j, "clean", json_object_new_boolean(code == 0));
		json_object_object_add(j, "repair", json_object_new_boolean(o->repair));
		json_object_object_add(j, "read_data", json_object_new_boolean(read_data));
		json_object_object_add(j, "problems", json_object_new_int64((int64_t)s->problems));
		json_object_object_add(j, "repaired", json_object_new_int64((int64_t)s->repaired));
		json_object_object_add(j, "left", json_object_new_int64(
			(int64_t)(s->problems - s->repaired)));
		json_object_object_add(j, "head", json_object_new_int64((int64_t)s->head));
		json_object_object_add(j, "tail", json_object_new_int64((int64_t)s->tail));
		json_object_object_add(j, "segments", json_object_new_int64((int64_t)s->segments));
		json_object_object_add(j, "records", json_object_new_int64((int64_t)s->records));
		json_object_object_add(j, "nodes", json_object_new_int64((int64_t)s->nodes));
		json_object_object_add(j, "leases", json_object_new_int64((int64_t)s->leases));
		json_object_object_add(j, "packages", json_object_new_int64((int64_t)s->packages));
		json_object_object_add(j, "blobs", json_object_new_int64((int64_t)s->blobs));
		json_object_object_add(j, "blob_bytes_hashed",
				       json_object_new_int64((int64_t)s->blob_bytes_hashed));
		json_object_object_add(j, "files", json_object_new_int64((int64_t)s->files));
		json_object_object_add(j, "temp_files", json_object_new_int64((int64_t)s->temp_files));
		json_object_object_add(j, "server_clock", json_object_new_boolean(s->server_clock));
		json_object_object_add(j, "lost_records", json_object_new_int64((int64_t)s->lost_records));
		json_object_object_add(j, "lost", json_object_new_int64((int64_t)s->lost));
		json_object_object_add(j, "lost_found", s->lost_found[0] ?
				       json_object_new_string(s->lost_found) : NULL);
		if (error)
			json_object_object_add(j, "error", json_object_new_string(error));
		print_json(j);
		return;
	}
	printf("checked: journal %" PRIu64 " segment%s, %" PRIu64 " record%s "
	       "(tail %" PRIu64 ", head %" PRIu64 "); %" PRIu64 " node%s; %" PRIu64
	       " lease%s; store %" PRIu64 " package%s, %" PRIu64 " blob%s; %" PRIu64
	       " file%s (%" PRIu64 " temporary)\n",
	       s->segments, s->segments == 1 ? "" : "s", s->records,
	       s->records == 1 ? "" : "s", s->tail, s->head, s->nodes,
	       s->nodes == 1 ? "" : "s", s->leases, s->leases == 1 ? "" : "s",
	       s->packages, s->packages == 1 ? "" : "s", s->blobs,
	       s->blobs == 1 ? "" : "s", s->files, s->files == 1 ? "" : "s",
	       s->temp_files);
	if (read_data)
		printf("hashed:  %.1f MB of blob content\n",
		       (double)s->blob_bytes_hashed / 1e6);
	if (!s->server_clock)
		printf("note:    the file server's clock could not be read (read-only "
		       "root?): temporary files and leases were not judged by age\n");
	if (s->lost)
		printf("lost:    %" PRIu64 " revision%s could not be saved and are "
		       "lost records now: nodes stop there until restored from a "
		       "snapshot (--exec-snapshot) or told to skip them "
		       "(--skip-lost)\n", s->lost, s->lost == 1 ? "" : "s");
	else if (s->lost_records)
		printf("note:    the journal holds %" PRIu64 " lost record%s (an "
		       "earlier repair; 'cohort log' shows them as type "
		       COHORT_LOST_TYPE ")\n", s->lost_records,
		       s->lost_records == 1 ? "" : "s");
	if (error)
		printf("result:  could not finish: %s (exit %d)\n", error, code);
	else if (s->problems == 0)
		printf("result:  clean (exit 0)\n");
	else
		printf("result:  %" PRIu64 " problem%s, %" PRIu64 " repaired, %" PRIu64
		       " left (exit %d)%s\n", s->problems,
		       s->problems == 1 ? "" : "s", s->repaired,
		       s->problems - s->repaired, code,
		       !o->repair && code == FSCK_LEFT ?
		       "; 'cohort fsck --repair' fixes what can be fixed" : "");
	if (s->lost_found[0])
		printf("moved:   what was removed or cut is in %s/ (its MANIFEST "
		       "says what and why)\n", s->lost_found);
	fflush(stdout);
}

int cmd_fsck(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "repair", no_argument, NULL, 'r' },
		{ "read-data", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "grace", required_argument, NULL, 'g' }, { 0, 0, 0, 0 } };
	cohort_fsck_options fo = COHORT_FSCK_OPTIONS_INIT;
	cohort_options co = COHORT_OPTIONS_INIT;
	cohort_fsck_summary sum;
	struct fsck_out out = { 0, 0, 0, 0 };
	cohort_cluster *c = NULL;
	int ch, rc, code;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(fsck_help, stdout); return 0;
		case 'r': fo.repair = 1; break;
		case 'd': fo.read_data = 1; break;
		case 'j': out.json = 1; break;
		case 'g':
			if (cohort_parse_duration_ms(&fo.grace_ms, optarg) ||
			    fo.grace_ms < 0)
				return usage_error("fsck", "--grace takes a duration "
						   "like 30s, 15m, 2h, 7d, not '%s'",
						   optarg);
			break;
		default: return usage_error("fsck", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("fsck", "unexpected argument '%s'", argv[optind]);
	if (!g.root)
		return usage_error(NULL, "no cluster root: use --root DIR or set "
				   "COHORT_ROOT");
	if (fo.repair && !g.node)
		return usage_error("fsck", "--repair takes the cluster lock: give "
				   "--node ID (or set COHORT_NODE)");
	out.repair = fo.repair;
	out.bar = isatty(STDERR_FILENO);
	fo.progress = fsck_progress;
	fo.progress_arg = &out;
	co.root = g.root;
	co.node = g.node;
	co.state = g.state;
	memset(&sum, 0, sizeof(sum));
	rc = cohort_cluster_open(&c, &co);
	if (rc == COHORT_ECORRUPT) {
		/* The identity file itself is damaged: that is a finding. */
		cohort_fsck_problem p = { "identity", "cohort.id",
					  cohort_error_last(), 0, 0, -1, NULL };

		fsck_problem(&p, &out);
		sum.problems = 1;
		fsck_summary(&sum, &out, fo.read_data, FSCK_LEFT, NULL);
		return FSCK_LEFT;
	}
	if (rc) {
		fail_lib(rc);
		return FSCK_ERROR;
	}
	rc = cohort_fsck(&sum, c, &fo, fsck_problem, &out);
	if (rc) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", cohort_error_last());
		fsck_summary(&sum, &out, fo.read_data, FSCK_ERROR, msg);
		fail("fsck could not finish: %s", msg);
		code = FSCK_ERROR;
	} else {
		code = fsck_exit(&sum);
		fsck_summary(&sum, &out, fo.read_data, code, NULL);
	}
	cohort_cluster_close(c);
	return code;
}
