/* fuzz_meta.h - the one body of the metadata targets (fuzz_manifest,
 * fuzz_xed, fuzz_package_xml, fuzz_rhq_plugin): the parser gets a
 * NUL-terminated copy of the entry's bytes as the package reader hands it
 * over, and whatever it returns, id and version stay NUL-terminated. */
#ifndef COHORT_FUZZ_META_H
#define COHORT_FUZZ_META_H

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "package.h"

typedef int (*fuzz_meta_parser)(struct cohort__pkg_meta *m, const char *text,
				size_t len);

static inline int fuzz_meta(const uint8_t *data, size_t size,
			    fuzz_meta_parser parse)
{
	struct cohort__pkg_meta m;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&m, 0, sizeof(m));
	(void)parse(&m, text, size);
	if (strnlen(m.id, sizeof(m.id)) == sizeof(m.id) ||
	    strnlen(m.version, sizeof(m.version)) == sizeof(m.version))
		abort();
	cohort__pkg_meta_free(&m);
	free(text);
	return 0;
}

#endif
