/* fuzz_config.c - cohort.conf (cohort__config_load): the bytes are written
 * to a temporary file, loaded over the defaults, and every key read back. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char path[4096];

static void cleanup(void)
{
	if (path[0])
		unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cohort__config cfg;
	size_t off = 0;
	unsigned int i;
	int fd;

	if (!path[0]) {
		const char *tmp = getenv("TMPDIR");

		if (!tmp || !*tmp)
			tmp = "/tmp";
		if ((size_t)snprintf(path, sizeof(path), "%s/fuzz-conf-XXXXXX",
				     tmp) >= sizeof(path))
			abort();
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		atexit(cleanup);
	} else {
		fd = open(path, O_WRONLY | O_TRUNC);
		if (fd < 0)
			abort();
	}
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	close(fd);

	cohort__config_init(&cfg);
	(void)cohort__config_load(&cfg, path);
	for (i = 0; i < cohort__nkeys; i++) {
		const char *s = cohort__config_str(&cfg, cohort__keys[i].section,
						   cohort__keys[i].key);

		if (s)
			(void)strlen(s);
		(void)cohort__config_num(&cfg, cohort__keys[i].section,
					 cohort__keys[i].key);
	}
	cohort__config_free(&cfg);
	return 0;
}
