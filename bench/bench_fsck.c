/*
 * bench_fsck - how fast 'cohort fsck' checks a large root.
 *
 *   bench_fsck fill ROOT NODE STATE [--records N] [--payload P] [--batch B]
 *                                   [--blobs M] [--blob-size S]
 *	initialize ROOT if needed, append N records of P bytes (default
 *	1,000,000 of 100) in commits of B records (default 1000) through
 *	cohort_journal_append, and store M blobs (default 10,000) of S bytes
 *	(default 100 KiB) of random content under store/blobs, each named by
 *	its XXH3-128 as the store names them (written directly: installing
 *	10,000 packages one by one measures the store, not fsck)
 *   bench_fsck check ROOT [--read-data]
 *	one check-only cohort_fsck of the whole root; with --read-data every
 *	blob is hashed (run it twice for a warm cache)
 *
 * check prints "records=R blobs=B bytes_hashed=H seconds=T rate=R/T
 * hash_mb_s=M problems=P" (rate: journal records per second of the whole
 * run; hash_mb_s: hashed megabytes per second of the whole run, 0 without
 * --read-data).
 */
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "bench.h"

struct opts {
	long long records;
	long long payload;
	long long batch;
	long long blobs;
	long long blob_size;
	int read_data;
};

static void mkdirs(const char *path)
{
	char buf[4096];
	size_t i, n = strlen(path);

	if (n >= sizeof(buf))
		bench_die("path too long: '%s'", path);
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			bench_die("cannot create '%s': %s", buf, strerror(errno));
		buf[i] = path[i];
	}
}

static void fill(const char *root, const char *node, const char *state,
		 const struct opts *o)
{
	cohort_options co = COHORT_OPTIONS_INIT;
	char id[COHORT_UUID_LEN + 1];
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	cohort_entry *e;
	unsigned char *data;
	long long done = 0, k;
	int rc;

	if ((rc = cohort_cluster_init(id, root)))
		bench_die_lib("init", rc);
	co.root = root;
	co.node = node;
	co.state = state;
	if ((rc = cohort_cluster_open(&c, &co)) ||
	    (rc = cohort_node_join(c, NULL)) || (rc = cohort_journal_open(&j, c)))
		bench_die_lib("open", rc);
	e = calloc((size_t)o->batch, sizeof(*e));
	data = malloc((size_t)o->payload);
	if (!e || !data)
		bench_die("out of memory");
	memset(data, 'r', (size_t)o->payload);
	for (k = 0; k < o->batch; k++) {
		e[k].type = "bench";
		e[k].data = data;
		e[k].len = (size_t)o->payload;
	}
	while (done < o->records) {
		long long n = o->records - done < o->batch ? o->records - done :
							      o->batch;

		if ((rc = cohort_journal_append(j, e, (size_t)n, NULL)))
			bench_die_lib("append", rc);
		done += n;
	}
	free(e);
	free(data);
	cohort_journal_close(j);
	cohort_cluster_close(c);

	data = malloc((size_t)o->blob_size);
	if (!data && o->blob_size)
		bench_die("out of memory");
	for (k = 0; k < o->blobs; k++) {
		XXH128_canonical_t cn;
		char hex[33], dir[4096], path[4200];
		long long i;
		int fd, n;

		for (i = 0; i < o->blob_size; i++)
			data[i] = (unsigned char)((k * 7919 + i * 31 + (i >> 8)) & 0xff);
		if (o->blob_size >= 8)
			memcpy(data, &k, sizeof(k)); /* every blob different */
		XXH128_canonicalFromHash(&cn, XXH3_128bits(data, (size_t)o->blob_size));
		for (i = 0; i < 16; i++)
			sprintf(hex + 2 * i, "%02x", cn.digest[i]);
		n = snprintf(dir, sizeof(dir), "%s/store/blobs/%.2s/%.2s", root, hex,
			     hex + 2);
		if (n < 0 || (size_t)n >= sizeof(dir))
			bench_die("path too long");
		mkdirs(dir);
		snprintf(path, sizeof(path), "%s/%s", dir, hex);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, data, (size_t)o->blob_size) !=
				      (ssize_t)o->blob_size || close(fd) != 0)
			bench_die("cannot write '%s': %s", path, strerror(errno));
	}
	free(data);
	printf("records=%lld blobs=%lld\n", o->records, o->blobs);
}

