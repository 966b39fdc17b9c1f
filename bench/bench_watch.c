/*
 * bench_watch - how long a commit takes to reach a watcher.
 *
 *   bench_watch writer ROOT NODE STATE [--samples N] [--gap-min-ms A]
 *		[--gap-max-ms B] [--lat FILE]
 *	append N records of type "lat" (default 200), each carrying its
 *	sequence number and CLOCK_MONOTONIC (ns) read just before
 *	cohort_journal_append, with a random pause of A..B ms (default
 *	20..120) between them, then one record of type "stop".  --lat gets
 *	each append's own duration (ns).  Prints "samples=N failed=F": F
 *	appends failed with COHORT_ELOCKED (counted, not retried).
 *   bench_watch watcher ROOT [--poll-ms P] [--ready FILE] [--out FILE]
 *	open the journal without a node id, create FILE once it waits, then
 *	loop on cohort_journal_wait and cohort_journal_read from the head it
 *	knows; for each "lat" record note now - its timestamp; stop at the
 *	"stop" record.  --poll-ms overrides the configured poll interval.
 *	--out gets the latencies (ns), one a line.
 *
 * The watcher prints "samples=N p50_ms=.. p99_ms=.. max_ms=.. poll_ms=P".
 * Both ends run on one host and read the same CLOCK_MONOTONIC, so the
 * difference is the propagation latency measured from the moment the
 * writer called append (it includes the append itself; the writer's
 * --lat file tells how much that was).
 */
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include "bench.h"

#define PAYLOAD_MAGIC 0x43425754u /* "TWBC" */

struct payload {
	uint32_t magic;
	uint32_t pad;
	uint64_t seq;
	int64_t t0_ns;
};

struct opts {
	long long samples;
	long long gap_min_ms;
	long long gap_max_ms;
	long long poll_ms;
	const char *lat;
	const char *ready;
	const char *out;
};

/* ---- writer ------------------------------------------------------------- */

static void writer(const char *root, const char *node, const char *state,
		   const struct opts *o)
{
	cohort_cluster *c;
	cohort_journal *j;
	struct payload p;
	cohort_entry e = { "warm", &p, sizeof(p) };
	int64_t *lat = calloc((size_t)o->samples + 1, sizeof(*lat));
	unsigned int seed = (unsigned int)(bench_now_ns() ^ getpid());
	long long i, failed = 0;
	size_t n = 0;
	int rc;

	if (!lat)
		bench_die("out of memory");
	bench_open(&c, &j, root, node, state);
	memset(&p, 0, sizeof(p));
	p.magic = PAYLOAD_MAGIC;
	/* One untimed append first: opens the head and segment, warms the
	 * lock files; watchers skip it by its type. */
	if ((rc = cohort_journal_append(j, &e, 1, NULL)))
		bench_die_lib("append", rc);
	e.type = "lat";
	for (i = 0; i < o->samples; i++) {
		long long span = o->gap_max_ms - o->gap_min_ms;
		long long gap = o->gap_min_ms +
				(span > 0 ? rand_r(&seed) % (span + 1) : 0);

		bench_sleep_ns(gap * 1000000);
		p.seq = (uint64_t)i;
		p.t0_ns = bench_now_ns();
		rc = cohort_journal_append(j, &e, 1, NULL);
		if (rc == COHORT_ELOCKED) {
			/* Counted and reported, like bench_append does. */
			if (failed++ < 3)
				fprintf(stderr, "bench: append failed: %s\n",
					cohort_error_last());
			continue;
		}
		if (rc)
			bench_die_lib("append", rc);
		lat[n++] = bench_now_ns() - p.t0_ns;
	}
	/* Let the slowest watcher see the last sample on its own poll
	 * before the stop record arrives. */
	bench_sleep_ns(50000000);
	e.type = "stop";
	if ((rc = cohort_journal_append(j, &e, 1, NULL)))
		bench_die_lib("append", rc);
	bench_dump_ns(o->lat, lat, n);
	printf("samples=%zu failed=%lld\n", n, failed);
	free(lat);
	bench_close(c, j);
}

/* ---- watcher ------------------------------------------------------------ */

struct watch_ctx {
	int64_t *lat;
	size_t n, cap;
	uint64_t last;
	int stop;
};

