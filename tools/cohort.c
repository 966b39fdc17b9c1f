/*
 * cohort - the command-line tool.  The interface is a contract (CLI.md in
 * the project's shared notes): scripts, cron jobs and systemd units drive
 * it.  This file uses the public API only.
 *
 * Exit status: 0 success, 1 the operation failed (one line on stderr
 * starting "cohort: "), 2 usage error.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <inttypes.h>
#include <resolv.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "cohort.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

struct globals {
	const char *root;
	const char *node;
	const char *state;
};

static struct globals g;
static volatile sig_atomic_t stop_requested;

/* ---- messages ----------------------------------------------------------- */

/*
 * "cohort: MESSAGE" as one line on stderr, whatever the message quotes (a
 * path, an argument, a name): control characters are written as \xNN, so
 * nothing can end the line early or forge a line of its own.
 */
static void say_error(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));
static void say_error(const char *fmt, va_list ap)
{
	char *msg = NULL;
	const unsigned char *p;

	fputs("cohort: ", stderr);
	if (vasprintf(&msg, fmt, ap) < 0) {
		fputs("out of memory\n", stderr);
		return;
	}
	for (p = (const unsigned char *)msg; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(stderr, "\\x%02x", *p);
		else
			fputc(*p, stderr);
	}
	fputc('\n', stderr);
	free(msg);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_error(fmt, ap);
	va_end(ap);
	return EXIT_FAIL;
}

/* A failed library call: its message, with the read-only wording kept. */
static int fail_lib(int rc)
{
	return fail("%s%s", rc == COHORT_EREADONLY ? "read-only: " : "",
		    cohort_error_last());
}

static int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_error(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'cohort %s%s--help'.\n", cmd ? cmd : "",
		cmd ? " " : "");
	return EXIT_USAGE;
}

/*
 * A name from the command line (namespace, package id, job name...),
 * checked by the library's rule before anything is opened: a usage error
 * saying what is wrong with it.  NULL (not given) passes.
 */
static int bad_name(const char *cmd, cohort_name_kind kind, const char *s)
{
	if (!s || cohort_name_check(kind, s) == 0)
		return 0;
	return usage_error(cmd, "%s", cohort_error_last());
}

/* ---- formatting --------------------------------------------------------- */

static void fmt_time(char out[32], int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || !gmtime_r(&s, &tm)) {
		snprintf(out, 32, "1970-01-01T00:00:00.000Z");
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + strlen(out), 32 - strlen(out), ".%03dZ",
		 (int)(ms % 1000));
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t len, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += len;
	}
	return 1;
}

static char *base64(const void *data, size_t len)
{
	size_t cap = (len + 2) / 3 * 4 + 1;
	char *out = malloc(cap);

	if (out && b64_ntop(data, len, out, cap) < 0) {
		free(out);
		out = NULL;
	}
	return out;
}

static void print_json(json_object *o)
{
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE),
	      stdout);
	fputc('\n', stdout);
	json_object_put(o);
}

static void print_record(const cohort_record *r, int json)
{
	char when[32];

	fmt_time(when, r->time_ms);
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "rev", json_object_new_int64((int64_t)r->rev));
		json_object_object_add(o, "node", json_object_new_string(r->node));
		json_object_object_add(o, "type", json_object_new_string(r->type));
		json_object_object_add(o, "time", json_object_new_string(when));
		if (utf8_valid(r->data, r->len)) {
			json_object_object_add(o, "data",
					       json_object_new_string_len(r->data, (int)r->len));
		} else {
			char *b = base64(r->data, r->len);

			json_object_object_add(o, "data_base64",
					       json_object_new_string(b ? b : ""));
			free(b);
		}
		print_json(o);
	} else {
		const unsigned char *d = r->data;
		size_t i;

		printf("%" PRIu64 " %s %s %s ", r->rev, when, r->node, r->type);
		if (!utf8_valid(d, r->len)) {
			char *b = base64(d, r->len);

			printf("base64:%s\n", b ? b : "");
			free(b);
		} else {
			for (i = 0; i < r->len; i++) {
				if (d[i] == '\n')
					fputs("\\n", stdout);
				else if (d[i] == '\\')
					fputs("\\\\", stdout);
				else if (d[i] < 0x20 || d[i] == 0x7f)
					printf("\\x%02x", d[i]);
				else
					fputc(d[i], stdout);
			}
			fputc('\n', stdout);
		}
	}
}

/* ---- opening ------------------------------------------------------------ */

static int open_cluster(cohort_cluster **c, int need_node)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	int rc;

	if (!g.root)
		return usage_error(NULL, "no cluster root: use --root DIR or set "
				   "COHORT_ROOT");
	if (need_node && !g.node)
		return usage_error(NULL, "no node id: use --node ID or set "
				   "COHORT_NODE");
	o.root = g.root;
	o.node = g.node;
	o.state = g.state;
	rc = cohort_cluster_open(c, &o);
	if (rc)
		return fail_lib(rc);
	return 0;
}

/*
 * Commands that change the shared state refuse at once on a read-only
 * node, before touching the root (which may hang while cut off).
 */
static int refuse_if_readonly(void)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	char reason[1024];
	int ro = 0;

	o.root = g.root;
	o.node = g.node;
	o.state = g.state;
	if (cohort_node_mode_of(&o, &ro, reason, sizeof(reason)) == 0 && ro)
		return fail("read-only: node '%s' is read-only: %s", g.node,
			    reason[0] ? reason : "(no reason given)");
	return 0;
}

static int parse_u64(uint64_t *out, const char *s)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

/* Common: --help handling and the option loop's end. */
#define HELP_OPT { "help", no_argument, NULL, 'h' }

/* ---- init / join / leave ------------------------------------------------ */

/*
 * For commands without options of their own: handle --help, refuse any
 * other option or argument.  Returns -1 to go on, else the exit status.
 */
static int no_options(int argc, char **argv, const char *name,
		      const char *help)
{
	static const struct option opts[] = { HELP_OPT, { 0, 0, 0, 0 } };
	int ch;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(help, stdout);
			return 0;
		}
		return usage_error(name, "bad option");
	}
	if (optind != argc)
		return usage_error(name, "unexpected argument '%s'", argv[optind]);
	return -1;
}


