/*
 * bench_append - durable commits per second: cohort against the plain
 * baselines, each on a folder of the filesystem under test.
 *
 *   bench_append init ROOT
 *   bench_append now                          print CLOCK_MONOTONIC (ns), for
 *                                             --start-at
 *   bench_append cohort ROOT NODE STATE [options]
 *   bench_append plain DIR [options]          write(batch x payload) +
 *                                             fdatasync on one plain file
 *   bench_append sqlite-delete DIR [options]  journal_mode=DELETE,
 *                                             synchronous=FULL
 *   bench_append sqlite-wal DIR [options]     journal_mode=WAL,
 *                                             synchronous=FULL
 *
 * Options:
 *   --batch N      records per commit (default 1)
 *   --payload B    bytes per record (default 128)
 *   --seconds S    length of the timed part (default 2)
 *   --warmup N     untimed commits first (default 5)
 *   --start-at NS  wait until CLOCK_MONOTONIC reaches NS, then run for
 *                  exactly --seconds (several processes start together);
 *                  only commits finished before the end are counted
 *   --lat FILE     write each commit's latency (ns), one a line (with
 *                  --start-at, also that of the commit in flight at the
 *                  end of the window)
 *   --shared       cohort: append with cohort_committer_append(), through
 *                  the node's committer when one runs ('cohort node'
 *                  hosts it); the node must have joined (no join here:
 *                  the running node holds the id)
 *
 * Prints "commits=C records=R seconds=T rate=R/T failed=F" (records per
 * second; F commits failed with COHORT_ELOCKED and are not counted - any
 * other error stops the program); cohort adds "lock_mode=M", the lock
 * layers in force on that mount.
 * Every commit is durable when the call returns: cohort_journal_append
 * returns after fdatasync; the baselines call fdatasync / COMMIT.
 */
#include <fcntl.h>
#include <getopt.h>
#include <sqlite3.h>
#include <unistd.h>

#include "bench.h"

struct opts {
	long long batch;
	long long payload;
	double seconds;
	long long warmup;
	int64_t start_at;
	const char *lat;
	const char *extra; /* more "key=value" for the result line */
	int shared;
};

/* One engine: commit() makes 'batch' records of 'payload' bytes durable. */
struct engine {
	void *ctx;
	int (*commit)(void *ctx, const struct opts *o, unsigned char *buf);
};

/* ---- cohort ------------------------------------------------------------- */

struct cohort_ctx {
	cohort_journal *j;
	cohort_entry *e;
	long long errors;
};

/*
 * A failed append is counted, not fatal: the run goes on so that the
 * table can show how often it happens (COHORT_ELOCKED after a lease read
 * that failed its checksum, for example).  Returns 0 on success.
 */
static int cohort_commit(void *p, const struct opts *o, unsigned char *buf)
{
	struct cohort_ctx *x = p;
	int rc;

	(void)buf;
	rc = o->shared ? cohort_committer_append(x->j, x->e, (size_t)o->batch,
						 NULL) :
			 cohort_journal_append(x->j, x->e, (size_t)o->batch, NULL);
	if (rc) {
		if (x->errors++ < 3)
			fprintf(stderr, "bench: append failed: %s (%s)\n",
				cohort_error_last(), cohort_error_name(rc));
		if (rc != COHORT_ELOCKED)
			bench_die_lib("append", rc);
		return -1;
	}
	return 0;
}

/* ---- plain file --------------------------------------------------------- */

struct plain_ctx {
	int fd;
	char path[4096];
};

static int plain_commit(void *p, const struct opts *o, unsigned char *buf)
{
	struct plain_ctx *x = p;
	size_t n = (size_t)(o->batch * o->payload), done = 0;

	while (done < n) {
		ssize_t w = write(x->fd, buf + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			bench_die("write '%s': %s", x->path, strerror(errno));
		done += (size_t)w;
	}
	if (fdatasync(x->fd) != 0)
		bench_die("fdatasync '%s': %s", x->path, strerror(errno));
	return 0;
}

/* ---- sqlite ------------------------------------------------------------- */

struct sqlite_ctx {
	sqlite3 *db;
	sqlite3_stmt *ins;
};

static void sql_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		bench_die("sqlite '%s': %s", sql, err ? err : "?");
}

