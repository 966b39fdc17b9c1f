/* error.h - the per-thread error slot (internal). */
#ifndef COHORT_ERROR_H
#define COHORT_ERROR_H

#include "cohort/common.h"

#if defined(__GNUC__)
#define COHORT__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define COHORT__PRINTF(a, b)
#endif

/* Set the message and return 'code', so "return cohort__error(...)". */
int cohort__error(int code, const char *fmt, ...) COHORT__PRINTF(2, 3);
/* Same, appending ": strerror(e)". */
int cohort__error_sys(int code, int e, const char *fmt, ...)
	COHORT__PRINTF(3, 4);
/* Prefix the current message with more context: "ctx: old". */
int cohort__error_wrap(int code, const char *fmt, ...) COHORT__PRINTF(2, 3);
void cohort__error_clear(void);

#endif
