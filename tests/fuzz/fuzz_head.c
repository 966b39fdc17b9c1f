/* fuzz_head.c - the journal head file (cohort__head_decode): the bytes as
 * they are, and fitted to the head's 128 bytes (cut or zero-padded) so the
 * slots themselves are exercised. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "journal_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cohort__head h;
	unsigned char *b;

	(void)cohort__head_decode(&h, data, size);
	b = calloc(1, JHEAD_SIZE);
	if (!b)
		return 0;
	memcpy(b, data, size < JHEAD_SIZE ? size : JHEAD_SIZE);
	if (cohort__head_decode(&h, b, JHEAD_SIZE) == 0) {
		unsigned char slot[JHEAD_SLOT];
		struct cohort__head h2;

		/* A decoded slot encodes back to a valid slot. */
		cohort__head_encode(slot, &h);
		memset(b, 0, JHEAD_SIZE);
		memcpy(b, slot, JHEAD_SLOT);
		if (cohort__head_decode(&h2, b, JHEAD_SIZE) ||
		    memcmp(&h, &h2, sizeof(h)))
			abort();
	}
	free(b);
	return 0;
}
