/* fuzz_package_xml.c - package.xml (cohort__parse_package_xml) through fuzz_meta(). */
#include "fuzz_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_meta(data, size, cohort__parse_package_xml);
}