static int sqlite_commit(void *p, const struct opts *o, unsigned char *buf)
{
	struct sqlite_ctx *x = p;
	long long i;

	/* One INSERT per transaction when batch is 1: autocommit would do
	 * the same; the explicit BEGIN keeps both shapes alike. */
	sql_exec(x->db, "BEGIN");
	for (i = 0; i < o->batch; i++) {
		sqlite3_bind_blob(x->ins, 1, buf + i * o->payload,
				  (int)o->payload, SQLITE_STATIC);
		if (sqlite3_step(x->ins) != SQLITE_DONE)
			bench_die("sqlite insert: %s", sqlite3_errmsg(x->db));
		sqlite3_reset(x->ins);
	}
	sql_exec(x->db, "COMMIT");
	return 0;
}

static void sqlite_open(struct sqlite_ctx *x, const char *dir, int wal)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/bench-%s.db", dir, wal ? "wal" : "delete");
	if (sqlite3_open(path, &x->db) != SQLITE_OK)
		bench_die("sqlite open '%s': %s", path, sqlite3_errmsg(x->db));
	sql_exec(x->db, wal ? "PRAGMA journal_mode=WAL" :
			      "PRAGMA journal_mode=DELETE");
	sql_exec(x->db, "PRAGMA synchronous=FULL");
	sql_exec(x->db, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, "
			"v BLOB NOT NULL)");
	if (sqlite3_prepare_v2(x->db, "INSERT INTO t (v) VALUES (?1)", -1,
			       &x->ins, NULL) != SQLITE_OK)
		bench_die("sqlite prepare: %s", sqlite3_errmsg(x->db));
}

/* ---- the timed loop ----------------------------------------------------- */

