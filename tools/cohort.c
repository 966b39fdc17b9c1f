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
#include <inttypes.h>
#include <resolv.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("cohort: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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

	fputs("cohort: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'cohort %s%s--help'.\n", cmd ? cmd : "",
		cmd ? " " : "");
	return EXIT_USAGE;
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

static const char init_help[] =
	"usage: cohort init\n"
	"Create the cluster at the root unless it exists and print its id (a\n"
	"UUID v4).  Safe to run from many nodes at once: all print one id.\n";

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = { HELP_OPT, { 0, 0, 0, 0 } };
	char id[COHORT_UUID_LEN + 1];
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(init_help, stdout);
			return 0;
		}
		return usage_error("init", "bad option");
	}
	if (optind != argc)
		return usage_error("init", "unexpected argument '%s'", argv[optind]);
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
	static const struct option opts[] = { HELP_OPT, { 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(leave_help, stdout);
			return 0;
		}
		return usage_error("leave", "bad option");
	}
	if (optind != argc)
		return usage_error("leave", "unexpected argument '%s'", argv[optind]);
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
	if (!cohort_node_id_valid(type))
		return usage_error("append", "bad record type '%s': use 1-64 of "
				   "A-Za-z0-9._- not starting with '.'", type);
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
		rc = fail("cannot write standard output: %s", strerror(errno));
	else if (rc)
		rc = fail_lib(rc);
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc;
}

/* ---- sync / watch ------------------------------------------------------- */

/* Run the hook with the payload on its standard input. */
static int run_hook(const char *cmd, const cohort_record *r, int *status)
{
	char rev[32], when[32];
	int pipefd[2];
	size_t off = 0;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return fail("cannot make a pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return fail("cannot fork: %s", strerror(errno));
	}
	if (pid == 0) {
		snprintf(rev, sizeof(rev), "%" PRIu64, r->rev);
		fmt_time(when, r->time_ms);
		setenv("COHORT_REV", rev, 1);
		setenv("COHORT_TYPE", r->type, 1);
		setenv("COHORT_ORIGIN", r->node, 1);
		setenv("COHORT_TIME", when, 1);
		if (dup2(pipefd[0], 0) < 0)
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
	close(pipefd[0]);
	while (off < r->len) {
		ssize_t w = write(pipefd[1], (const char *)r->data + off,
				  r->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* the hook stopped reading: its business */
		off += (size_t)w;
	}
	close(pipefd[1]);
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
		return fail("cannot write standard output");
	if (rc)
		return fail_lib(rc);
	return 0;
}

static const char sync_help[] =
	"usage: cohort sync [--exec CMD] [--skip-own] [--json]\n"
	"Apply, in order, every record after this node's revision, advancing\n"
	"the node's revision file after each.  Without --exec print them as\n"
	"'log' does.  With --exec run '/bin/sh -c CMD' once per record with the\n"
	"payload on standard input and COHORT_REV, COHORT_TYPE, COHORT_ORIGIN\n"
	"and COHORT_TIME in the environment; if CMD fails, stop with exit 1 and\n"
	"the revision at the last record CMD applied.\n"
	"  --skip-own   records appended by this node advance the revision\n"
	"               but are not printed or run\n";

static const char watch_help[] =
	"usage: cohort watch [--exec CMD] [--skip-own] [--json] [--poll-ms N]\n"
	"'sync', then keep applying new records as they are committed, until\n"
	"SIGINT or SIGTERM (then exit 0 after the record in hand).  Commits made\n"
	"on this host wake it at once (inotify); other hosts' commits are seen\n"
	"by polling the journal head every N ms (default: [journal]\n"
	"poll_interval, 250ms).\n";

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
		{ "poll-ms", required_argument, NULL, 'p' }, { 0, 0, 0, 0 } };
	const char *name = watch ? "watch" : "sync";
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
	"The cluster id, head and tail revisions, this node's mode (rw or ro)\n"
	"and every registered node: revision, lag, state (live, stale, retired),\n"
	"heartbeat age (file server time) and priority.\n";

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	cohort_node_info *nodes = NULL;
	size_t n = 0, i;
	uint64_t tail = 0, head = 0;
	int64_t stale_ms;
	int ch, rc, json = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(status_help, stdout); return 0;
		case 'j': json = 1; break;
		default: return usage_error("status", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("status", "unexpected argument '%s'", argv[optind]);
	if ((rc = open_cluster(&c, 0)))
		return rc;
	stale_ms = cohort_config_get_int(c, "cluster", "stale_after");
	rc = cohort_journal_open(&j, c);
	if (!rc)
		rc = cohort_journal_bounds(j, &tail, &head);
	if (!rc)
		rc = cohort_node_list(&nodes, &n, c);
	if (rc) {
		rc = fail_lib(rc);
		goto out;
	}
	if (json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array();

		json_object_object_add(o, "cluster", json_object_new_string(cohort_cluster_id(c)));
		json_object_object_add(o, "head", json_object_new_int64((int64_t)head));
		json_object_object_add(o, "tail", json_object_new_int64((int64_t)tail));
		json_object_object_add(o, "mode", json_object_new_string("rw"));
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
		print_json(o);
	} else {
		printf("cluster  %s\nhead     %" PRIu64 "\ntail     %" PRIu64
		       "\nmode     rw\nlocks    %s\n", cohort_cluster_id(c), head,
		       tail, cohort_lock_mode_name(cohort_lock_mode_effective(c)));
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
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return rc;
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
		printf("  %-8s %s\n", commands[i].name, commands[i].summary);
	printf("\n'cohort COMMAND --help' tells more.\n\n"
	       "Exit status: 0 success, 1 the operation failed (one line on stderr\n"
	       "starting 'cohort: '), 2 usage error.\n\n"
	       "Configuration: ROOT/cohort.conf (INI), overridden by STATE/cohort.conf:\n");
	for (i = 0; cohort_config_key(i, &section, &key, &def, &doc); i++)
		printf("  [%s] %s = %s\n      %s\n", section, key, def, doc);
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
	if (g.node && !cohort_node_id_valid(g.node))
		return usage_error(NULL, "bad node id '%s': use 1-64 of "
				   "A-Za-z0-9._- not starting with '.'", g.node);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[optind], commands[i].name)) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			optind = 1; /* restart getopt for the command */
			opterr = 0;
			return commands[i].fn(sub_argc, sub_argv);
		}
	}
	return usage_error(NULL, "unknown command '%s'", argv[optind]);
}
