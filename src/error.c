/* error.c - the per-thread error slot. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

#define MSG_MAX 1024

static _Thread_local char slot[MSG_MAX];

const char *cohort_error_last(void)
{
	return slot[0] ? slot : "no error";
}

const char *cohort_error_name(int code)
{
	switch (code) {
	case COHORT_OK: return "OK";
	case COHORT_ERROR: return "ERROR";
	case COHORT_ENOTFOUND: return "ENOTFOUND";
	case COHORT_EEXISTS: return "EEXISTS";
	case COHORT_ELOCKED: return "ELOCKED";
	case COHORT_ECORRUPT: return "ECORRUPT";
	case COHORT_EREADONLY: return "EREADONLY";
	case COHORT_ESTALE: return "ESTALE";
	case COHORT_ENOSPACE: return "ENOSPACE";
	case COHORT_EINVAL: return "EINVAL";
	case COHORT_EBEHIND: return "EBEHIND";
	case COHORT_ELOST: return "ELOST";
	default: return "EUNKNOWN";
	}
}

int cohort__error(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(slot, sizeof(slot), fmt, ap);
	va_end(ap);
	return code;
}

int cohort__error_sys(int code, int e, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(slot, sizeof(slot), fmt, ap);
	va_end(ap);
	n = strlen(slot);
	if (n < sizeof(slot))
		snprintf(slot + n, sizeof(slot) - n, ": %s", strerror(e));
	return code;
}

int cohort__error_wrap(int code, const char *fmt, ...)
{
	char old[MSG_MAX];
	va_list ap;
	size_t n;

	memcpy(old, slot, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(slot, sizeof(slot), fmt, ap);
	va_end(ap);
	n = strlen(slot);
	if (old[0] && n + 2 < sizeof(slot)) {
		/* Truncation of a long message is fine: copy what fits. */
		size_t room = sizeof(slot) - n - 2, ol = strlen(old);

		memcpy(slot + n, ": ", 2);
		if (ol > room - 1)
			ol = room - 1;
		memcpy(slot + n + 2, old, ol);
		slot[n + 2 + ol] = '\0';
	}
	return code;
}

void cohort__error_clear(void)
{
	slot[0] = '\0';
}
