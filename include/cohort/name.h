/*
 * cohort/name.h - the names callers give that become file names on the
 * root or in a state folder ('nodes/ID/', 'jobs/NAME', 'locks/NAME.lease',
 * 'ID-VERSION.EXT' in a materialized folder) or fields of records and
 * line-based files.  One rule per kind, checked by every library function
 * that takes such a name before it touches anything, and by the tool
 * before it opens the cluster.
 *
 * Every rule is a whitelist of ASCII bytes, so a valid name cannot leave
 * its folder ('/', ".."), hide as a dot file or a temporary file (leading
 * '.'), pass for an option on a command line (leading '-'), end or split a
 * line (control characters), or be read differently by another charset
 * (bytes over 0x7f).  Lengths keep every file name cohort derives from a
 * name within NAME_MAX.
 */
#ifndef COHORT_NAME_H
#define COHORT_NAME_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cohort_name_kind {
	/* 1-64 of A-Za-z0-9._- not starting with '.' or '-' */
	COHORT_NAME_NODE = 0,	/* a node id */
	COHORT_NAME_LOCK,	/* a cluster lock */
	COHORT_NAME_TYPE,	/* a journal record type */
	/* the same, 1-60 (its lock is 'job.NAME'), and not "clock" */
	COHORT_NAME_JOB,	/* a run-once job */
	/* 1-255 of A-Za-z0-9._:+~@- not starting with '.' or '-', no ".." */
	COHORT_NAME_NAMESPACE,	/* a store namespace */
	COHORT_NAME_PACKAGE,	/* a package id ("org.xwiki.contrib:foo") */
	/* the same, 1-127 */
	COHORT_NAME_VERSION,	/* a package version */
} cohort_name_kind;

/*
 * 0 when 's' is a valid name of 'kind'; else COHORT_EINVAL with a message
 * that names the kind, shows the value (control and non-ASCII bytes as
 * \xNN, cut after 64 bytes) and says what is wrong with it and what the
 * rule is: "bad namespace '../x': it holds '/' (use 1-255 of ...)".
 * A NULL 's' is refused too.
 */
int cohort_name_check(cohort_name_kind kind, const char *s);

#ifdef __cplusplus
}
#endif
#endif