static int on_record(const cohort_record *r, void *arg)
{
	struct watch_ctx *x = arg;
	int64_t now = bench_now_ns();
	struct payload p;

	x->last = r->rev;
	if (!strcmp(r->type, "stop")) {
		x->stop = 1;
		return 0;
	}
	if (strcmp(r->type, "lat") || r->len != sizeof(p))
		return 0;
	memcpy(&p, r->data, sizeof(p));
	if (p.magic != PAYLOAD_MAGIC)
		return 0;
	if (x->n == x->cap) {
		int64_t *g;

		x->cap = x->cap ? 2 * x->cap : 1024;
		g = realloc(x->lat, x->cap * sizeof(*g));
		if (!g)
			bench_die("out of memory");
		x->lat = g;
	}
	x->lat[x->n++] = now - p.t0_ns;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted 'v'. */
static double pct_ms(const int64_t *v, size_t n, double q)
{
	size_t k;

	if (!n)
		return 0.0;
	k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1] / 1e6;
}

static void watcher(const char *root, const struct opts *o)
{
	cohort_cluster *c;
	cohort_journal *j;
	struct watch_ctx x;
	uint64_t head;
	int rc;

	memset(&x, 0, sizeof(x));
	bench_open(&c, &j, root, NULL, NULL);
	if (o->poll_ms > 0)
		cohort_journal_set_poll_interval_ms(j, (int)o->poll_ms);
	if ((rc = cohort_journal_bounds(j, NULL, &head)))
		bench_die_lib("bounds", rc);
	x.last = head;
	if (o->ready) {
		int fd = open(o->ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0)
			bench_die("cannot create '%s': %s", o->ready,
				  strerror(errno));
		close(fd);
	}
	while (!x.stop) {
		if (cohort_journal_wait(j, x.last, 1000) <= 0)
			continue;
		rc = cohort_journal_read(j, x.last + 1, 0, on_record, &x);
		if (rc)
			bench_die_lib("read", rc);
	}
	qsort(x.lat, x.n, sizeof(*x.lat), cmp_i64);
	bench_dump_ns(o->out, x.lat, x.n);
	printf("samples=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f poll_ms=%d\n",
	       x.n, pct_ms(x.lat, x.n, 0.50), pct_ms(x.lat, x.n, 0.99),
	       pct_ms(x.lat, x.n, 1.0), cohort_journal_poll_interval_ms(j));
	free(x.lat);
	bench_close(c, j);
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fputs("usage: bench_watch writer ROOT NODE STATE [--samples N] "
	      "[--gap-min-ms A] [--gap-max-ms B] [--lat FILE]\n"
	      "       bench_watch watcher ROOT [--poll-ms P] [--ready FILE] "
	      "[--out FILE]\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "samples", required_argument, NULL, 'n' },
		{ "gap-min-ms", required_argument, NULL, 'a' },
		{ "gap-max-ms", required_argument, NULL, 'b' },
		{ "poll-ms", required_argument, NULL, 'p' },
		{ "lat", required_argument, NULL, 'l' },
		{ "ready", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 200, 20, 120, 0, NULL, NULL, NULL };
	const char *mode;
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': o.samples = bench_atoll(optarg, "--samples"); break;
		case 'a': o.gap_min_ms = bench_atoll(optarg, "--gap-min-ms"); break;
		case 'b': o.gap_max_ms = bench_atoll(optarg, "--gap-max-ms"); break;
		case 'p': o.poll_ms = bench_atoll(optarg, "--poll-ms"); break;
		case 'l': o.lat = optarg; break;
		case 'r': o.ready = optarg; break;
		case 'o': o.out = optarg; break;
		default: usage();
		}
	}
	if (optind >= argc || o.samples < 1 || o.gap_min_ms < 0 ||
	    o.gap_max_ms < o.gap_min_ms)
		usage();
	mode = argv[optind++];
	if (!strcmp(mode, "writer") && argc - optind == 3)
		writer(argv[optind], argv[optind + 1], argv[optind + 2], &o);
	else if (!strcmp(mode, "watcher") && argc - optind == 1)
		watcher(argv[optind], &o);
	else
		usage();
	return 0;
}