static const char init_help[] =
	"usage: cohort init\n"
	"Create the cluster at the root unless it exists and print its id (a\n"
	"UUID v4).  Safe to run from many nodes at once: all print one id.\n";

static int cmd_init(int argc, char **argv)
{
	char id[COHORT_UUID_LEN + 1];
	int rc;

	if ((rc = no_options(argc, argv, "init", init_help)) >= 0)
		return rc;
	if (!g.root)
		return usage_error(NULL, "no cluster root: use --root DIR or set "
				   "COHORT_ROOT");
	rc = cohort_cluster_init(id, g.root);
	if (rc)
		return fail_lib(rc);
	printf("%s\n", id);
	return 0;
}

static const char join_help[] =
	"usage: cohort join [--priority N] [--from-head]\n"
	"Register this node.  A new node starts before the oldest retained\n"
	"record (it will replay all history); --from-head starts it at the\n"
	"current head.  Re-joining after a restart is fine; an id held by\n"
	"another live instance is refused.\n"
	"  --priority N   0-100 (default: [node] priority, 50)\n";

static int cmd_join(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "priority", required_argument, NULL, 'p' },
		{ "from-head", no_argument, NULL, 'f' }, { 0, 0, 0, 0 } };
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	uint64_t rev = 0, prio;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(join_help, stdout); return 0;
		case 'p':
			if (parse_u64(&prio, optarg) || prio > 100)
				return usage_error("join", "--priority takes 0-100, "
						   "not '%s'", optarg);
			jo.priority = (int)prio;
			break;
		case 'f': jo.from_head = 1; break;
		default: return usage_error("join", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("join", "unexpected argument '%s'", argv[optind]);
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_node_join(c, &jo);
	if (!rc)
		rc = cohort_journal_open(&j, c);
	if (!rc)
		rc = cohort_journal_revision(j, &rev);
	if (rc)
		rc = fail_lib(rc);
	else
		printf("node %s joined cluster %s at revision %" PRIu64 "\n",
		       cohort_cluster_node(c), cohort_cluster_id(c), rev);
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc;
}

static const char leave_help[] =
	"usage: cohort leave\n"
	"Deregister this node (mark it retired) so cleanup no longer waits for\n"
	"it.  'cohort join' brings it back.\n";

static int cmd_leave(int argc, char **argv)
{
	cohort_cluster *c = NULL;
	int rc;

	if ((rc = no_options(argc, argv, "leave", leave_help)) >= 0)
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_node_leave(c);
	if (rc)
		rc = fail_lib(rc);
	else
		printf("node %s left cluster %s\n", cohort_cluster_node(c),
		       cohort_cluster_id(c));
	cohort_cluster_close(c);
	return rc;
}

/* ---- append ------------------------------------------------------------- */

static const char append_help[] =
	"usage: cohort append [--type TYPE] [--lines] [DATA | -]\n"
	"Append DATA as one record (type 'data' unless given).  With no DATA or\n"
	"'-', standard input is one record; with --lines, each line of standard\n"
	"input is one record and all of them are one atomic commit.  Prints\n"
	"each new revision on its own line once the commit is durable.\n";

static int read_stdin(char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return fail("out of memory");
	for (;;) {
		size_t got;

		if (n == cap) {
			char *g2;

			if (cap > COHORT_RECORD_MAX * (size_t)2) {
				free(buf);
				return fail("standard input is larger than %u "
					    "bytes", COHORT_RECORD_MAX * 2);
			}
			cap *= 2;
			g2 = realloc(buf, cap);
			if (!g2) {
				free(buf);
				return fail("out of memory");
			}
			buf = g2;
		}
		got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0) {
			if (ferror(stdin)) {
				free(buf);
				return fail("cannot read standard input: %s",
					    strerror(errno));
			}
			break;
		}
	}
	*out = buf;
	*len = n;
	return 0;
}

static int cmd_append(int argc, char **argv)
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
		rc = cohort_journal_append(j, e, n, &first);
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

struct print_ctx {
	int json;
	int skip_own;
	const char *self;
	const char *exec;
};

static int print_cb(const cohort_record *r, void *arg)
{
	struct print_ctx *p = arg;

	print_record(r, p->json);
	/* A closed pipe (cohort log | head) ends the walk. */
	if (fflush(stdout) != 0 || ferror(stdout))
		return COHORT_ERROR;
	return 0;
}

static int cmd_log(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "from", required_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
	struct print_ctx p = { 0, 0, NULL, NULL };
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	uint64_t from = 0, limit = 0;
	int ch, rc;

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
	rc = cohort_journal_open(&j, c);
	if (!rc)
		rc = cohort_journal_read(j, from, limit, print_cb, &p);
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

/*
 * Run the hook with the payload on its standard input, and its size in
 * COHORT_SIZE.  The payload is written whole into an anonymous file before
 * the hook starts: a hook that outlives a killed 'sync' (it has its own
 * process group) reads all of the record, never a cut-off one, as it would
 * from a pipe whose writer died.  The record is applied again after the
 * restart (at least once), but never wrong.
 */
static int run_hook(const char *cmd, const cohort_record *r, int *status)
{
	char rev[32], when[32], size[32];
	size_t off = 0;
	pid_t pid;
	int fd;

	fd = memfd_create("cohort-record", MFD_CLOEXEC);
	if (fd < 0)
		return fail("cannot make the hook's input: %s", strerror(errno));
	while (off < r->len) {
		ssize_t w = write(fd, (const char *)r->data + off, r->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;

			close(fd);
			return fail("cannot write the hook's input: %s",
				    strerror(e));
		}
		off += (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		int e = errno;

		close(fd);
		return fail("cannot rewind the hook's input: %s", strerror(e));
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(fd);
		return fail("cannot fork: %s", strerror(e));
	}
	if (pid == 0) {
		snprintf(rev, sizeof(rev), "%" PRIu64, r->rev);
		snprintf(size, sizeof(size), "%zu", r->len);
		fmt_time(when, r->time_ms);
		setenv("COHORT_REV", rev, 1);
		setenv("COHORT_TYPE", r->type, 1);
		setenv("COHORT_ORIGIN", r->node, 1);
		setenv("COHORT_TIME", when, 1);
		setenv("COHORT_SIZE", size, 1);
		if (dup2(fd, 0) < 0)
			_exit(127);
		/* Its own process group: a Ctrl-C meant for 'watch' lets the
		 * record in hand finish instead of killing its hook. */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fd);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return fail("cannot wait for the hook: %s",
				    strerror(errno));
	}
	return 0;
}

#define HOOK_FAILED 1000
#define STOPPED 1001

struct apply_ctx {
	struct print_ctx p;
	uint64_t failed_rev;
	int failed_status;
};

static int apply_cb(const cohort_record *r, void *arg)
{
	struct apply_ctx *a = arg;
	int status = 0;

	if (stop_requested)
		return STOPPED; /* the revision stays at the record before */
	if (a->p.skip_own && a->p.self && !strcmp(r->node, a->p.self))
		return 0;
	if (!a->p.exec)
		return print_cb(r, &a->p);
	if (run_hook(a->p.exec, r, &status))
		return COHORT_ERROR;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		a->failed_rev = r->rev;
		a->failed_status = status;
		return HOOK_FAILED;
	}
	return 0;
}

