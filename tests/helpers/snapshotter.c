/*
 * snapshotter - a test helper that renames copies of the store's index
 * snapshot over it in a loop, for the cluster tests (tests/cluster/fsck.sh):
 * it makes the rename over 'store/index' (which the janitor and installs
 * do once in a while) so frequent that a check-only fsck that can be
 * misled by meeting one half-way is misled in nearly every run.
 *
 *	snapshotter --root R --node N --state S --until FILE
 *
 * First it writes a snapshot the way the janitor does (there may be none
 * yet).  Then, until FILE exists: take the store lock (every writer of the snapshot
 * holds it, so the bytes copied are the current ones), rename fresh
 * copies of 'store/index' over it for 250 ms, release the lock, let the
 * other writers in for 25 ms.  Prints the number of renames.  Exit 1 when
 * something fails (the message on stderr), 2 on a usage error.
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

#include "store_gc.h"

static void usage(void)
{
	fprintf(stderr, "usage: snapshotter --root R --node N --state S "
		"--until FILE\n");
	exit(2);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Rename copies of 'path' over it for 'ms'; renames done, or -1. */
static long burst(const char *path, const char *tmp, int ms)
{
	static char buf[1 << 20];
	long long end = now_ms() + ms;
	ssize_t len;
	long n = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1; /* none yet */
	len = read(fd, buf, sizeof(buf));
	close(fd);
	if (len < 0)
		return -1;
	while (now_ms() < end) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, buf, (size_t)len) != len ||
		    close(fd) != 0 || rename(tmp, path) != 0)
			return -1;
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	uint64_t rev;
	char path[PATH_MAX], tmp[PATH_MAX + 64];
	const char *until = NULL;
	long total = 0;
	int i;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--root"))
			o.root = argv[i + 1];
		else if (!strcmp(argv[i], "--node"))
			o.node = argv[i + 1];
		else if (!strcmp(argv[i], "--state"))
			o.state = argv[i + 1];
		else if (!strcmp(argv[i], "--until"))
			until = argv[i + 1];
		else
			usage();
	}
	if (i != argc || !o.root || !o.node || !o.state || !until)
		usage();
	snprintf(path, sizeof(path), "%s/store/index", o.root);
	/* A temporary name fsck passes over while it is young. */
	snprintf(tmp, sizeof(tmp), "%s/store/.index.tmp.snapshotter.%ld", o.root,
		 (long)getpid());
	if (cohort_cluster_open(&c, &o) || cohort_store_open(&st, c) ||
	    cohort__store_snapshot_now(st, &rev)) {
		fprintf(stderr, "snapshotter: %s\n", cohort_error_last());
		cohort_store_close(st);
		cohort_cluster_close(c);
		return 1;
	}
	cohort_store_close(st);
	while (access(until, F_OK) != 0) {
		cohort_lock *l = NULL;
		long n;

		if (cohort_lock_acquire(&l, c, "store", -1)) {
			fprintf(stderr, "snapshotter: %s\n", cohort_error_last());
			break;
		}
		n = burst(path, tmp, 250);
		if (n < 0)
			fprintf(stderr, "snapshotter: '%s': %s\n", path,
				strerror(errno));
		if (cohort_lock_release(l)) {
			fprintf(stderr, "snapshotter: %s\n", cohort_error_last());
			break;
		}
		if (n < 0)
			break;
		total += n;
		usleep(25 * 1000);
	}
	printf("%ld\n", total);
	cohort_cluster_close(c);
	return access(until, F_OK) == 0 ? 0 : 1;
}
