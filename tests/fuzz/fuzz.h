/* fuzz.h - the libFuzzer entry point every tests/fuzz/fuzz_*.c defines;
 * built with clang -fsanitize=fuzzer by 'make fuzz', and linked with
 * replay.c by 'make test' to replay the seed corpus. */
#ifndef COHORT_FUZZ_H
#define COHORT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
