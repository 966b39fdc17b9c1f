/* fuzz_manifest.c - MANIFEST.MF (cohort__parse_manifest), on a NUL-terminated copy of the
 * entry's bytes as the package reader hands it over. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cohort__pkg_meta m;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&m, 0, sizeof(m));
	(void)cohort__parse_manifest(&m, text, size);
	if (strnlen(m.id, sizeof(m.id)) == sizeof(m.id) ||
	    strnlen(m.version, sizeof(m.version)) == sizeof(m.version))
		abort();
	cohort__pkg_meta_free(&m);
	free(text);
	return 0;
}
