/*
 * bench_store - how fast the extension store installs and materializes,
 * and the baselines bench/run sets next to them.
 *
 *   bench_store install ROOT NODE STATE FILE...
 *	initialize ROOT if needed, join as NODE, and install every FILE with
 *	cohort_store_install, one after the other; only the installs are
 *	timed.  Prints "packages=N bytes=B seconds=T mb_s=M rate=N/T".
 *   bench_store materialize ROOT NODE STATE DIR
 *	open the cluster and the store and cohort_store_materialize DIR, then
 *	close: all of it timed (what 'cohort materialize DIR' does, without
 *	the exec).  Prints "added=A updated=U removed=R unchanged=N seconds=T".
 *   bench_store copy SRC DST
 *	the baseline of an install: read SRC and write DST in 1 MiB blocks,
 *	fsync DST and its folder (what 'cp SRC DST && sync DST' costs).
 *	Prints "bytes=B seconds=T mb_s=M".
 *   bench_store statdir DIR
 *	the baseline of a materialize that finds nothing to do: fstatat every
 *	entry of DIR.  Prints "files=N seconds=T".
 *   bench_store hash DIR
 *	the baseline of 'fsck --read-data': read every regular file under DIR
 *	(recursively) and XXH3-128 it.  Prints "files=N bytes=B seconds=T
 *	mb_s=M".
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "bench.h"

#define BUFSZ (1 << 20)

static void open_store(cohort_cluster **c, cohort_store **s, const char *root,
		       const char *node, const char *state, int join)
{
	cohort_options co = COHORT_OPTIONS_INIT;
	int rc;

	co.root = root;
	co.node = node;
	co.state = state;
	if ((rc = cohort_cluster_open(c, &co)))
		bench_die_lib("open cluster", rc);
	if (join && (rc = cohort_node_join(*c, NULL)))
		bench_die_lib("join", rc);
	if ((rc = cohort_store_open(s, *c)))
		bench_die_lib("open store", rc);
}

static void install(int argc, char **argv)
{
	char id[COHORT_UUID_LEN + 1];
	cohort_cluster *c = NULL;
	cohort_store *s = NULL;
	long long bytes = 0;
	int64_t t0, ns;
	double secs;
	int i, rc;

	if (argc < 6)
		bench_die("usage: bench_store install ROOT NODE STATE FILE...");
	if ((rc = cohort_cluster_init(id, argv[2])))
		bench_die_lib("init", rc);
	open_store(&c, &s, argv[2], argv[3], argv[4], 1);
	t0 = bench_now_ns();
	for (i = 5; i < argc; i++) {
		cohort_install_options io = COHORT_INSTALL_OPTIONS_INIT;
		cohort_package p;

		memset(&p, 0, sizeof(p));
		if ((rc = cohort_store_install(s, argv[i], &io, &p)))
			bench_die_lib(argv[i], rc);
		bytes += (long long)p.size;
		cohort_package_clear(&p);
	}
	ns = bench_now_ns() - t0;
	secs = (double)ns / 1e9;
	printf("packages=%d bytes=%lld seconds=%.6f mb_s=%.1f rate=%.1f\n",
	       argc - 5, bytes, secs, (double)bytes / 1e6 / secs,
	       (argc - 5) / secs);
	cohort_store_close(s);
	cohort_cluster_close(c);
}

static void materialize(int argc, char **argv)
{
	cohort_materialize_stats st;
	cohort_cluster *c = NULL;
	cohort_store *s = NULL;
	int64_t t0, ns;
	int rc;

	if (argc != 6)
		bench_die("usage: bench_store materialize ROOT NODE STATE DIR");
	t0 = bench_now_ns();
	open_store(&c, &s, argv[2], argv[3], argv[4], 0);
	if ((rc = cohort_store_materialize(s, argv[5], NULL, &st)))
		bench_die_lib("materialize", rc);
	cohort_store_close(s);
	cohort_cluster_close(c);
	ns = bench_now_ns() - t0;
	printf("added=%lu updated=%lu removed=%lu unchanged=%lu seconds=%.6f\n",
	       st.added, st.updated, st.removed, st.unchanged, (double)ns / 1e9);
}

static void copy(int argc, char **argv)
{
	char *buf, dir[4096];
	long long bytes = 0;
	int64_t t0, ns;
	int in, out, dfd;
	ssize_t n;

	if (argc != 4)
		bench_die("usage: bench_store copy SRC DST");
	if (!(buf = malloc(BUFSZ)))
		bench_die("out of memory");
	t0 = bench_now_ns();
	if ((in = open(argv[2], O_RDONLY)) < 0)
		bench_die("open '%s': %s", argv[2], strerror(errno));
	if ((out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		bench_die("open '%s': %s", argv[3], strerror(errno));
	while ((n = read(in, buf, BUFSZ)) > 0) {
		ssize_t off = 0;

		while (off < n) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			if (w < 0)
				bench_die("write '%s': %s", argv[3], strerror(errno));
			off += w;
		}
		bytes += n;
	}
	if (n < 0)
		bench_die("read '%s': %s", argv[2], strerror(errno));
	if (fsync(out) != 0 || close(out) != 0)
		bench_die("fsync '%s': %s", argv[3], strerror(errno));
	close(in);
	snprintf(dir, sizeof(dir), "%s", argv[3]);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	ns = bench_now_ns() - t0;
	printf("bytes=%lld seconds=%.6f mb_s=%.1f\n", bytes, (double)ns / 1e9,
	       (double)bytes / 1e6 / ((double)ns / 1e9));
	free(buf);
}

static void statdir(int argc, char **argv)
{
	struct dirent *e;
	struct stat sb;
	long long files = 0;
	int64_t t0, ns;
	DIR *d;

	if (argc != 3)
		bench_die("usage: bench_store statdir DIR");
	t0 = bench_now_ns();
	if (!(d = opendir(argv[2])))
		bench_die("opendir '%s': %s", argv[2], strerror(errno));
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			bench_die("stat '%s': %s", e->d_name, strerror(errno));
		files++;
	}
	closedir(d);
	ns = bench_now_ns() - t0;
	printf("files=%lld seconds=%.6f\n", files, (double)ns / 1e9);
}

static long long hfiles, hbytes;

static void hash_tree(const char *path, char *buf)
{
	struct dirent *e;
	DIR *d;

	if (!(d = opendir(path)))
		bench_die("opendir '%s': %s", path, strerror(errno));
	while ((e = readdir(d))) {
		char sub[4096];
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &sb) != 0)
			bench_die("stat '%s': %s", sub, strerror(errno));
		if (S_ISDIR(sb.st_mode)) {
			hash_tree(sub, buf);
		} else if (S_ISREG(sb.st_mode)) {
			XXH3_state_t *h = XXH3_createState();
			volatile XXH128_hash_t r;
			ssize_t n;
			int fd;

			if (!h || (fd = open(sub, O_RDONLY)) < 0)
				bench_die("open '%s': %s", sub, strerror(errno));
			XXH3_128bits_reset(h);
			while ((n = read(fd, buf, BUFSZ)) > 0) {
				XXH3_128bits_update(h, buf, (size_t)n);
				hbytes += n;
			}
			if (n < 0)
				bench_die("read '%s': %s", sub, strerror(errno));
			r = XXH3_128bits_digest(h);
			(void)r;
			XXH3_freeState(h);
			close(fd);
			hfiles++;
		}
	}
	closedir(d);
}

static void hash(int argc, char **argv)
{
	int64_t t0, ns;
	char *buf;

	if (argc != 3)
		bench_die("usage: bench_store hash DIR");
	if (!(buf = malloc(BUFSZ)))
		bench_die("out of memory");
	t0 = bench_now_ns();
	hash_tree(argv[2], buf);
	ns = bench_now_ns() - t0;
	printf("files=%lld bytes=%lld seconds=%.6f mb_s=%.1f\n", hfiles, hbytes,
	       (double)ns / 1e9, (double)hbytes / 1e6 / ((double)ns / 1e9));
	free(buf);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		bench_die("usage: bench_store install|materialize|copy|statdir|hash ...");
	if (!strcmp(argv[1], "install"))
		install(argc, argv);
	else if (!strcmp(argv[1], "materialize"))
		materialize(argc, argv);
	else if (!strcmp(argv[1], "copy"))
		copy(argc, argv);
	else if (!strcmp(argv[1], "statdir"))
		statdir(argc, argv);
	else if (!strcmp(argv[1], "hash"))
		hash(argc, argv);
	else
		bench_die("unknown command '%s'", argv[1]);
	return 0;
}
