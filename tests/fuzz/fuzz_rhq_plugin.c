/* fuzz_rhq_plugin.c - rhq-plugin.xml (cohort__parse_rhq_plugin) through fuzz_meta(). */
#include "fuzz_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_meta(data, size, cohort__parse_rhq_plugin);
}