static int apply_result(int rc, struct apply_ctx *a)
{
	if (rc == STOPPED)
		return 0;
	if (rc == HOOK_FAILED) {
		if (WIFEXITED(a->failed_status))
			return fail("hook failed at revision %" PRIu64 " (exit "
				    "status %d); the node stays at revision %"
				    PRIu64, a->failed_rev,
				    WEXITSTATUS(a->failed_status),
				    a->failed_rev - 1);
		return fail("hook killed by signal %d at revision %" PRIu64
			    "; the node stays at revision %" PRIu64,
			    WTERMSIG(a->failed_status), a->failed_rev,
			    a->failed_rev - 1);
	}
	if (rc == COHORT_ERROR && ferror(stdout))
		/* The reader went away: the revision is at the last record
		 * printed, so nothing is lost. */
		return errno == EPIPE ? 0 : fail("cannot write standard output");
	if (rc)
		return fail_lib(rc);
	return 0;
}

/*
 * A node behind the oldest retained record: hand the application's
 * snapshot to CMD on standard input (COHORT_REV is its revision), then set
 * the node's revision to the snapshot's; replay goes on from there.
 */
static int bootstrap(cohort_cluster *c, cohort_journal *j, const char *cmd)
{
	cohort_record r;
	uint64_t rev = 0, tail = 0;
	void *data = NULL;
	size_t len = 0;
	int rc, status = 0;

	if (!cmd)
		return fail("%s (run with --exec-snapshot CMD to load the "
			    "application snapshot, see 'cohort snapshot get')",
			    cohort_error_last());
	if ((rc = cohort_snapshot_get(c, &data, &len, &rev)))
		return fail("cannot bootstrap: %s", cohort_error_last());
	if ((rc = cohort_journal_bounds(j, &tail, NULL))) {
		free(data);
		return fail_lib(rc);
	}
	if (rev + 1 < tail) {
		free(data);
		return fail("cannot bootstrap: the latest snapshot (revision %"
			    PRIu64 ") is older than the oldest retained record "
			    "(%" PRIu64 ")", rev, tail);
	}
	memset(&r, 0, sizeof(r));
	r.rev = rev;
	r.time_ms = (int64_t)time(NULL) * 1000;
	r.node = cohort_cluster_node(c);
	r.type = "snapshot";
	r.data = data;
	r.len = len;
	rc = run_hook(cmd, &r, &status);
	free(data);
	if (rc)
		return rc;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail("snapshot hook failed (status %d); node stays behind",
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	if ((rc = cohort_journal_set_revision(j, rev)))
		return fail_lib(rc);
	fprintf(stderr, "cohort: node %s bootstrapped from the application "
		"snapshot at revision %" PRIu64 "\n", cohort_cluster_node(c), rev);
	return 0;
}

static const char sync_help[] =
	"usage: cohort sync [--exec CMD] [--skip-own] [--json]\n"
	"Apply, in order, every record after this node's revision, advancing\n"
	"the node's revision file after each.  Without --exec print them as\n"
	"'log' does.  With --exec run '/bin/sh -c CMD' once per record with the\n"
	"whole payload on standard input (a file, not a pipe: a hook that\n"
	"outlives a killed sync still reads all of it) and COHORT_REV,\n"
	"COHORT_TYPE, COHORT_ORIGIN, COHORT_TIME and COHORT_SIZE (bytes) in the\n"
	"environment; if CMD fails, stop with exit 1 and the revision at the\n"
	"last record CMD applied.  A record whose hook ran when sync was killed\n"
	"is run again at the next sync (at least once).\n"
	"  --skip-own   records appended by this node advance the revision\n"
	"               but are not printed or run\n"
	"  --exec-snapshot CMD  when this node is behind the oldest retained\n"
	"               record, run CMD with the application snapshot on standard\n"
	"               input (COHORT_REV: its revision), then replay from there\n";

static const char watch_help[] =
	"usage: cohort watch [--exec CMD] [--skip-own] [--json] [--poll-ms N]\n"
	"'sync', then keep applying new records as they are committed, until\n"
	"SIGINT or SIGTERM (then exit 0 after the record in hand).  Commits made\n"
	"on this host wake it at once (inotify); other hosts' commits are seen\n"
	"by polling the journal head every N ms (default: [journal]\n"
	"poll_interval, 250ms).  Takes --exec and --exec-snapshot as 'sync'.\n";

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int sync_or_watch(int argc, char **argv, int watch)
{
	static const struct option opts[] = {
		HELP_OPT, { "exec", required_argument, NULL, 'e' },
		{ "skip-own", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "exec-snapshot", required_argument, NULL, 'S' },
		{ "poll-ms", required_argument, NULL, 'p' }, { 0, 0, 0, 0 } };
	const char *name = watch ? "watch" : "sync", *snap_cmd = NULL;
	struct apply_ctx a;
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	uint64_t poll_ms = 0, applied;
	int ch, rc;

	memset(&a, 0, sizeof(a));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(watch ? watch_help : sync_help, stdout); return 0;
		case 'e': a.p.exec = optarg; break;
		case 's': a.p.skip_own = 1; break;
		case 'j': a.p.json = 1; break;
		case 'S': snap_cmd = optarg; break;
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
	if ((rc = open_cluster(&c, 1)))
		return rc;
	a.p.self = cohort_cluster_node(c);
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

		rc = cohort_journal_apply(j, 1, apply_cb, &a, &applied);
		if (rc == COHORT_EBEHIND) {
			if ((rc = bootstrap(c, j, snap_cmd)))
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

static int cmd_sync(int argc, char **argv)
{
	return sync_or_watch(argc, argv, 0);
}

static int cmd_watch(int argc, char **argv)
{
	return sync_or_watch(argc, argv, 1);
}

/* ---- status ------------------------------------------------------------- */

static const char status_help[] =
	"usage: cohort status [--json]\n"
	"The cluster id, head and tail revisions, this node's mode (rw or ro,\n"
	"with --node), every registered node (revision, lag, state: live, stale\n"
	"or retired, heartbeat age by the file server's clock, priority) and\n"
	"the last run of each run-once job.\n";

static int cmd_status(int argc, char **argv)
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
	}
out:
	free(nodes);
	free(jobs);
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc;
}


/* ---- extension store ---------------------------------------------------- */

static const char install_help[] =
	"usage: cohort install [--namespace NS] [--dependency] [--force]\n"
	"                      [--id ID --version V] FILE\n"
	"Validate the package FILE (jar, zip, xar, tar, tar.gz/bz2/xz: every\n"
	"entry is read; damaged or hostile packages are refused with the\n"
	"reason), store its content once by hash and mark it installed; prints\n"
	"'ID VERSION'.  Id, version and dependencies come from the package's own\n"
	"metadata (META-INF/extension.xed, package.xml, META-INF/rhq-plugin.xml,\n"
	"META-INF/MANIFEST.MF) unless --id/--version are given.  Installing\n"
	"another version of an installed id upgrades it.\n"
	"  --namespace NS  install into NS (default: the root namespace, which\n"
	"                  applies to every namespace)\n"
	"  --dependency    mark it installed as a dependency\n"
	"  --force         install even if its dependencies are not installed\n";

static int cmd_install(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "namespace", required_argument, NULL, 'N' },
		{ "dependency", no_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "id", required_argument, NULL, 'i' },
		{ "version", required_argument, NULL, 'v' }, { 0, 0, 0, 0 } };
	cohort_install_options io = COHORT_INSTALL_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	cohort_package p;
	int ch, rc;

	memset(&p, 0, sizeof(p));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(install_help, stdout); return 0;
		case 'N': io.ns = optarg; break;
		case 'd': io.dependency = 1; break;
		case 'f': io.force = 1; break;
		case 'i': io.id = optarg; break;
		case 'v': io.pkg_version = optarg; break;
		default: return usage_error("install", "bad option");
		}
	}
	if (argc - optind != 1)
		return usage_error("install", "give one package FILE");
	if ((rc = bad_name("install", COHORT_NAME_NAMESPACE, io.ns)) ||
	    (rc = bad_name("install", COHORT_NAME_PACKAGE, io.id)) ||
	    (rc = bad_name("install", COHORT_NAME_VERSION, io.pkg_version)))
		return rc;
	if ((rc = refuse_if_readonly()))
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_store_open(&st, c);
	if (!rc)
		rc = cohort_store_install(st, argv[optind], &io, &p);
	if (rc)
		rc = fail_lib(rc);
	else
		printf("%s %s\n", p.id, p.version);
	cohort_package_clear(&p);
	cohort_store_close(st);
	cohort_cluster_close(c);
	return rc;
}

