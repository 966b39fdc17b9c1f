/*
 * lockcounter - a test helper that increments a shared counter under the
 * cluster lock "counter", for the mutual-exclusion tests on bindfs views
 * (tests/cluster/lock.sh).
 *
 *	lockcounter --root R --node N --state S --counter FILE --ledger FILE
 *	            --iterations K [--hold-ms M] [--pause-before-commit-ms M]
 *	            [--init] [--trace]
 *
 * Each iteration: take the lock; read the counter (decimal, missing = 0),
 * value V; write the fixed-width 32-byte line "slot V+1 pid P" at offset
 * V*32 of the ledger; sleep hold-ms, then pause-before-commit-ms; check the
 * lock (cohort_lock_check: if it was lost print "lost V+1" and exit 3,
 * before the commit point); replace the counter with V+1 (temp file in the
 * same folder, fsync, rename); release; print "done V+1".
 *
 * If the lock excludes, every "done" value is printed once, and the ledger
 * slot of each names the process that printed it.  A process killed at any
 * moment loses at most the one increment it was committing.
 *
 * Only the public API (cohort.h) is used for the lock; the counter and the
 * ledger use plain POSIX.  --init creates the cluster at the root first;
 * --trace logs each step with a wall-clock time in microseconds on stderr
 * (for a post-mortem of a failed run).
 * Exit: 0 done, 1 error, 2 usage, 3 lock lost before a commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cohort.h>

#define SLOT 32

static int tracing;

static void trace(const char *what, long v)
{
	struct timespec ts;

	if (!tracing)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "T %lld.%06ld %ld %s %ld\n", (long long)ts.tv_sec,
		ts.tv_nsec / 1000, (long)getpid(), what, v);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: lockcounter --root R --node N --state S --counter FILE "
		"--ledger FILE\n"
		"                   --iterations K [--hold-ms M] "
		"[--pause-before-commit-ms M] [--init] [--trace]\n");
	exit(2);
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "lockcounter[%ld]: %s: %s\n", (long)getpid(), what,
		detail);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long parse_num(const char *s, const char *opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0) {
		fprintf(stderr, "lockcounter: bad number for %s: '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

/* The counter's value; a missing file is 0. */
static long read_counter(const char *path)
{
	char buf[64];
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		die("cannot open counter", strerror(errno));
	}
	while (got < sizeof(buf) - 1) {
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("cannot read counter", strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	if (got == 0)
		die("counter file is empty", path);
	return parse_num(strtok(buf, "\n"), "counter file");
}

static void write_all(int fd, const char *buf, size_t len, off_t off,
		      const char *what)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(what, n < 0 ? strerror(errno) : "short write");
		buf += n;
		len -= (size_t)n;
		off += n;
	}
}

static void write_ledger(const char *path, long value)
{
	char line[SLOT + 1];
	int fd, n;

	memset(line, ' ', sizeof(line));
	n = snprintf(line, sizeof(line), "slot %ld pid %ld", value,
		     (long)getpid());
	if (n < 0 || n >= SLOT)
		die("ledger line too long", path);
	line[n] = ' ';
	line[SLOT - 1] = '\n';
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot open ledger", strerror(errno));
	write_all(fd, line, SLOT, (off_t)(value - 1) * SLOT, "cannot write ledger");
	if (close(fd) != 0)
		die("cannot close ledger", strerror(errno));
}

/* Replace the counter whole: temp file in the same folder, fsync, rename. */
static void write_counter(const char *path, long value)
{
	char tmp[PATH_MAX], text[32];
	int fd, n;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		die("counter path too long", path);
	n = snprintf(text, sizeof(text), "%ld\n", value);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot create counter temp file", strerror(errno));
	write_all(fd, text, (size_t)n, 0, "cannot write counter temp file");
	if (fsync(fd) != 0)
		die("cannot fsync counter temp file", strerror(errno));
	if (close(fd) != 0)
		die("cannot close counter temp file", strerror(errno));
	if (rename(tmp, path) != 0)
		die("cannot rename counter temp file", strerror(errno));
}

int main(int argc, char **argv)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	const char *counter = NULL, *ledger = NULL;
	long iterations = -1, hold_ms = 0, pause_ms = 0, i;
	int init = 0, rc;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--init")) {
			init = 1;
			continue;
		}
		if (!strcmp(a, "--trace")) {
			tracing = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(a, "--root"))
			o.root = argv[++i];
		else if (!strcmp(a, "--node"))
			o.node = argv[++i];
		else if (!strcmp(a, "--state"))
			o.state = argv[++i];
		else if (!strcmp(a, "--counter"))
			counter = argv[++i];
		else if (!strcmp(a, "--ledger"))
			ledger = argv[++i];
		else if (!strcmp(a, "--iterations"))
			iterations = parse_num(argv[++i], a);
		else if (!strcmp(a, "--hold-ms"))
			hold_ms = parse_num(argv[++i], a);
		else if (!strcmp(a, "--pause-before-commit-ms"))
			pause_ms = parse_num(argv[++i], a);
		else
			usage();
	}
	if (!o.root || !o.node || !o.state || !counter || !ledger ||
	    iterations < 0)
		usage();

	if (init) {
		char id[COHORT_UUID_LEN + 1];

		if (cohort_cluster_init(id, o.root) != 0)
			die("cannot init cluster", cohort_error_last());
	}
	if (cohort_cluster_open(&c, &o) != 0)
		die("cannot open cluster", cohort_error_last());

	for (i = 0; i < iterations; i++) {
		cohort_lock *l = NULL;
		long v;

		trace("acquire", i);
		rc = cohort_lock_acquire(&l, c, "counter", -1);
		if (rc != 0)
			die("cannot acquire lock 'counter'", cohort_error_last());
		trace("locked", i);
		v = read_counter(counter);
		trace("read", v);
		write_ledger(ledger, v + 1);
		sleep_ms(hold_ms);
		sleep_ms(pause_ms);
		if (cohort_lock_check(l) != 0) {
			fprintf(stderr, "lockcounter[%ld]: %s\n", (long)getpid(),
				cohort_error_last());
			printf("lost %ld\n", v + 1);
			fflush(stdout);
			(void)cohort_lock_release(l);
			cohort_cluster_close(c);
			return 3;
		}
		write_counter(counter, v + 1);
		trace("committed", v + 1);
		rc = cohort_lock_release(l);
		trace("released", v + 1);
		/* The commit happened: report it even if release complains. */
		printf("done %ld\n", v + 1);
		fflush(stdout);
		if (rc != 0)
			die("cannot release lock 'counter'", cohort_error_last());
	}
	cohort_cluster_close(c);
	return 0;
}