static void check(const char *root, const struct opts *o)
{
	cohort_options co = COHORT_OPTIONS_INIT;
	cohort_fsck_options fo = COHORT_FSCK_OPTIONS_INIT;
	cohort_fsck_summary sum;
	cohort_cluster *c = NULL;
	int64_t t0, ns;
	double secs;
	int rc;

	co.root = root;
	if ((rc = cohort_cluster_open(&c, &co)))
		bench_die_lib("open", rc);
	fo.read_data = o->read_data;
	fo.grace_ms = INT64_MAX / 2; /* the blobs are written by hand, young */
	t0 = bench_now_ns();
	rc = cohort_fsck(&sum, c, &fo, NULL, NULL);
	ns = bench_now_ns() - t0;
	if (rc)
		bench_die_lib("fsck", rc);
	secs = (double)ns / 1e9;
	printf("records=%llu blobs=%llu bytes_hashed=%llu seconds=%.6f "
	       "rate=%.1f hash_mb_s=%.1f problems=%llu\n",
	       (unsigned long long)sum.records, (unsigned long long)sum.blobs,
	       (unsigned long long)sum.blob_bytes_hashed, secs,
	       secs > 0 ? (double)sum.records / secs : 0.0,
	       secs > 0 ? (double)sum.blob_bytes_hashed / 1e6 / secs : 0.0,
	       (unsigned long long)sum.problems);
	cohort_cluster_close(c);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "records", required_argument, NULL, 'r' },
		{ "payload", required_argument, NULL, 'p' },
		{ "batch", required_argument, NULL, 'b' },
		{ "blobs", required_argument, NULL, 'B' },
		{ "blob-size", required_argument, NULL, 's' },
		{ "read-data", no_argument, NULL, 'd' }, { 0, 0, 0, 0 } };
	struct opts o = { 1000000, 100, 1000, 10000, 100 * 1024, 0 };
	const char *cmd, *node, *state;
	int ch;

	if (argc < 3)
		bench_die("usage: bench_fsck fill ROOT NODE STATE [options] | "
			  "check ROOT [--read-data]");
	cmd = argv[1];
	/* Before getopt_long permutes argv (NODE and STATE would move). */
	node = argc > 3 ? argv[3] : NULL;
	state = argc > 4 ? argv[4] : NULL;
	optind = 3; /* GNU getopt moves NODE and STATE past the options */
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'r': o.records = bench_atoll(optarg, "--records"); break;
		case 'p': o.payload = bench_atoll(optarg, "--payload"); break;
		case 'b': o.batch = bench_atoll(optarg, "--batch"); break;
		case 'B': o.blobs = bench_atoll(optarg, "--blobs"); break;
		case 's': o.blob_size = bench_atoll(optarg, "--blob-size"); break;
		case 'd': o.read_data = 1; break;
		default: bench_die("bad option");
		}
	}
	if (o.batch < 1 || o.payload < 0 || o.records < 0 || o.blobs < 0 ||
	    o.blob_size < 0)
		bench_die("bad numbers");
	if (!strcmp(cmd, "fill")) {
		if (argc < 5)
			bench_die("usage: bench_fsck fill ROOT NODE STATE");
		fill(argv[2], node, state, &o);
	} else if (!strcmp(cmd, "check")) {
		check(argv[2], &o);
	} else {
		bench_die("unknown command '%s'", cmd);
	}
	return 0;
}
