/*
 * cohort/doctor.h - check that a root's filesystem and mount can carry
 * cohort safely, and say what to fix.
 *
 * The checks read /proc/self/mountinfo (filesystem type, NFS version,
 * options that break cohort's assumptions and the lock mode that follows),
 * then try the operations cohort relies on in a scratch folder under the
 * root (O_EXCL create, rename over an existing file, link, OFD locks,
 * directory fsync), measure the fsync rate, and compare this node's clock
 * with the file server's (the mtime of a file just written).  Everything is
 * removed afterwards.  With a peer check, two nodes running it at once find
 * out whether a lock taken on one excludes the other.
 */
#ifndef COHORT_DOCTOR_H
#define COHORT_DOCTOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cohort_doctor_level {
	COHORT_DOCTOR_OK = 0,
	COHORT_DOCTOR_NOTE,  /* worth knowing; nothing to fix */
	COHORT_DOCTOR_WARN,  /* works, but weaker or slower than it should */
	COHORT_DOCTOR_FAIL,  /* cohort cannot be safe here as it is */
} cohort_doctor_level;

typedef struct cohort_doctor_finding {
	const char *check;	/* short name: "fstype", "nolock", "rename" */
	cohort_doctor_level level;
	const char *detail;	/* what was seen */
	const char *fix;	/* what to do ("" when nothing) */
} cohort_doctor_finding;

typedef void (*cohort_doctor_fn)(const cohort_doctor_finding *f, void *arg);

typedef struct cohort_doctor_options {
	unsigned int version;
	const char *node;   /* for the peer check; NULL: the host name */
	int peer_check;	    /* wait up to peer_wait_ms for a second node */
	int peer_wait_ms;
	int fsync_samples;  /* how many fsyncs to time (0: 50) */
} cohort_doctor_options;

#define COHORT_DOCTOR_OPTIONS_VERSION 1
#define COHORT_DOCTOR_OPTIONS_INIT \
	{ COHORT_DOCTOR_OPTIONS_VERSION, NULL, 0, 30000, 0 }

/*
 * Check the filesystem of 'root' (which must exist; it need not hold a
 * cluster yet), calling 'fn' once per finding.  '*worst' gets the worst
 * level seen.  Returns 0 when the checks ran (whatever they found), an
 * error when they could not (the root is missing or not writable).
 */
int cohort_doctor_run(const char *root, const cohort_doctor_options *o,
		      cohort_doctor_fn fn, void *arg, cohort_doctor_level *worst);

#ifdef __cplusplus
}
#endif
#endif
