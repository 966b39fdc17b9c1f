/* fuzz_pkg.c - a whole package through the store's validation
 * (cohort__pkg_inspect): the bytes in a memfd, read as "fuzz.jar". */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cohort__pkg_meta m;
	size_t off = 0, i;
	int fd = memfd_create("fuzz-pkg", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort(); /* read from offset 0 */
	memset(&m, 0, sizeof(m));
	if (cohort__pkg_inspect(&m, fd, "fuzz.jar", NULL, NULL) == 0) {
		if (m.bytes != size)
			abort(); /* every byte passes once */
		for (i = 0; i < m.ndeps; i++)
			if (!cohort__pkg_name_valid(m.deps[i],
						    COHORT__PKG_ID_MAX))
				abort();
	}
	cohort__pkg_meta_free(&m);
	close(fd);
	return 0;
}