static const char uninstall_help[] =
	"usage: cohort uninstall [--namespace NS] [--force] ID\n"
	"Mark the package ID uninstalled (in NS, or the root namespace).\n"
	"Refused while another installed package depends on it, unless --force.\n";

static int cmd_uninstall(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "namespace", required_argument, NULL, 'N' },
		{ "force", no_argument, NULL, 'f' }, { 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	const char *ns = NULL;
	int ch, rc, force = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(uninstall_help, stdout); return 0;
		case 'N': ns = optarg; break;
		case 'f': force = 1; break;
		default: return usage_error("uninstall", "bad option");
		}
	}
	if (argc - optind != 1)
		return usage_error("uninstall", "give one package ID");
	if ((rc = bad_name("uninstall", COHORT_NAME_NAMESPACE, ns)) ||
	    (rc = bad_name("uninstall", COHORT_NAME_PACKAGE, argv[optind])))
		return rc;
	if ((rc = refuse_if_readonly()))
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_store_open(&st, c);
	if (!rc)
		rc = cohort_store_uninstall(st, ns, argv[optind], force);
	if (rc)
		rc = fail_lib(rc);
	else
		printf("uninstalled %s\n", argv[optind]);
	cohort_store_close(st);
	cohort_cluster_close(c);
	return rc;
}

static const char list_help[] =
	"usage: cohort list [--namespace NS] [--json]\n"
	"Installed packages: all of them, or with --namespace those of NS and\n"
	"of the root namespace.  'NAMESPACE ID VERSION [dependency]', or JSON\n"
	"Lines with id, version, namespace (null: root), dependency, hash, size,\n"
	"installed.\n";

static int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "namespace", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	cohort_package *v = NULL;
	const char *ns = NULL;
	size_t n = 0, i;
	int ch, rc, json = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(list_help, stdout); return 0;
		case 'N': ns = optarg; break;
		case 'j': json = 1; break;
		default: return usage_error("list", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("list", "unexpected argument '%s'", argv[optind]);
	if ((rc = bad_name("list", COHORT_NAME_NAMESPACE, ns)))
		return rc;
	if ((rc = open_cluster(&c, 0)))
		return rc;
	rc = cohort_store_open(&st, c);
	if (!rc)
		rc = cohort_store_list(st, ns, &v, &n);
	if (rc) {
		rc = fail_lib(rc);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (json) {
			json_object *o = json_object_new_object();
			char when[32];

			fmt_time(when, v[i].installed_ms);
			json_object_object_add(o, "id", json_object_new_string(v[i].id));
			json_object_object_add(o, "version", json_object_new_string(v[i].version));
			json_object_object_add(o, "namespace", v[i].ns[0] ?
					       json_object_new_string(v[i].ns) : NULL);
			json_object_object_add(o, "dependency", json_object_new_boolean(v[i].dependency));
			json_object_object_add(o, "hash", json_object_new_string(v[i].hash));
			json_object_object_add(o, "size", json_object_new_int64((int64_t)v[i].size));
			json_object_object_add(o, "installed", json_object_new_string(when));
			print_json(o);
		} else {
			printf("%-16s %s %s%s\n", v[i].ns[0] ? v[i].ns : "(root)",
			       v[i].id, v[i].version,
			       v[i].dependency ? " dependency" : "");
		}
	}
out:
	cohort_package_list_free(v, n);
	cohort_store_close(st);
	cohort_cluster_close(c);
	return rc;
}

