/* replay.c - run a fuzz target's LLVMFuzzerTestOneInput over every file in
 * the folders (or files) named on the command line, with the normal
 * compiler: 'make test' replays the seed corpus so a regression fails.
 * Prints "N inputs"; a crash or sanitizer report fails the run. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			unsigned char *g;

			cap = cap ? 2 * cap : 4096;
			if (!(g = realloc(buf, cap))) {
				fclose(f);
				free(buf);
				fprintf(stderr, "%s: out of memory\n", path);
				return -1;
			}
			buf = g;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		perror(path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/* An exactly-sized copy, as libFuzzer passes it. */
	{
		unsigned char *exact = malloc(len ? len : 1);

		if (!exact) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, len);
		free(buf);
		(void)LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	unsigned long count = 0;
	int i, bad = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;
		struct dirent *e;
		char **names = NULL;
		size_t nnames = 0, k;
		DIR *d;

		if (stat(argv[i], &st)) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]))
				return 1;
			count++;
			continue;
		}
		if (!(d = opendir(argv[i]))) {
			perror(argv[i]);
			return 1;
		}
		while ((e = readdir(d))) {
			char **g;

			if (e->d_name[0] == '.')
				continue;
			if (!(g = realloc(names, (nnames + 1) * sizeof(*g))) ||
			    !(g[nnames] = strdup(e->d_name))) {
				fprintf(stderr, "out of memory\n");
				return 1;
			}
			names = g;
			nnames++;
		}
		closedir(d);
		if (nnames)
			qsort(names, nnames, sizeof(*names), cmp);
		for (k = 0; k < nnames; k++) {
			char path[4096];

			if ((size_t)snprintf(path, sizeof(path), "%s/%s", argv[i],
					     names[k]) >= sizeof(path) ||
			    stat(path, &st)) {
				fprintf(stderr, "%s/%s: cannot stat\n", argv[i],
					names[k]);
				bad = 1;
			} else if (S_ISREG(st.st_mode)) {
				if (run_file(path))
					bad = 1;
				else
					count++;
			}
			free(names[k]);
		}
		free(names);
	}
	printf("%lu inputs\n", count);
	return bad;
}
