/* fuzz_revision.c - a node's revision file (cohort__revision_parse), on a
 * NUL-terminated copy as the reader gets it from cohort__os_read_file. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "journal_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	uint64_t rev;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)cohort__revision_parse(&rev, text, size);
	free(text);
	return 0;
}