static const char materialize_help[] =
	"usage: cohort materialize DIR [--namespace NS]\n"
	"Make DIR hold exactly the installed packages (with --namespace, those\n"
	"of NS and of the root namespace), each as ID-VERSION.EXT, verified\n"
	"against its hash, writing only what changed; files it did not place\n"
	"are left alone.  Prints 'N added, N updated, N removed, N unchanged'.\n";

static int cmd_materialize(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "namespace", required_argument, NULL, 'N' },
		{ 0, 0, 0, 0 } };
	cohort_materialize_stats ms;
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	const char *ns = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(materialize_help, stdout); return 0;
		case 'N': ns = optarg; break;
		default: return usage_error("materialize", "bad option");
		}
	}
	if (argc - optind != 1)
		return usage_error("materialize", "give one folder DIR");
	if ((rc = bad_name("materialize", COHORT_NAME_NAMESPACE, ns)))
		return rc;
	if ((rc = open_cluster(&c, 0)))
		return rc;
	rc = cohort_store_open(&st, c);
	if (!rc)
		rc = cohort_store_materialize(st, argv[optind], ns, &ms);
	if (rc)
		rc = fail_lib(rc);
	else
		printf("%lu added, %lu updated, %lu removed, %lu unchanged\n",
		       ms.added, ms.updated, ms.removed, ms.unchanged);
	cohort_store_close(st);
	cohort_cluster_close(c);
	return rc;
}

static const char cat_help[] =
	"usage: cohort cat ID [--version V] [--namespace NS] [--offset N]\n"
	"                  [--length N]\n"
	"Write the package's bytes (or the range from --offset, --length bytes)\n"
	"to standard output, after verifying the whole content against its\n"
	"hash: a damaged package gives an error and no bytes.\n";

static int cmd_cat(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "version", required_argument, NULL, 'v' },
		{ "namespace", required_argument, NULL, 'N' },
		{ "offset", required_argument, NULL, 'o' },
		{ "length", required_argument, NULL, 'l' }, { 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	const char *version = NULL, *ns = NULL;
	uint64_t offset = 0, length = 0;
	cohort_package p;
	int ch, rc;

	memset(&p, 0, sizeof(p));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(cat_help, stdout); return 0;
		case 'v': version = optarg; break;
		case 'N': ns = optarg; break;
		case 'o':
			if (parse_u64(&offset, optarg))
				return usage_error("cat", "--offset takes a byte "
						   "count, not '%s'", optarg);
			break;
		case 'l':
			if (parse_u64(&length, optarg) || length == 0)
				return usage_error("cat", "--length takes a byte "
						   "count above 0, not '%s'", optarg);
			break;
		default: return usage_error("cat", "bad option");
		}
	}
	if (argc - optind != 1)
		return usage_error("cat", "give one package ID");
	if ((rc = bad_name("cat", COHORT_NAME_PACKAGE, argv[optind])) ||
	    (rc = bad_name("cat", COHORT_NAME_VERSION, version)) ||
	    (rc = bad_name("cat", COHORT_NAME_NAMESPACE, ns)))
		return rc;
	if ((rc = open_cluster(&c, 0)))
		return rc;
	signal(SIGPIPE, SIG_IGN);
	rc = cohort_store_open(&st, c);
	if (!rc)
		rc = cohort_store_find(st, ns, argv[optind], version, &p);
	if (!rc)
		rc = cohort_store_cat(st, &p, offset, length, STDOUT_FILENO);
	if (rc)
		rc = fail_lib(rc);
	cohort_package_clear(&p);
	cohort_store_close(st);
	cohort_cluster_close(c);
	return rc;
}


/* ---- operations: node, run-once ----------------------------------------- */

