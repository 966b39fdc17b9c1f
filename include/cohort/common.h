/*
 * cohort/common.h - error codes, the per-thread error message, version.
 *
 * Every function of the library returns 0 (or a non-negative count) on
 * success and one of the negative COHORT_E* codes below on failure.  The
 * message that goes with the last failure of the calling thread, naming the
 * path and the system error, is read with cohort_error_last().
 */
#ifndef COHORT_COMMON_H
#define COHORT_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

#define COHORT_VERSION "0.1.0"
/* Version of the on-disk format written by this library (cohort.id). */
#define COHORT_FORMAT_VERSION 1

enum cohort_error {
	COHORT_OK = 0,
	COHORT_ERROR = -1,	 /* anything callers do not act on */
	COHORT_ENOTFOUND = -2,	 /* no such cluster, node, record, package */
	COHORT_EEXISTS = -3,	 /* already exists / claimed by someone else */
	COHORT_ELOCKED = -4,	 /* a lock is held by someone else, or lost */
	COHORT_ECORRUPT = -5,	 /* bytes on the shared root failed verification */
	COHORT_EREADONLY = -6,	 /* this node is read-only */
	COHORT_ESTALE = -7,	 /* a handle went stale and retries ran out */
	COHORT_ENOSPACE = -8,	 /* ENOSPC or EDQUOT */
	COHORT_EINVAL = -9,	 /* bad argument or bad input */
	COHORT_EBEHIND = -10,	 /* node is behind the oldest retained record */
	COHORT_ELOST = -11,	 /* the next record to apply was lost (fsck) */
};

/*
 * The message of the calling thread's last error, e.g.
 * "cannot rename 'a' to 'b': No space left on device".  Borrowed; valid
 * until the next failing call on this thread.  Never NULL.
 */
const char *cohort_error_last(void);

/* A short name for an error code ("ECORRUPT"); static string. */
const char *cohort_error_name(int code);

#ifdef __cplusplus
}
#endif
#endif
