/*
 * lock_state.c - what a cluster handle keeps for its locks: the lock mode
 * ([cluster] lock_mode; 'auto' resolved from the mount options), the lock
 * files it keeps open, and when it yields a lock to waiters (fairness).
 * The locking protocol is in lock.c and cohort/lock.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cohort/lock.h"
#include "lock_state.h"
#include "os/os.h"

/* ---- the mode ----------------------------------------------------------- */

static int has_option(const char *opts, const char *name)
{
	size_t nl = strlen(name);
	const char *p = opts;

	while (p && *p) {
		size_t l = strcspn(p, ",");

		if (l >= nl && !strncmp(p, name, nl) &&
		    (l == nl || p[nl] == '='))
			return 1;
		p += l + (p[l] == ',');
	}
	return 0;
}

static cohort_lock_mode resolve_lock_mode(const cohort_cluster *c)
{
	const char *m = cohort__config_str(&c->cfg, "cluster", "lock_mode");
	cohort_lock_mode mode;

	if (!strcmp(m, "fcntl"))
		mode = COHORT_LOCK_FCNTL;
	else if (!strcmp(m, "lease"))
		mode = COHORT_LOCK_LEASE;
	else if (!strcmp(m, "both"))
		mode = COHORT_LOCK_BOTH;
	else if (has_option(c->mntopts, "nolock") ||
		 has_option(c->mntopts, "local_lock"))
		/* NFS fact 7: fcntl locks exclude only this client here. */
		mode = COHORT_LOCK_LEASE;
	else
		mode = COHORT_LOCK_BOTH;
	if (!strcmp(m, "auto") && has_option(c->mntopts, "local_lock") &&
	    strstr(c->mntopts, "local_lock=none"))
		mode = COHORT_LOCK_BOTH;
	return mode;
}

const char *cohort_lock_mode_name(cohort_lock_mode m)
{
	switch (m) {
	case COHORT_LOCK_FCNTL: return "fcntl";
	case COHORT_LOCK_LEASE: return "lease";
	case COHORT_LOCK_BOTH: return "both";
	default: return "auto";
	}
}

cohort_lock_mode cohort_lock_mode_effective(cohort_cluster *c)
{
	struct cohort__lock_state *s = cohort__lock_state(c);

	if (!s) {
		cohort__error_clear();
		return resolve_lock_mode(c);
	}
	return s->mode;
}

/* ---- the handle's lock state ------------------------------------------- */

static void *state_make(cohort_cluster *c)
{
	struct cohort__lock_state *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s) {
		cohort__error(COHORT_ERROR, "out of memory");
		return NULL;
	}
	s->c = c;
	s->mode = resolve_lock_mode(c);
	pthread_mutex_init(&s->ofd_mu, NULL);
	pthread_mutex_init(&s->ref_mu, NULL);
	/* The refresher sleeps on the monotonic clock: a wall clock step
	 * must not make it miss (or rush) refreshes. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->ref_cv, &ca);
	pthread_condattr_destroy(&ca);
	return s;
}

static void state_drop(cohort_cluster *c, void *state)
{
	struct cohort__lock_state *s = state;
	unsigned int i;

	(void)c;
	cohort__lock_refresher_stop(s);
	pthread_mutex_destroy(&s->ref_mu);
	pthread_cond_destroy(&s->ref_cv);
	for (i = 0; i < s->nofd; i++)
		cohort__os_close_quiet(s->ofd[i].fd);
	pthread_mutex_destroy(&s->ofd_mu);
	free(s);
}

struct cohort__lock_state *cohort__lock_state(cohort_cluster *c)
{
	return cohort__slot(c, COHORT__SLOT_LOCK, state_make, state_drop);
}

/* ---- lock files and fairness -------------------------------------------- */

int cohort__lock_file_fd(struct cohort__lock_state *s, const char *name,
			 const char *path, int *owned)
{
	unsigned int i;
	int fd = -1, rc;

	*owned = 0;
	pthread_mutex_lock(&s->ofd_mu);
	for (i = 0; i < s->nofd; i++)
		if (!strcmp(s->ofd[i].name, name)) {
			fd = s->ofd[i].fd;
			break;
		}
	if (fd < 0) {
		rc = cohort__os_open(&fd, path, O_RDWR | O_CREAT | O_NOFOLLOW,
				     cohort__file_mode(s->c));
		if (rc) {
			pthread_mutex_unlock(&s->ofd_mu);
			return -1;
		}
		if (s->nofd < sizeof(s->ofd) / sizeof(s->ofd[0])) {
			snprintf(s->ofd[s->nofd].name, sizeof(s->ofd[0].name),
				 "%s", name);
			s->ofd[s->nofd++].fd = fd;
		} else {
			*owned = 1; /* table full: the lock closes it */
		}
	}
	pthread_mutex_unlock(&s->ofd_mu);
	return fd;
}

int64_t cohort__lock_yield_until(struct cohort__lock_state *s,
				 const char *name, int64_t set)
{
	int64_t until = 0;
	unsigned int i;

	pthread_mutex_lock(&s->ofd_mu);
	for (i = 0; i < s->nyield; i++)
		if (!strcmp(s->yield[i].name, name))
			break;
	if (i == s->nyield && set &&
	    s->nyield < sizeof(s->yield) / sizeof(s->yield[0])) {
		snprintf(s->yield[i].name, sizeof(s->yield[0].name), "%s", name);
		s->yield[i].until = 0;
		s->nyield++;
	}
	if (i < s->nyield) {
		if (set)
			s->yield[i].until = set;
		until = s->yield[i].until;
	}
	pthread_mutex_unlock(&s->ofd_mu);
	return until;
}