static void logf_(const char *node, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void logf_(const char *node, const char *fmt, ...)
{
	char when[32];
	va_list ap;

	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		fmt_time(when, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	}
	fprintf(stderr, "%s cohort node %s: ", when, node);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* The heartbeat runs in its own thread: a hung mount blocks it, and the
 * watchdog (the main loop) sees that no beat finished in time. */
struct beat {
	cohort_cluster *c;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int64_t interval_ms;
	int64_t last_ok;     /* monotonic ms of the last good beat */
	int64_t started;     /* monotonic ms the beat in progress began, or 0 */
	int failed;	     /* the last beat failed */
	char err[512];
	/* the mode, shared by the main loop and the watchdog */
	int ro;
	int64_t timeout_ms;
	const char *self;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *beat_thread(void *arg)
{
	struct beat *b = arg;

	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		struct timespec ts;
		int rc;

		b->started = mono_ms();
		pthread_mutex_unlock(&b->mu);
		rc = cohort_node_heartbeat(b->c);
		pthread_mutex_lock(&b->mu);
		b->started = 0;
		b->failed = rc != 0;
		if (rc)
			snprintf(b->err, sizeof(b->err), "%s", cohort_error_last());
		else
			b->last_ok = mono_ms();
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += b->interval_ms / 1000;
		ts.tv_nsec += (b->interval_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!b->stop)
			pthread_cond_timedwait(&b->cv, &b->mu, &ts);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Switch to read-only (once) with 'why'; the caller holds b->mu. */
static void go_readonly_locked(struct beat *b, const char *why)
{
	if (b->ro)
		return;
	b->ro = 1;
	(void)cohort_node_set_mode(b->c, 1, why);
	logf_(b->self, "read-only: %s", why);
}

static int beat_healthy(struct beat *b, int64_t timeout_ms, char *why,
			size_t size);

/*
 * The watchdog never touches the root: when the mount hangs, the main
 * loop and the heartbeat thread hang with it, and this thread alone can
 * still turn the node read-only (the mode lives in the local state folder).
 */
static void *watchdog_thread(void *arg)
{
	struct beat *b = arg;
	char why[600];

	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		struct timespec ts;
		int64_t step = b->interval_ms / 2 + 1;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += step / 1000;
		ts.tv_nsec += (step % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		if (b->stop)
			break;
		pthread_mutex_unlock(&b->mu);
		if (!beat_healthy(b, b->timeout_ms, why, sizeof(why))) {
			pthread_mutex_lock(&b->mu);
			go_readonly_locked(b, why);
			pthread_mutex_unlock(&b->mu);
		}
		pthread_mutex_lock(&b->mu);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* With b->mu held: did the last beat succeed, recently? */
static int beat_healthy_locked_ok(struct beat *b, int64_t timeout_ms)
{
	return !b->failed && !(b->started && mono_ms() - b->started > timeout_ms) &&
	       mono_ms() - b->last_ok <= timeout_ms + b->interval_ms;
}

/* Is the root answering?  Fills 'why' when not. */
static int beat_healthy(struct beat *b, int64_t timeout_ms, char *why,
			size_t size)
{
	int ok = 1;

	pthread_mutex_lock(&b->mu);
	if (b->failed) {
		snprintf(why, size, "the shared root does not answer: %s", b->err);
		ok = 0;
	} else if (b->started && mono_ms() - b->started > timeout_ms) {
		snprintf(why, size, "the shared root does not answer: a heartbeat "
			 "write has taken over %lld ms", (long long)timeout_ms);
		ok = 0;
	} else if (mono_ms() - b->last_ok > timeout_ms + b->interval_ms) {
		snprintf(why, size, "the shared root does not answer: no heartbeat "
			 "for %lld ms", (long long)(mono_ms() - b->last_ok));
		ok = 0;
	}
	pthread_mutex_unlock(&b->mu);
	return ok;
}

/*
 * Priorities (eXo JCR): the main node is the registered, not retired node
 * with the highest priority (ties: the smallest id).  In static mode the
 * other nodes are read-only while it is stale.
 */
static int main_node_stale(cohort_cluster *c, char *why, size_t size)
{
	cohort_node_info *v = NULL;
	int64_t stale = cohort_config_get_int(c, "cluster", "stale_after");
	size_t n = 0, i, best = (size_t)-1;
	int rc = 0;

	if (strcmp(cohort_config_get(c, "cluster", "priority_mode"), "static"))
		return 0;
	if (cohort_node_list(&v, &n, c))
		return 0; /* the cut-off check speaks for this */
	for (i = 0; i < n; i++)
		if (!v[i].retired &&
		    (best == (size_t)-1 || v[i].priority > v[best].priority))
			best = i;
	if (best != (size_t)-1 && strcmp(v[best].id, cohort_cluster_node(c)) &&
	    (v[best].heartbeat_age_ms < 0 || v[best].heartbeat_age_ms > stale)) {
		snprintf(why, size, "the main node '%s' (priority %d) is stale "
			 "(static priority mode)", v[best].id, v[best].priority);
		rc = 1;
	}
	free(v);
	return rc;
}

struct node_ctx {
	struct apply_ctx a;
	int store_changed;
	uint64_t applied;
};

static int node_apply_cb(const cohort_record *r, void *arg)
{
	struct node_ctx *nc = arg;
	int rc;

	if (!strncmp(r->type, "store.", 6))
		nc->store_changed = 1;
	if (stop_requested)
		return STOPPED;
	if (!nc->a.p.exec) {
		nc->applied++;
		return 0;
	}
	if (nc->a.p.skip_own && !strcmp(r->node, nc->a.p.self)) {
		nc->applied++;
		return 0;
	}
	rc = apply_cb(r, &nc->a);
	if (!rc) {
		nc->applied++;
		logf_(nc->a.p.self, "applied revision %" PRIu64 " (%s from %s)",
		      r->rev, r->type, r->node);
	}
	return rc;
}

static const char node_help[] =
	"usage: cohort node [--exec CMD] [--materialize DIR] [--namespace NS]\n"
	"                   [--poll-ms N] [--priority N] [--skip-own]\n"
	"                   [--exec-snapshot CMD]\n"
	"Mount-and-go: join (or rejoin) this node, replay every record it missed\n"
	"through CMD (as 'sync --exec'), materialize the installed packages into\n"
	"DIR, then watch: new records go through CMD in order, store changes are\n"
	"materialized as they land, and the node's heartbeat is written every\n"
	"[cluster] heartbeat_interval.  When the root stops answering the node\n"
	"turns read-only (appends and installs on it are refused) and back to\n"
	"read-write once it has caught up again.  One line per action on\n"
	"stderr; exits 0 on SIGTERM or SIGINT after the action in hand.\n";

static int cmd_node(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "exec", required_argument, NULL, 'e' },
		{ "materialize", required_argument, NULL, 'm' },
		{ "namespace", required_argument, NULL, 'N' },
		{ "poll-ms", required_argument, NULL, 'p' },
		{ "priority", required_argument, NULL, 'P' },
		{ "skip-own", no_argument, NULL, 's' },
		{ "exec-snapshot", required_argument, NULL, 'S' }, { 0, 0, 0, 0 } };
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	const char *snap_cmd = NULL;
	struct node_ctx nc;
	struct beat b;
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	cohort_store *st = NULL;
	const char *mdir = NULL, *ns = NULL, *self;
	uint64_t poll_ms = 0, prio, rev = 0;
	int64_t hb_timeout;
	pthread_t thr, wd;
	int ch, rc, need_mat = 1, thr_started = 0, wd_started = 0;
	char why[600] = "", reason[1024];
	struct sigaction sa;

	memset(&nc, 0, sizeof(nc));
	memset(&b, 0, sizeof(b));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(node_help, stdout); return 0;
		case 'e': nc.a.p.exec = optarg; break;
		case 'm': mdir = optarg; break;
		case 'N': ns = optarg; break;
		case 's': nc.a.p.skip_own = 1; break;
		case 'S': snap_cmd = optarg; break;
		case 'p':
			if (parse_u64(&poll_ms, optarg) || poll_ms < 1 ||
			    poll_ms > 3600000)
				return usage_error("node", "--poll-ms takes 1-3600000");
			break;
		case 'P':
			if (parse_u64(&prio, optarg) || prio > 100)
				return usage_error("node", "--priority takes 0-100");
			jo.priority = (int)prio;
			break;
		default: return usage_error("node", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("node", "unexpected argument '%s'", argv[optind]);
	if ((rc = bad_name("node", COHORT_NAME_NAMESPACE, ns)))
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	self = cohort_cluster_node(c);
	nc.a.p.self = self;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Hold the id for as long as we run. */
	if ((rc = cohort_node_claim(c)) || (rc = cohort_node_join(c, &jo)) ||
	    (rc = cohort_journal_open(&j, c)) ||
	    (mdir && (rc = cohort_store_open(&st, c)))) {
		rc = fail_lib(rc);
		goto out;
	}
	if (poll_ms)
		cohort_journal_set_poll_interval_ms(j, (int)poll_ms);
	(void)cohort_journal_revision(j, &rev);
	logf_(self, "joined cluster %s at revision %" PRIu64, cohort_cluster_id(c),
	      rev);
	/* A node starts read-write: the mode of a previous run is stale. */
	(void)cohort_node_set_mode(c, 0, NULL);
	hb_timeout = cohort_config_get_int(c, "node", "heartbeat_timeout");
	b.c = c;
	b.interval_ms = cohort_config_get_int(c, "cluster", "heartbeat_interval");
	b.last_ok = mono_ms();
	pthread_mutex_init(&b.mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&b.cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	b.timeout_ms = hb_timeout;
	b.self = self;
	if (pthread_create(&thr, NULL, beat_thread, &b) != 0) {
		rc = fail("cannot start the heartbeat thread");
		goto out;
	}
	thr_started = 1;
	if (pthread_create(&wd, NULL, watchdog_thread, &b) != 0) {
		rc = fail("cannot start the watchdog thread");
		goto out;
	}
	wd_started = 1;

	while (!stop_requested) {
		int healthy = beat_healthy(&b, hb_timeout, why, sizeof(why));
		uint64_t before = nc.applied;

		if (healthy) {
			rc = cohort_journal_apply(j, 1, node_apply_cb, &nc, NULL);
			if (rc == STOPPED)
				break;
			if (rc == HOOK_FAILED) {
				rc = apply_result(rc, &nc.a);
				goto out;
			}
			if (rc == COHORT_EBEHIND) {
				if ((rc = bootstrap(c, j, snap_cmd)))
					goto out;
				continue;
			}
			if (rc == COHORT_ECORRUPT) {
				rc = fail_lib(rc);
				goto out;
			}
			if (rc) {
				healthy = 0;
				snprintf(why, sizeof(why), "the shared root does not "
					 "answer: %s", cohort_error_last());
			}
		}
		if (healthy && mdir && (need_mat || nc.store_changed)) {
			cohort_materialize_stats ms;

			nc.store_changed = 0;
			rc = cohort_store_materialize(st, mdir, ns, &ms);
			if (rc) {
				logf_(self, "materialize failed: %s", cohort_error_last());
				if (rc != COHORT_ECORRUPT) {
					healthy = 0;
					snprintf(why, sizeof(why), "the shared root "
						 "does not answer: %s",
						 cohort_error_last());
				}
			} else {
				need_mat = 0;
				if (ms.added || ms.updated || ms.removed)
					logf_(self, "materialized %s: %lu added, %lu "
					      "updated, %lu removed, %lu unchanged",
					      mdir, ms.added, ms.updated, ms.removed,
					      ms.unchanged);
			}
		}
		if (healthy && main_node_stale(c, why, sizeof(why)))
			healthy = 0;
		pthread_mutex_lock(&b.mu);
		if (!healthy && !b.ro) {
			go_readonly_locked(&b, why);
		} else if (healthy && b.ro &&
			   beat_healthy_locked_ok(&b, hb_timeout)) {
			/* Caught up above, and the beats succeed again. */
			b.ro = 0;
			(void)cohort_node_set_mode(c, 0, NULL);
			logf_(self, "read-write again (caught up at revision %" PRIu64
			      ")", (cohort_journal_revision(j, &rev), rev));
		} else if (!healthy && b.ro) {
			/* Keep the newest reason for status. */
			if (cohort_node_mode(c, &ch, reason, sizeof(reason)) == 0 &&
			    strcmp(reason, why))
				(void)cohort_node_set_mode(c, 1, why);
		}
		pthread_mutex_unlock(&b.mu);
		if (stop_requested)
			break;
		if (nc.applied != before)
			continue;
		if (cohort_journal_revision(j, &rev))
			rev = 0;
		if (!healthy) {
			/* Wait a poll interval, then try again. */
			struct timespec ts = { 0, 0 };
			int64_t ms = cohort_journal_poll_interval_ms(j);

			ts.tv_sec = ms / 1000;
			ts.tv_nsec = (ms % 1000) * 1000000;
			nanosleep(&ts, NULL);
			continue;
		}
		(void)cohort_journal_wait(j, rev, cohort_journal_poll_interval_ms(j));
	}
	rc = 0;
	logf_(self, "stopping");
out:
	if (thr_started) {
		pthread_mutex_lock(&b.mu);
		b.stop = 1;
		pthread_cond_broadcast(&b.cv);
		pthread_mutex_unlock(&b.mu);
		pthread_join(thr, NULL);
		if (wd_started)
			pthread_join(wd, NULL);
	}
	cohort_store_close(st);
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc;
}

static const char run_once_help[] =
	"usage: cohort run-once NAME [--every DURATION] -- CMD [ARGS...]\n"
	"(the '--' is needed when CMD has options of its own)\n"
	"Run CMD on exactly one node of the cluster per period (DURATION like\n"
	"15m, 1h, 1d; without --every: on one node at a time).  On the other\n"
	"nodes print 'skipped: ...' and exit 0.  The job holds the cluster lock\n"
	"'job.NAME' while it runs; a node killed while running it stops\n"
	"holding it once its lease lapses.  The last run is recorded on the\n"
	"root and shown by 'status --json'.  Exits with CMD's exit status.\n";

static int cmd_run_once(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "every", required_argument, NULL, 'e' },
		{ 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	cohort_job *job = NULL;
	int64_t every = 0;
	const char *name;
	int ch, rc, status = 0;
	pid_t pid;

	/* Options may come before or after NAME; everything after '--' is
	 * the command. */
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(run_once_help, stdout); return 0;
		case 'e':
			if (cohort_parse_duration_ms(&every, optarg) || every <= 0)
				return usage_error("run-once", "--every takes a "
						   "duration like 30s, 15m, 2h, "
						   "7d, not '%s'", optarg);
			break;
		default: return usage_error("run-once", "bad option");
		}
	}
	if (argc - optind < 2)
		return usage_error("run-once", "give a job NAME and, after --, "
				   "the command");
	name = argv[optind++];
	if ((rc = bad_name("run-once", COHORT_NAME_JOB, name)))
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_job_begin(&job, c, name, every);
	if (rc == COHORT_EEXISTS) {
		printf("skipped: %s\n", cohort_error_last());
		cohort_cluster_close(c);
		return 0;
	}
	if (rc) {
		rc = fail_lib(rc);
		cohort_cluster_close(c);
		return rc;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "cohort: cannot run '%s': %s\n", argv[optind],
			strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		status = 127 << 8;
		rc = fail("cannot fork: %s", strerror(errno));
	} else {
		/* Let the job finish even if we are asked to stop. */
		signal(SIGINT, SIG_IGN);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	{
		int code = WIFEXITED(status) ? WEXITSTATUS(status) :
			   128 + WTERMSIG(status);

		if (cohort_job_end(job, code))
			fprintf(stderr, "cohort: cannot record the end of job '%s': "
				"%s\n", name, cohort_error_last());
		if (!rc)
			rc = code;
	}
	cohort_cluster_close(c);
	return rc;
}


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

static int cmd_janitor(int argc, char **argv)
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

static int cmd_snapshot(int argc, char **argv)
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

static int cmd_doctor(int argc, char **argv)
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

static int cmd_fsck(int argc, char **argv)
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

/* ---- main --------------------------------------------------------------- */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "init", cmd_init, "create the cluster at the root (idempotent)" },
	{ "join", cmd_join, "register this node" },
	{ "leave", cmd_leave, "deregister this node" },
	{ "append", cmd_append, "append records to the journal" },
	{ "log", cmd_log, "print journal records" },
	{ "sync", cmd_sync, "apply the records this node has not applied" },
	{ "watch", cmd_watch, "sync, then keep applying new records" },
	{ "status", cmd_status, "the cluster, its head and its nodes" },
	{ "install", cmd_install, "store a package and mark it installed" },
	{ "uninstall", cmd_uninstall, "mark a package uninstalled" },
	{ "list", cmd_list, "installed packages" },
	{ "materialize", cmd_materialize, "make a folder hold the installed packages" },
	{ "cat", cmd_cat, "a package's bytes, verified" },
	{ "node", cmd_node, "mount-and-go: join, catch up, materialize, watch" },
	{ "run-once", cmd_run_once, "run a command on one node per period" },
	{ "janitor", cmd_janitor, "retire idle nodes, remove what all applied" },
	{ "snapshot", cmd_snapshot, "publish or fetch the application snapshot" },
	{ "doctor", cmd_doctor, "check the root's filesystem and mount" },
	{ "fsck", cmd_fsck, "check (and --repair) everything on the root" },
};

static void main_help(void)
{
	const char *section, *key, *def, *doc;
	unsigned int i;

	printf("usage: cohort [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n"
	       "A journal of changes shared by a cluster of servers on one NFS\n"
	       "mount: every node sees the same ordered revisions and replays\n"
	       "what it missed.\n\n"
	       "Global options (each also as an environment variable):\n"
	       "  --root DIR    COHORT_ROOT   the cluster root on the shared mount\n"
	       "  --node ID     COHORT_NODE   this node's id (1-64 of A-Za-z0-9._-)\n"
	       "  --state DIR   COHORT_STATE  this node's local folder (default\n"
	       "                $XDG_STATE_HOME/cohort/ID or ~/.local/state/cohort/ID)\n"
	       "  --help, --version\n\nCommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-12s %s\n", commands[i].name, commands[i].summary);
	printf("\n'cohort COMMAND --help' tells more.\n\n"
	       "Exit status: 0 success, 1 the operation failed (one line on stderr\n"
	       "starting 'cohort: '), 2 usage error.\n\n"
	       "Configuration: ROOT/cohort.conf (INI), overridden by STATE/cohort.conf:\n");
	for (i = 0; cohort_config_key(i, &section, &key, &def, &doc); i++)
		printf("  [%s] %s = %s\n      %s\n", section, key,
		       *def ? def : "(empty)", doc);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "node", required_argument, NULL, 'n' },
		{ "state", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { 0, 0, 0, 0 } };
	unsigned int i;
	int ch;

	g.root = getenv("COHORT_ROOT");
	g.node = getenv("COHORT_NODE");
	g.state = getenv("COHORT_STATE");
	if (g.root && !*g.root)
		g.root = NULL;
	if (g.node && !*g.node)
		g.node = NULL;
	if (g.state && !*g.state)
		g.state = NULL;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': g.root = optarg; break;
		case 'n': g.node = optarg; break;
		case 's': g.state = optarg; break;
		case 'h': main_help(); return 0;
		case 'V': printf("cohort %s\n", COHORT_VERSION); return 0;
		default:
			return usage_error(NULL, "unknown or incomplete option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error(NULL, "no command given");
	if (g.node && cohort_name_check(COHORT_NAME_NODE, g.node))
		return usage_error(NULL, "%s", cohort_error_last());
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[optind], commands[i].name)) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			/* Restart getopt for the command; 0 makes GNU getopt
			 * start over (its ordering mode included). */
			optind = 0;
			opterr = 0;
			return commands[i].fn(sub_argc, sub_argv);
		}
	}
	return usage_error(NULL, "unknown command '%s'", argv[optind]);
}
