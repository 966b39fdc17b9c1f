/*
 * cohort - helpers every command uses: messages on stderr, option
 * parsing, opening the cluster, record and JSON output.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

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

int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_error(fmt, ap);
	va_end(ap);
	return EXIT_FAIL;
}

/* A failed library call: its message, with the read-only wording kept. */
int fail_lib(int rc)
{
	return fail("%s%s", rc == COHORT_EREADONLY ? "read-only: " : "",
		    cohort_error_last());
}

int usage_error(const char *cmd, const char *fmt, ...)
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
int bad_name(const char *cmd, cohort_name_kind kind, const char *s)
{
	if (!s || cohort_name_check(kind, s) == 0)
		return 0;
	return usage_error(cmd, "%s", cohort_error_last());
}

/* ---- formatting --------------------------------------------------------- */

void fmt_time(char out[32], int64_t ms)
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

void print_json(json_object *o)
{
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE),
	      stdout);
	fputc('\n', stdout);
	json_object_put(o);
}

/* ---- opening ------------------------------------------------------------ */

int open_cluster(cohort_cluster **c, int need_node)
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
int refuse_if_readonly(void)
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

int parse_u64(uint64_t *out, const char *s)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

int read_stdin(char **out, size_t *len)
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

/*
 * For commands without options of their own: handle --help, refuse any
 * other option or argument.  Returns -1 to go on, else the exit status.
 */
int no_options(int argc, char **argv, const char *name, const char *help)
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

void warn_store_lost(cohort_store *st)
{
	uint64_t first, last;

	if (st && cohort_store_lost(st, &first, &last))
		fprintf(stderr, "cohort: warning: journal revisions %" PRIu64 "-%"
			PRIu64 " were lost (see 'cohort fsck'); a package installed "
			"or uninstalled there may be missing from the index or "
			"listed wrongly: install it again, then run 'cohort "
			"materialize'\n", first, last);
}
