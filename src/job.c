/*
 * job.c - run-once jobs: a cluster lock per job and a record of the last
 * run on the root.  The protocol is at the top of cohort/job.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cohort/job.h"
#include "cohort/lock.h"
#include "os/os.h"

struct cohort_job {
	cohort_cluster *c;
	cohort_lock *lock;
	char path[PATH_MAX];
	cohort_job_info info;
};

static int job_read(cohort_job_info *ji, const char *path)
{
	char *text = NULL, val[64];
	size_t len;
	int rc;

	memset(ji, 0, sizeof(*ji));
	rc = cohort__os_read_file(&text, &len, path, 4096);
	if (rc)
		return rc;
	if (strncmp(text, "cohort-job 1\n", 13) ||
	    cohort__kv_get(text, "node", ji->node, sizeof(ji->node)) ||
	    cohort__kv_get(text, "start", val, sizeof(val))) {
		free(text);
		return cohort__error(COHORT_ECORRUPT, "job record '%s' is damaged",
				     path);
	}
	ji->start_ms = strtoll(val, NULL, 10);
	ji->end_ms = cohort__kv_get(text, "end", val, sizeof(val)) ? 0 :
		     strtoll(val, NULL, 10);
	ji->status = cohort__kv_get(text, "status", val, sizeof(val)) ? -1 :
		     atoi(val);
	ji->period = cohort__kv_get(text, "period", val, sizeof(val)) ? -1 :
		     strtoll(val, NULL, 10);
	free(text);
	return 0;
}

static int job_write(cohort_job *job)
{
	char text[512];
	int n;

	n = snprintf(text, sizeof(text),
		     "cohort-job 1\nnode %s\nperiod %lld\nstart %lld\n",
		     job->info.node, (long long)job->info.period,
		     (long long)job->info.start_ms);
	if (job->info.end_ms)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "end %lld\nstatus %d\n", (long long)job->info.end_ms,
			      job->info.status);
	return cohort__os_write_atomic(job->path, text, (size_t)n,
				       cohort__file_mode(job->c), job->c->node);
}

/* The file server's clock in ms (never a node's). */
static int server_now_ms(int64_t *out, cohort_cluster *c)
{
	int64_t ns = 0;
	int rc = cohort__server_now_ns(&ns, c, "jobs");

	if (!rc)
		*out = ns / 1000000;
	return rc;
}

int cohort_job_begin(cohort_job **out, cohort_cluster *c, const char *name,
		     int64_t every_ms)
{
	char lockname[COHORT_NODE_ID_MAX + 8], dir[PATH_MAX];
	cohort_job_info last;
	cohort_job *job;
	int64_t now = 0;
	int rc;

	*out = NULL;
	if ((rc = cohort__need_node(c)))
		return rc;
	if ((rc = cohort_name_check(COHORT_NAME_JOB, name)))
		return rc;
	if (every_ms < 0)
		return cohort__error(COHORT_EINVAL, "bad period");
	job = calloc(1, sizeof(*job));
	if (!job)
		return cohort__error(COHORT_ERROR, "out of memory");
	job->c = c;
	if ((rc = cohort__root_path(dir, sizeof(dir), c, "jobs")) ||
	    (rc = cohort__os_mkdir(dir, cohort__dir_mode(c))) ||
	    (rc = cohort__root_path(job->path, sizeof(job->path), c, "jobs/%s",
				    name)))
		goto fail;
	snprintf(lockname, sizeof(lockname), "job.%s", name);
	rc = cohort_lock_acquire(&job->lock, c, lockname, 0);
	if (rc == COHORT_ELOCKED) {
		rc = job_read(&last, job->path);
		cohort__error(COHORT_EEXISTS, "job '%s' is running on node '%s'",
			      name, rc == 0 ? last.node : "?");
		rc = COHORT_EEXISTS;
		goto fail;
	}
	if (rc || (rc = server_now_ms(&now, c)))
		goto fail;
	snprintf(job->info.name, sizeof(job->info.name), "%s", name);
	snprintf(job->info.node, sizeof(job->info.node), "%s", c->node);
	job->info.start_ms = now;
	job->info.period = every_ms ? now / every_ms : -1;
	job->info.status = -1;
	rc = job_read(&last, job->path);
	if (rc == 0 && every_ms && last.period == job->info.period) {
		rc = cohort__error(COHORT_EEXISTS,
				   "job '%s' already ran this period on node '%s'%s",
				   name, last.node,
				   last.end_ms ? "" : " (it did not finish)");
		goto fail;
	}
	if (rc && rc != COHORT_ENOTFOUND && rc != COHORT_ECORRUPT)
		goto fail;
	cohort__error_clear();
	/* Record the start before running: a runner that dies still used
	 * up its period. */
	if ((rc = cohort_lock_check(job->lock)) || (rc = job_write(job)))
		goto fail;
	*out = job;
	return 0;
fail:
	(void)cohort_lock_release(job->lock);
	free(job);
	return rc;
}

int cohort_job_end(cohort_job *job, int status)
{
	int rc, r2;

	if (!job)
		return 0;
	if (server_now_ms(&job->info.end_ms, job->c))
		job->info.end_ms = job->info.start_ms + 1;
	job->info.status = status;
	rc = cohort_lock_check(job->lock);
	if (!rc)
		rc = job_write(job);
	r2 = cohort_lock_release(job->lock);
	free(job);
	return rc ? rc : r2;
}

int cohort_job_list(cohort_job_info **out, size_t *count, cohort_cluster *c)
{
	char dir[PATH_MAX], path[PATH_MAX];
	cohort_job_info *v = NULL, *g;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc;

	*out = NULL;
	*count = 0;
	if ((rc = cohort__root_path(dir, sizeof(dir), c, "jobs")))
		return rc;
	d = cohort__os_opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 :
			cohort__error_sys(COHORT_ERROR, errno, "cannot list '%s'",
					  dir);
	while ((de = readdir(d))) {
		cohort_job_info ji;

		if (!cohort__name_valid(de->d_name) || !strcmp(de->d_name, "clock"))
			continue;
		if (snprintf(path, sizeof(path), "%s/%.64s", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (job_read(&ji, path))
			continue;
		snprintf(ji.name, sizeof(ji.name), "%.64s", de->d_name);
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			g = realloc(v, cap * sizeof(*v));
			if (!g) {
				closedir(d);
				free(v);
				return cohort__error(COHORT_ERROR, "out of memory");
			}
			v = g;
		}
		v[n++] = ji;
	}
	closedir(d);
	cohort__error_clear();
	*out = v;
	*count = n;
	return 0;
}
