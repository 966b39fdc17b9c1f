/*
 * name.h - the rules for names (internal side; the rules themselves are
 * described in cohort/name.h).  cohort__name_valid() (cluster.h) and
 * cohort__pkg_name_valid() (package.h) are defined in name.c too, so that
 * every rule lives in one place.
 */
#ifndef COHORT_NAME_INT_H
#define COHORT_NAME_INT_H

#include <stddef.h>

#include "cohort/name.h"

/*
 * Why 's' is not a valid name of 'kind' ("it holds '/'"): a static string
 * or 'buf'; NULL when it is valid.  Touches no error slot (for listings
 * that skip foreign names).
 */
const char *cohort__name_why(char *buf, size_t size, cohort_name_kind kind,
			     const char *s);

/* Room for cohort__name_show(): 64 bytes shown as \xNN, and "...". */
#define COHORT__NAME_SHOW 264

/*
 * 's' fit for a one-line message: control bytes and bytes over 0x7f as
 * \xNN, cut after 64 bytes with "...".  Returns 'buf'.
 */
const char *cohort__name_show(char buf[COHORT__NAME_SHOW], const char *s);

#endif
