/* fuzz_seg.c - a journal segment's 64-byte header
 * (cohort__seg_header_check, input cut or zero-padded to 64 bytes),
 * against the segment number it claims and, for longer inputs, against
 * the number in the input's last 8 bytes. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "journal_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *hdr;
	uint64_t first, no;

	hdr = calloc(1, JSEG_HDR);
	if (!hdr)
		return 0;
	memcpy(hdr, data, size < JSEG_HDR ? size : JSEG_HDR);
	no = cohort__get64(hdr + 8);
	(void)cohort__seg_header_check(hdr, no, &first);
	if (size >= JSEG_HDR + 8) {
		no = cohort__get64(data + size - 8);
		(void)cohort__seg_header_check(hdr, no, &first);
	}
	free(hdr);
	return 0;
}
