/*
 * cohort/job.h - cluster-wide jobs that run on exactly one node per period
 * ('cohort run-once'): the janitor from every node's cron, a harvester.
 *
 * Calling sequence:
 *
 *	cohort_job *job;
 *	rc = cohort_job_begin(&job, c, "harvest", 15 * 60 * 1000);
 *	if (rc == COHORT_EEXISTS) -> skipped (cohort_error_last() says why)
 *	... run it ...
 *	cohort_job_end(job, exit_status);
 *
 * The job holds the cluster lock 'job.NAME' (lease and fcntl, as every
 * cluster lock) while it runs, so two nodes never run it at once; a node
 * killed while running it stops holding it once its lease lapses.  The
 * period is judged by the file server's clock (the mtime of a file just
 * created), never by comparing node clocks: period = server time / every.
 * 'jobs/NAME' on the root records the last run (node, period, start, end,
 * exit status); a run that started in the current period, finished or not,
 * makes the others skip it for that period.
 */
#ifndef COHORT_JOB_H
#define COHORT_JOB_H

#include <stdint.h>

#include "cluster.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cohort_job cohort_job;

/*
 * Take the job NAME for this period ('every_ms' 0: no period, only mutual
 * exclusion).  COHORT_EEXISTS when another node runs it now or it already
 * ran this period (the message says which and where).  Needs a node id.
 * COHORT_EINVAL for a NAME that fails cohort_name_check(COHORT_NAME_JOB).
 */
int cohort_job_begin(cohort_job **out, cohort_cluster *c, const char *name,
		     int64_t every_ms);

/* Record the end with the command's exit status and release; frees. */
int cohort_job_end(cohort_job *job, int status);

typedef struct cohort_job_info {
	char name[COHORT_NODE_ID_MAX + 1];
	char node[COHORT_NODE_ID_MAX + 1];
	int64_t start_ms;  /* server time */
	int64_t end_ms;	   /* 0 while running (or if the runner died) */
	int status;	   /* exit status; -1 unknown */
	int64_t period;
} cohort_job_info;

/* Last runs of every job; '*out' freed with free(). */
int cohort_job_list(cohort_job_info **out, size_t *count, cohort_cluster *c);

#ifdef __cplusplus
}
#endif
#endif
