/*
 * bench/bench.h - small helpers shared by the benchmark programs (not part
 * of the library).  Each bench/NAME.c is one program; bench/run drives
 * them and turns their one-line results into the table.
 *
 * Every program prints its result on stdout as one line of "key=value"
 * pairs, e.g. "commits=812 records=812 seconds=2.001 rate=405.8", and
 * failures as "bench: <message>" on stderr with exit status 1.
 */
#ifndef COHORT_BENCH_H
#define COHORT_BENCH_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cohort.h"

static inline void bench_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static inline void bench_die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A failed library call: the library's own message. */
static inline void bench_die_lib(const char *what, int rc)
	__attribute__((noreturn));
static inline void bench_die_lib(const char *what, int rc)
{
	bench_die("%s: %s (%s)", what, cohort_error_last(),
		  cohort_error_name(rc));
}

/* CLOCK_MONOTONIC in nanoseconds: one clock for every process of a host,
 * so a writer and a watcher on the same machine can subtract them. */
static inline int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bench_sleep_ns(int64_t ns)
{
	struct timespec ts;

	if (ns <= 0)
		return;
	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Sleep until CLOCK_MONOTONIC reaches 'at_ns' (no-op if already past). */
static inline void bench_sleep_until(int64_t at_ns)
{
	bench_sleep_ns(at_ns - bench_now_ns());
}

static inline long long bench_atoll(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		bench_die("%s: '%s' is not a number", what, s);
	return v;
}

static inline double bench_atof(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end)
		bench_die("%s: '%s' is not a number", what, s);
	return v;
}

/*
 * Open the cluster at 'root' as 'node' (NULL: node-less, for readers) with
 * local state folder 'state', register the node and open the journal.
 */
static inline void bench_open(cohort_cluster **c, cohort_journal **j,
			      const char *root, const char *node,
			      const char *state)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	int rc;

	o.root = root;
	o.node = node;
	o.state = state;
	if ((rc = cohort_cluster_open(c, &o)))
		bench_die_lib("open cluster", rc);
	if (node) {
		cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;

		if ((rc = cohort_node_join(*c, &jo)))
			bench_die_lib("join", rc);
	}
	if ((rc = cohort_journal_open(j, *c)))
		bench_die_lib("open journal", rc);
}

static inline void bench_close(cohort_cluster *c, cohort_journal *j)
{
	cohort_journal_close(j);
	cohort_cluster_close(c);
}

/* Write one latency (nanoseconds) per line, for the plots. */
static inline void bench_dump_ns(const char *path, const int64_t *v, size_t n)
{
	FILE *f;
	size_t i;

	if (!path)
		return;
	f = fopen(path, "w");
	if (!f)
		bench_die("cannot write '%s': %s", path, strerror(errno));
	for (i = 0; i < n; i++)
		fprintf(f, "%lld\n", (long long)v[i]);
	if (fclose(f) != 0)
		bench_die("cannot write '%s': %s", path, strerror(errno));
}

#endif
