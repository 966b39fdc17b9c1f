/*
 * bench_read - reading and verifying a long journal, against reading and
 * checksumming the same number of records in one plain file.
 *
 *   bench_read fill ROOT NODE STATE [--records N] [--batch B] [--payload P]
 *	append N records of P bytes (default 1,000,000 of 100) in commits of
 *	B records (default 100) through cohort_journal_append
 *   bench_read read ROOT [--records N]
 *	cohort_journal_read from the oldest record to the head (every record
 *	verified by the library); N, when given, is the count expected
 *   bench_read apply ROOT NODE STATE [--batch B] [--records N]
 *	join NODE (a new node starts before the tail), then
 *	cohort_journal_apply_with() everything, the revision written once
 *	per B records (default 10000): the catch-up of a node far behind
 *   bench_read plain-fill FILE [--records N] [--payload P]
 *	a plain file of N framed records: u32 length, u32 zero, XXH3-64 of
 *	the data, the data padded to 8 bytes (written, then fsync'd once)
 *   bench_read plain-read FILE [--records N]
 *	read it in 1 MiB chunks and check every record's XXH3
 *
 * Prints "records=R seconds=T rate=R/T" (fill adds a line "failed=F": F
 * commits failed with COHORT_ELOCKED and were not retried).
 */
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include <xxhash.h>

#include "bench.h"

#define CHUNK (1u << 20)
#define FRAME_HDR 16

struct opts {
	long long records;
	long long batch;
	long long payload;
};

static void report(long long records, int64_t ns)
{
	double secs = (double)ns / 1e9;

	printf("records=%lld seconds=%.6f rate=%.1f\n", records, secs,
	       secs > 0 ? (double)records / secs : 0.0);
}

/* ---- cohort ------------------------------------------------------------- */

static void fill(const char *root, const char *node, const char *state,
		 const struct opts *o)
{
	cohort_cluster *c;
	cohort_journal *j;
	cohort_entry *e = calloc((size_t)o->batch, sizeof(*e));
	unsigned char *data = malloc((size_t)(o->batch * o->payload));
	long long done = 0, i, failed = 0;
	int64_t t0;
	int rc;

	if (!e || !data)
		bench_die("out of memory");
	for (i = 0; i < o->batch * o->payload; i++)
		data[i] = (unsigned char)(i * 31 + 1);
	for (i = 0; i < o->batch; i++) {
		e[i].type = "bench";
		e[i].data = data + i * o->payload;
		e[i].len = (size_t)o->payload;
	}
	bench_open(&c, &j, root, node, state);
	t0 = bench_now_ns();
	while (done < o->records) {
		long long n = o->records - done < o->batch ? o->records - done :
							     o->batch;

		rc = cohort_journal_append(j, e, (size_t)n, NULL);
		if (rc == COHORT_ELOCKED) {
			/* Not retried: the records may still be kept by the
			 * next writer's recovery, so a retry could add them
			 * twice.  Counted and reported instead. */
			if (failed++ < 3)
				fprintf(stderr, "bench: append failed: %s\n",
					cohort_error_last());
			continue;
		}
		if (rc)
			bench_die_lib("append", rc);
		done += n;
	}
	report(done, bench_now_ns() - t0);
	printf("failed=%lld\n", failed);
	bench_close(c, j);
	free(e);
	free(data);
}

struct read_ctx {
	long long count;
	uint64_t next;
	uint64_t sum;
};

static int on_record(const cohort_record *r, void *arg)
{
	struct read_ctx *x = arg;

	if (r->rev != x->next)
		return 1;
	x->next++;
	x->count++;
	/* Touch the payload, as a consumer would. */
	if (r->len)
		x->sum += ((const unsigned char *)r->data)[r->len - 1];
	return 0;
}

static void read_all(const char *root, const struct opts *o)
{
	cohort_cluster *c;
	cohort_journal *j;
	struct read_ctx x = { 0, 0, 0 };
	uint64_t tail, head;
	int64_t t0;
	int rc;

	bench_open(&c, &j, root, NULL, NULL);
	t0 = bench_now_ns();
	if ((rc = cohort_journal_bounds(j, &tail, &head)))
		bench_die_lib("bounds", rc);
	x.next = tail;
	rc = cohort_journal_read(j, tail, 0, on_record, &x);
	if (rc == 1)
		bench_die("read: revision %llu out of order",
			  (unsigned long long)x.next);
	if (rc)
		bench_die_lib("read", rc);
	report(x.count, bench_now_ns() - t0);
	if (o->records && x.count != o->records)
		bench_die("read %lld records, expected %lld", x.count, o->records);
	bench_close(c, j);
}

/* ---- plain file --------------------------------------------------------- */

static size_t frame_size(size_t len)
{
	return FRAME_HDR + ((len + 7) & ~(size_t)7);
}

