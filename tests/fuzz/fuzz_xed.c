/* fuzz_xed.c - extension.xed (cohort__parse_xed) through fuzz_meta(). */
#include "fuzz_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_meta(data, size, cohort__parse_xed);
}