static void run(const struct engine *en, const struct opts *o)
{
	unsigned char *buf = malloc((size_t)(o->batch * o->payload));
	int64_t *lat = NULL, t0, end, t, last;
	size_t nlat = 0, caplat = 0;
	long long i, commits = 0, failed = 0;
	double secs;

	if (!buf)
		bench_die("out of memory");
	for (i = 0; i < o->batch * o->payload; i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	for (i = 0; i < o->warmup; i++)
		(void)en->commit(en->ctx, o, buf);
	if (o->start_at)
		bench_sleep_until(o->start_at);
	t0 = last = bench_now_ns();
	end = t0 + (int64_t)(o->seconds * 1e9);
	while ((t = bench_now_ns()) < end) {
		int64_t done;
		int bad = en->commit(en->ctx, o, buf);

		done = bench_now_ns();
		/* Its latency counts even when it ends after the window: a
		 * process starved of the lock for the whole window still
		 * shows up in the latencies. */
		if (o->lat && !bad) {
			if (nlat == caplat) {
				int64_t *g;

				caplat = caplat ? 2 * caplat : 4096;
				g = realloc(lat, caplat * sizeof(*lat));
				if (!g)
					bench_die("out of memory");
				lat = g;
			}
			lat[nlat++] = done - t;
		}
		if (o->start_at && done > end)
			break; /* finished after the window: not counted */
		if (bad) {
			failed++;
			continue;
		}
		commits++;
		last = done;
	}
	/* A fixed window for concurrent runs; else the time actually spent. */
	secs = o->start_at ? o->seconds : (double)(last - t0) / 1e9;
	printf("commits=%lld records=%lld seconds=%.6f rate=%.1f failed=%lld%s%s\n",
	       commits, commits * o->batch, secs,
	       secs > 0 ? (double)(commits * o->batch) / secs : 0.0, failed,
	       o->extra ? " " : "", o->extra ? o->extra : "");
	bench_dump_ns(o->lat, lat, nlat);
	free(lat);
	free(buf);
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fputs("usage: bench_append init ROOT\n"
	      "       bench_append now\n"
	      "       bench_append cohort ROOT NODE STATE [options]\n"
	      "       bench_append plain|sqlite-delete|sqlite-wal DIR [options]\n"
	      "options: --batch N --payload B --seconds S --warmup N "
	      "--start-at NS --lat FILE --shared\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "payload", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "start-at", required_argument, NULL, 'a' },
		{ "lat", required_argument, NULL, 'l' },
		{ "shared", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 1, 128, 2.0, 5, 0, NULL, NULL, 0 };
	struct engine en = { NULL, NULL };
	struct cohort_ctx cx = { NULL, NULL, 0 };
	struct plain_ctx px;
	struct sqlite_ctx sx = { NULL, NULL };
	cohort_cluster *c = NULL;
	char extra[64];
	const char *mode;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'b': o.batch = bench_atoll(optarg, "--batch"); break;
		case 'p': o.payload = bench_atoll(optarg, "--payload"); break;
		case 's': o.seconds = bench_atof(optarg, "--seconds"); break;
		case 'w': o.warmup = bench_atoll(optarg, "--warmup"); break;
		case 'a': o.start_at = bench_atoll(optarg, "--start-at"); break;
		case 'l': o.lat = optarg; break;
		case 'S': o.shared = 1; break;
		default: usage();
		}
	}
	if (optind >= argc || o.batch < 1 || o.payload < 1 || o.seconds <= 0)
		usage();
	mode = argv[optind++];

	if (!strcmp(mode, "now")) {
		printf("%lld\n", (long long)bench_now_ns());
		return 0;
	}
	if (!strcmp(mode, "init")) {
		char id[COHORT_UUID_LEN + 1];

		if (argc - optind != 1)
			usage();
		if ((rc = cohort_cluster_init(id, argv[optind])))
			bench_die_lib("init", rc);
		printf("cluster=%s\n", id);
		return 0;
	}
	if (!strcmp(mode, "cohort")) {
		long long i;

		if (argc - optind != 3)
			usage();
		if (o.shared) {
			cohort_options co = COHORT_OPTIONS_INIT;

			co.root = argv[optind];
			co.node = argv[optind + 1];
			co.state = argv[optind + 2];
			if ((rc = cohort_cluster_open(&c, &co)) ||
			    (rc = cohort_journal_open(&cx.j, c)))
				bench_die_lib("open", rc);
		} else {
			bench_open(&c, &cx.j, argv[optind], argv[optind + 1],
				   argv[optind + 2]);
		}
		cx.e = calloc((size_t)o.batch, sizeof(*cx.e));
		if (!cx.e)
			bench_die("out of memory");
		for (i = 0; i < o.batch; i++) {
			unsigned char *d = malloc((size_t)o.payload);

			if (!d)
				bench_die("out of memory");
			memset(d, (int)('a' + i % 26), (size_t)o.payload);
			cx.e[i].type = "bench";
			cx.e[i].data = d;
			cx.e[i].len = (size_t)o.payload;
		}
		/* Which lock layers guard each append on this mount. */
		snprintf(extra, sizeof(extra), "lock_mode=%s",
			 cohort_lock_mode_name(cohort_lock_mode_effective(c)));
		o.extra = extra;
		en.ctx = &cx;
		en.commit = cohort_commit;
		run(&en, &o);
		bench_close(c, cx.j);
		return 0;
	}
	if (argc - optind != 1)
		usage();
	if (!strcmp(mode, "plain")) {
		snprintf(px.path, sizeof(px.path), "%s/plain.dat", argv[optind]);
		px.fd = open(px.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			     0644);
		if (px.fd < 0)
			bench_die("open '%s': %s", px.path, strerror(errno));
		en.ctx = &px;
		en.commit = plain_commit;
		run(&en, &o);
		close(px.fd);
		return 0;
	}
	if (!strcmp(mode, "sqlite-delete") || !strcmp(mode, "sqlite-wal")) {
		sqlite_open(&sx, argv[optind], !strcmp(mode, "sqlite-wal"));
		en.ctx = &sx;
		en.commit = sqlite_commit;
		run(&en, &o);
		sqlite3_finalize(sx.ins);
		sqlite3_close(sx.db);
		return 0;
	}
	usage();
}