static void write_all(int fd, const unsigned char *p, size_t n,
		      const char *path)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			bench_die("write '%s': %s", path, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

static void plain_fill(const char *path, const struct opts *o)
{
	size_t fs = frame_size((size_t)o->payload), used = 0;
	unsigned char *buf = malloc(CHUNK + fs), *rec = malloc(fs);
	long long i;
	int fd;

	if (!buf || !rec)
		bench_die("out of memory");
	memset(rec, 0, fs);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		bench_die("open '%s': %s", path, strerror(errno));
	for (i = 0; i < o->records; i++) {
		uint32_t len = (uint32_t)o->payload;
		uint64_t h;
		long long k;

		for (k = 0; k < o->payload; k++)
			rec[FRAME_HDR + k] = (unsigned char)(i + k);
		h = XXH3_64bits(rec + FRAME_HDR, len);
		memcpy(rec, &len, 4);
		memcpy(rec + 8, &h, 8);
		memcpy(buf + used, rec, fs);
		used += fs;
		if (used >= CHUNK) {
			write_all(fd, buf, used, path);
			used = 0;
		}
	}
	write_all(fd, buf, used, path);
	if (fsync(fd) != 0 || close(fd) != 0)
		bench_die("fsync '%s': %s", path, strerror(errno));
	free(buf);
	free(rec);
}

static void plain_read(const char *path, const struct opts *o)
{
	unsigned char *buf = malloc(CHUNK);
	size_t have = 0, off;
	long long count = 0;
	uint64_t sum = 0;
	int64_t t0;
	int fd;

	if (!buf)
		bench_die("out of memory");
	t0 = bench_now_ns();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		bench_die("open '%s': %s", path, strerror(errno));
	for (;;) {
		ssize_t r = read(fd, buf + have, CHUNK - have);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			bench_die("read '%s': %s", path, strerror(errno));
		if (r == 0)
			break;
		have += (size_t)r;
		for (off = 0; off + FRAME_HDR <= have;) {
			uint32_t len;
			uint64_t h;
			size_t fs;

			memcpy(&len, buf + off, 4);
			memcpy(&h, buf + off + 8, 8);
			fs = frame_size(len);
			if (off + fs > have)
				break;
			if (XXH3_64bits(buf + off + FRAME_HDR, len) != h)
				bench_die("'%s': record %lld fails its checksum",
					  path, count);
			if (len)
				sum += buf[off + FRAME_HDR + len - 1];
			count++;
			off += fs;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	close(fd);
	report(count, bench_now_ns() - t0);
	if (o->records && count != o->records)
		bench_die("read %lld records, expected %lld", count, o->records);
	free(buf);
	(void)sum;
}

static void apply_all(const char *root, const char *node, const char *state,
		      const struct opts *o)
{
	cohort_apply_options ao = COHORT_APPLY_OPTIONS_INIT;
	cohort_cluster *c;
	cohort_journal *j;
	struct read_ctx x = { 0, 0, 0 };
	uint64_t tail, head, applied = 0, rev = 0;
	int64_t t0;
	int rc;

	bench_open(&c, &j, root, node, state);
	ao.batch = (uint64_t)o->batch;
	t0 = bench_now_ns();
	if ((rc = cohort_journal_bounds(j, &tail, &head)))
		bench_die_lib("bounds", rc);
	x.next = tail;
	rc = cohort_journal_apply_with(j, &ao, on_record, &x, &applied);
	if (rc == 1)
		bench_die("apply: revision %llu out of order",
			  (unsigned long long)x.next);
	if (rc)
		bench_die_lib("apply", rc);
	report((long long)applied, bench_now_ns() - t0);
	if ((rc = cohort_journal_revision(j, &rev)))
		bench_die_lib("revision", rc);
	if (rev != head)
		bench_die("apply ended at revision %llu, the head is %llu",
			  (unsigned long long)rev, (unsigned long long)head);
	if (o->records && (long long)applied != o->records)
		bench_die("applied %llu records, expected %lld",
			  (unsigned long long)applied, o->records);
	bench_close(c, j);
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fputs("usage: bench_read fill ROOT NODE STATE [--records N] [--batch B] "
	      "[--payload P]\n"
	      "       bench_read read ROOT [--records N]\n"
	      "       bench_read apply ROOT NODE STATE [--batch B] [--records N]\n"
	      "       bench_read plain-fill FILE [--records N] [--payload P]\n"
	      "       bench_read plain-read FILE [--records N]\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "records", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "payload", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0, 0, 100 };
	const char *mode;
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': o.records = bench_atoll(optarg, "--records"); break;
		case 'b': o.batch = bench_atoll(optarg, "--batch"); break;
		case 'p': o.payload = bench_atoll(optarg, "--payload"); break;
		default: usage();
		}
	}
	if (optind >= argc || o.records < 0 || o.batch < 0 || o.payload < 0)
		usage();
	mode = argv[optind++];
	if (!o.batch)
		o.batch = strcmp(mode, "apply") ? 100 : 10000;
	if (!strcmp(mode, "fill") && argc - optind == 3) {
		if (!o.records)
			o.records = 1000000;
		fill(argv[optind], argv[optind + 1], argv[optind + 2], &o);
	} else if (!strcmp(mode, "apply") && argc - optind == 3) {
		apply_all(argv[optind], argv[optind + 1], argv[optind + 2], &o);
	} else if (!strcmp(mode, "read") && argc - optind == 1) {
		read_all(argv[optind], &o);
	} else if (!strcmp(mode, "plain-fill") && argc - optind == 1) {
		if (!o.records)
			o.records = 1000000;
		plain_fill(argv[optind], &o);
	} else if (!strcmp(mode, "plain-read") && argc - optind == 1) {
		plain_read(argv[optind], &o);
	} else {
		usage();
	}
	return 0;
}
