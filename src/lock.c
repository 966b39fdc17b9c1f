/*
 * lock.c - named cluster locks: local flock, OFD fcntl lock and a lease
 * file.  The protocol and its safety argument are in cohort/lock.h and
 * NOTES.md ("Locking").
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <xxhash.h>

#include "cluster.h"
#include "cohort/lock.h"
#include "lock_int.h"
#include "lock_state.h"
#include "os/os.h"

/* Size of the 'locks/NAME.want' record (see "Fairness" below). */
#define WANT_SIZE 64
#define FENCE_SIZE 96

struct cohort_lock {
	cohort_cluster *c;
	struct cohort__lock_state *s; /* the handle's (lock_state.h) */
	char name[COHORT_NODE_ID_MAX + 1];
	cohort_lock_mode mode;
	int flock_fd;
	int ofd_fd;	  /* the handle's (cohort__lock_file_fd()) */
	int ofd_owned;	  /* ours to close */
	int ofd_locked;
	int want_fd;	  /* locks/NAME.want, while we wait */
	unsigned int want_count;
	char want_at_acquire[WANT_SIZE + 1];
	int lease_fd;	  /* our lease file, from its creation */
	uint64_t lease_dev, lease_ino;
	char flock_path[PATH_MAX];
	char ofd_path[PATH_MAX];
	char lease_path[PATH_MAX];
	char nonce[33];
	int64_t refresh_ms;
	int64_t timeout_ms;
	/* shared with the handle's refresher, under s->ref_mu */
	int registered;
	uint64_t count;
	int64_t next_due;     /* monotonic ms of the next rewrite */
	int64_t last_refresh; /* monotonic ms of the last good refresh */
	int refresh_errno;    /* first failure of the refresher, or 0 */
};

/* "sum %016llx\n" */
#define SUM_LINE 21

static void lease_format(char out[LEASE_SIZE], const cohort_lock *l,
			 uint64_t count)
{
	char body[LEASE_SIZE - SUM_LINE];
	int n, hostmax = 64;

	/* Body, sum line and the final '\n' must fit in LEASE_SIZE: with a
	 * long node id and a long host name, the host name is shortened
	 * (a shortened name never matches cohort__os_host(), so such a
	 * lease is judged by staleness alone, never by its pid). */
	for (;;) {
		n = snprintf(body, sizeof(body),
			     "cohort-lease 1\nnode %s\nhost %.*s\nboot %s\n"
			     "pid %ld\nnonce %s\ncount %llu\n",
			     l->c->node, hostmax, cohort__os_host(),
			     cohort__os_boot_id(), (long)getpid(), l->nonce,
			     (unsigned long long)count);
		if (n >= 0 && n < (int)sizeof(body))
			break;
		if (n < 0 || hostmax == 0) { /* cannot happen: ids are short */
			n = (int)sizeof(body) - 1;
			break;
		}
		hostmax -= n - ((int)sizeof(body) - 1);
		if (hostmax < 0)
			hostmax = 0;
	}
	memset(out, ' ', LEASE_SIZE);
	n = snprintf(out, LEASE_SIZE, "%ssum %016llx\n", body,
		     (unsigned long long)XXH3_64bits(body, (size_t)n));
	if (n >= 0 && n < LEASE_SIZE)
		out[n] = ' ';
	out[LEASE_SIZE - 1] = '\n';
}

/*
 * Parse a lease's text; 'valid' only if its checksum holds.  Only the
 * lines before the sum line are summed, so the fields are read from those
 * alone: a field after it, or a "sum " inside a line, could otherwise pass
 * with a right sum over other bytes.  The pid must be one a process can
 * have: 0, a negative one or one past pid_t would reach kill() (in
 * holder_dead_here) as a process group, or as -1, not as the holder.
 */
static void lease_parse(struct cohort__lease_view *v, const char *text,
			size_t len)
{
	char body[LEASE_SIZE], sum[24], pid[24], *end;
	const char *s;
	size_t n;
	long p;

	memset(v, 0, sizeof(*v));
	if (len < 16 || strncmp(text, "cohort-lease 1\n", 15))
		return;
	s = strstr(text, "\nsum ");
	if (!s || (n = (size_t)(s + 1 - text)) >= sizeof(body) ||
	    cohort__kv_get(s + 1, "sum", sum, sizeof(sum)) ||
	    strlen(sum) != 16 || strspn(sum, "0123456789abcdef") != 16)
		return;
	if (strtoull(sum, NULL, 16) != XXH3_64bits(text, n))
		return;
	memcpy(body, text, n);
	body[n] = '\0';
	if (cohort__kv_get(body, "node", v->node, sizeof(v->node)) ||
	    cohort__kv_get(body, "host", v->host, sizeof(v->host)) ||
	    cohort__kv_get(body, "boot", v->boot, sizeof(v->boot)) ||
	    cohort__kv_get(body, "pid", pid, sizeof(pid)) ||
	    cohort__kv_get(body, "nonce", v->nonce, sizeof(v->nonce)))
		return;
	errno = 0;
	p = strtol(pid, &end, 10);
	if (pid[0] < '1' || pid[0] > '9' || *end || errno || p > INT_MAX)
		return;
	v->pid = p;
	v->valid = 1;
}

void cohort__lease_parse(struct cohort__lease_view *v, const char *text,
			 size_t len)
{
	lease_parse(v, text, len);
}

/*
 * The refresher: one thread per cluster handle (started with its first
 * lease, stopped at cohort_cluster_close) rewrites every lease the handle
 * holds each 'lease_refresh'.  No thread is made per acquire.  The list of
 * held leases and each lease's refresh state are under s->ref_mu; a lease
 * being rewritten is marked 'busy' so that a release waits for the write
 * to end before the lock goes away.
 */
static void *refresher(void *arg)
{
	struct cohort__lock_state *s = arg;
	cohort_cluster *c = s->c;
	char buf[LEASE_SIZE];

	pthread_mutex_lock(&s->ref_mu);
	while (!s->ref_stop) {
		int64_t now = cohort__os_mono_ms(), next = now + 1000;
		cohort_lock *due = NULL;
		unsigned int i;

		for (i = 0; i < s->nheld; i++) {
			cohort_lock *l = s->held[i];

			if (l->refresh_errno)
				continue;
			if (l->next_due <= now) {
				due = l;
				break;
			}
			if (l->next_due < next)
				next = l->next_due;
		}
		if (due) {
			uint64_t count = ++due->count;
			int rc;

			s->ref_busy = due;
			pthread_mutex_unlock(&s->ref_mu);
			lease_format(buf, due, count);
			rc = cohort__os_pwrite_full(due->lease_fd, buf, LEASE_SIZE,
						    0, due->lease_path);
			if (!rc)
				rc = cohort__publish_sync(c, due->lease_fd,
							  due->lease_path);
			pthread_mutex_lock(&s->ref_mu);
			if (rc)
				due->refresh_errno = errno ? errno : EIO;
			else
				due->last_refresh = cohort__os_mono_ms();
			due->next_due = cohort__os_mono_ms() + due->refresh_ms;
			s->ref_busy = NULL;
			pthread_cond_broadcast(&s->ref_cv);
			continue;
		}
		{
			struct timespec ts;
			int64_t wait = next - now;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&s->ref_cv, &s->ref_mu, &ts);
		}
	}
	pthread_mutex_unlock(&s->ref_mu);
	return NULL;
}

/* Hand a lease to the handle's refresher (starting it if needed). */
static int lease_register(cohort_lock *l)
{
	struct cohort__lock_state *s = l->s;
	int rc = 0;

	pthread_mutex_lock(&s->ref_mu);
	if (s->nheld == sizeof(s->held) / sizeof(s->held[0])) {
		rc = cohort__error(COHORT_ERROR, "too many cluster locks held at "
				   "once by one handle");
		goto out;
	}
	if (!s->ref_started) {
		if (pthread_create(&s->ref_thread, NULL, refresher, s) != 0) {
			rc = cohort__error(COHORT_ERROR,
					   "cannot start the lease refresher");
			goto out;
		}
		s->ref_started = 1;
	}
	l->last_refresh = cohort__os_mono_ms();
	l->next_due = l->last_refresh + l->refresh_ms;
	s->held[s->nheld++] = l;
	l->registered = 1;
	pthread_cond_broadcast(&s->ref_cv);
out:
	pthread_mutex_unlock(&s->ref_mu);
	return rc;
}

/* Take a lease back from the refresher; waits for a rewrite in flight. */
static void lease_unregister(cohort_lock *l)
{
	struct cohort__lock_state *s = l->s;
	unsigned int i;

	if (!l->registered)
		return;
	pthread_mutex_lock(&s->ref_mu);
	while (s->ref_busy == l)
		pthread_cond_wait(&s->ref_cv, &s->ref_mu);
	for (i = 0; i < s->nheld; i++)
		if (s->held[i] == l) {
			s->held[i] = s->held[--s->nheld];
			break;
		}
	l->registered = 0;
	pthread_mutex_unlock(&s->ref_mu);
}

void cohort__lock_refresher_stop(struct cohort__lock_state *s)
{
	if (!s->ref_started)
		return;
	pthread_mutex_lock(&s->ref_mu);
	s->ref_stop = 1;
	pthread_cond_broadcast(&s->ref_cv);
	pthread_mutex_unlock(&s->ref_mu);
	pthread_join(s->ref_thread, NULL);
	s->ref_started = 0;
}

static void lock_free(cohort_lock *l)
{
	if (!l)
		return;
	lease_unregister(l);
	cohort__os_close_quiet(l->lease_fd);
	cohort__os_close_quiet(l->want_fd);
	if (l->ofd_fd >= 0 && l->ofd_locked) {
		/* Keep the caller's error message: unlocking is cleanup. */
		char saved[1024];

		snprintf(saved, sizeof(saved), "%s", cohort_error_last());
		if (cohort__os_lock_ofd(l->ofd_fd, F_UNLCK, l->ofd_path))
			(void)cohort__error(0, "%s", saved);
	}
	if (l->ofd_owned)
		cohort__os_close_quiet(l->ofd_fd);
	cohort__os_close_quiet(l->flock_fd); /* last: the next local holder */
	free(l);
}

/* Sleep a little, randomized so that waiters do not march in step. */
static void backoff(int64_t deadline, int round)
{
	unsigned int r;
	int64_t ms, left = deadline - cohort__os_mono_ms();

	cohort__os_random(&r, sizeof(r));
	/* Short: a holder that sees waiters yields FAIR_YIELD_MS after its
	 * release, and a waiter must look again within that time. */
	ms = 1 + (round < 4 ? (1 << round) : 8) / 2 + (int64_t)(r % 4);
	if (ms > left)
		ms = left;
	cohort__os_sleep_ms(ms);
}

/*
 * Fairness.  A lock taken by polling favours the holder: it releases and
 * takes the lock again within microseconds, while waiters look every few
 * milliseconds.  So a waiter that is refused rewrites 'locks/NAME.want'
 * (in place, its pid and nonce and a counter), and a holder that finds
 * that file changed between its acquire and its release waits
 * FAIR_YIELD_MS before it takes the same lock again (cohort_lock_acquire),
 * long enough for a waiter's next look.  Uncontended, it costs two small
 * reads per hold.
 */
#define FAIR_YIELD_MS 12

static void want_path(char *buf, size_t size, const cohort_lock *l)
{
	if (cohort__root_path(buf, size, l->c, "locks/%s.want", l->name))
		buf[0] = '\0';
}

static void want_touch(cohort_lock *l)
{
	char path[PATH_MAX], buf[WANT_SIZE + 1], saved[1024];

	/* Bookkeeping: the caller's error message must survive it. */
	snprintf(saved, sizeof(saved), "%s", cohort_error_last());
	want_path(path, sizeof(path), l);
	if (!path[0])
		return;
	if (l->want_fd < 0 &&
	    cohort__os_open(&l->want_fd, path, O_WRONLY | O_CREAT | O_NOFOLLOW,
			    cohort__file_mode(l->c))) {
		(void)cohort__error(0, "%s", saved);
		return;
	}
	memset(buf, ' ', sizeof(buf));
	snprintf(buf, sizeof(buf), "%ld %.32s %u", (long)getpid(), l->nonce,
		 ++l->want_count);
	buf[strlen(buf)] = ' ';
	buf[WANT_SIZE - 1] = '\n';
	if (cohort__os_pwrite_full(l->want_fd, buf, WANT_SIZE, 0, path) == 0)
		(void)cohort__publish_sync(l->c, l->want_fd, path);
	(void)cohort__error(0, "%s", saved);
}

static void want_read(cohort_lock *l, char out[WANT_SIZE + 1])
{
	char path[PATH_MAX], *text = NULL, saved[1024];
	size_t len = 0;

	snprintf(saved, sizeof(saved), "%s", cohort_error_last());
	out[0] = '\0';
	want_path(path, sizeof(path), l);
	if (path[0] && cohort__os_read_file(&text, &len, path, 4096) == 0) {
		snprintf(out, WANT_SIZE + 1, "%.*s", (int)len, text);
		free(text);
	}
	(void)cohort__error(0, "%s", saved);
}

static int take_flock(cohort_lock *l, int64_t deadline)
{
	char dir[PATH_MAX];
	int rc, round = 0;

	rc = cohort__state_path(l->flock_path, sizeof(l->flock_path), l->c,
				"locks/%s.flock", l->name);
	if (!rc)
		rc = cohort__os_open(&l->flock_fd, l->flock_path,
				     O_RDWR | O_CREAT | O_NOFOLLOW,
				     cohort__file_mode(l->c));
	if (rc == COHORT_ENOTFOUND) { /* first lock of this node */
		cohort__error_clear();
		rc = cohort__state_path(dir, sizeof(dir), l->c, "locks");
		if (!rc)
			rc = cohort__os_mkdir_p(dir, cohort__dir_mode(l->c));
		if (!rc)
			rc = cohort__os_open(&l->flock_fd, l->flock_path,
					     O_RDWR | O_CREAT | O_NOFOLLOW,
					     cohort__file_mode(l->c));
	}
	if (rc)
		return rc;
	for (;;) {
		rc = cohort__os_flock(l->flock_fd, LOCK_EX | LOCK_NB,
				      l->flock_path);
		if (rc != COHORT_ELOCKED || cohort__os_mono_ms() >= deadline)
			break;
		backoff(deadline, round++);
	}
	if (rc == COHORT_ELOCKED)
		return cohort__error(COHORT_ELOCKED,
				     "cluster lock '%s' is held by another "
				     "process of node '%s' on this host",
				     l->name, l->c->node);
	return rc;
}

static int read_lease(char *buf, size_t *len, struct cohort__stat *st,
		      const char *path);

static int take_ofd(cohort_lock *l, int64_t deadline)
{
	int rc, round = 0;

	rc = cohort__root_path(l->ofd_path, sizeof(l->ofd_path), l->c,
			       "locks/%s.lock", l->name);
	if (rc)
		return rc;
	l->ofd_fd = cohort__lock_file_fd(l->s, l->name, l->ofd_path,
					 &l->ofd_owned);
	if (l->ofd_fd < 0)
		return COHORT_ERROR;
	for (;;) {
		rc = cohort__os_lock_ofd(l->ofd_fd, F_WRLCK, l->ofd_path);
		if (rc != COHORT_ELOCKED || cohort__os_mono_ms() >= deadline)
			break;
		want_touch(l);
		backoff(deadline, round++);
	}
	if (rc == 0)
		l->ofd_locked = 1;
	if (rc == COHORT_ELOCKED) {
		char lease[PATH_MAX], now[LEASE_SIZE + 1];
		struct cohort__stat st;
		struct cohort__lease_view v;
		size_t len;

		/* In mode 'both' the holder's lease says who it is. */
		if (l->mode == COHORT_LOCK_BOTH &&
		    cohort__root_path(lease, sizeof(lease), l->c,
				      "locks/%s.lease", l->name) == 0 &&
		    read_lease(now, &len, &st, lease) == 0) {
			lease_parse(&v, now, len);
			if (v.valid)
				return cohort__error(COHORT_ELOCKED,
						     "cluster lock '%s' is held by "
						     "node '%s' on host '%s' (pid "
						     "%ld)", l->name, v.node,
						     v.host, v.pid);
		}
		return cohort__error(COHORT_ELOCKED,
				     "cluster lock '%s' is held by another node "
				     "(fcntl lock on '%s')", l->name, l->ofd_path);
	}
	return rc;
}

static int read_lease(char *buf, size_t *len, struct cohort__stat *st,
		      const char *path)
{
	char *text = NULL;
	int rc;

	rc = cohort__os_stat(st, path, 1);
	if (rc)
		return rc;
	rc = cohort__os_read_file(&text, len, path, 4096);
	if (rc)
		return rc;
	if (*len > LEASE_SIZE)
		*len = LEASE_SIZE;
	memcpy(buf, text, *len);
	buf[*len] = '\0';
	free(text);
	return 0;
}

/*
 * A lease written by a process of this host and boot that is gone, or by
 * this very process: we passed the flock layer, so no other holder in
 * this process exists; such a lease is a leftover of a release that failed.
 */
static int holder_dead_here(const struct cohort__lease_view *v)
{
	return v->valid && !strcmp(v->host, cohort__os_host()) &&
	       !strcmp(v->boot, cohort__os_boot_id()) &&
	       (v->pid == (long)getpid() || !cohort__os_pid_alive(v->pid));
}

static int fence_path(char *buf, size_t size, const cohort_lock *l)
{
	return cohort__root_path(buf, size, l->c, "locks/%s.fence", l->name);
}

/* Write a new break token to 'locks/NAME.fence' (fixed inode, rewritten
 * in place, synced before the lease is moved). */
static int break_mark(cohort_lock *l)
{
	char path[PATH_MAX], text[FENCE_SIZE];
	int fd, rc, n;

	if ((rc = fence_path(path, sizeof(path), l)))
		return rc;
	memset(text, ' ', sizeof(text));
	n = snprintf(text, sizeof(text), "break %s %s %lld", l->nonce,
		     l->c->node, (long long)cohort__os_wall_ms());
	if (n > 0 && (size_t)n < sizeof(text))
		text[n] = ' ';
	text[sizeof(text) - 1] = '\n';
	if ((rc = cohort__os_open(&fd, path, O_RDWR | O_CREAT | O_NOFOLLOW,
				  cohort__file_mode(l->c))))
		return rc;
	rc = cohort__os_pwrite_full(fd, text, sizeof(text), 0, path);
	if (!rc)
		rc = cohort__os_fsync(fd, path);
	if (!rc)
		rc = cohort__os_close(fd, path);
	else
		cohort__os_close_quiet(fd);
	return rc;
}

int cohort__lock_break_token(cohort_lock *l, uint64_t *token)
{
	char path[PATH_MAX];
	unsigned char text[FENCE_SIZE];
	size_t got;
	int fd, rc;

	*token = 0;
	if (l->lease_fd < 0)
		return 0;
	/* O_CREAT: the server answers (a cached "no such file" on a
	 * lookupcache=all mount would hide a break); open also revalidates
	 * the content (close-to-open). */
	if ((rc = fence_path(path, sizeof(path), l)) ||
	    (rc = cohort__os_open(&fd, path, O_RDONLY | O_CREAT | O_NOFOLLOW,
				  cohort__file_mode(l->c))))
		return rc;
	rc = cohort__os_pread_full(fd, text, sizeof(text), 0, &got, path);
	cohort__os_close_quiet(fd);
	if (rc)
		return rc;
	*token = got ? XXH3_64bits(text, got) : 0;
	return 0;
}

/*
 * Break the lease at 'path' judged stale when it held exactly 'seen'
 * (inode 'ino').  One breaker at a time: 'NAME.break' is created with
 * link(); its own staleness is judged the same way by the caller's clock.
 */
static int break_lease(cohort_lock *l, const char *seen, size_t seen_len,
		       uint64_t ino)
{
	char brk[PATH_MAX], aside[PATH_MAX], now[LEASE_SIZE + 1], mine[128];
	struct cohort__stat st;
	size_t len;
	int rc, n;

	if (cohort__root_path(brk, sizeof(brk), l->c, "locks/%s.break", l->name) ||
	    cohort__root_path(aside, sizeof(aside), l->c,
			      "locks/%s.lease.broken.%s", l->name, l->nonce))
		return COHORT_EINVAL;
	n = snprintf(mine, sizeof(mine), "breaker %s %s %ld %s\n", l->c->node,
		     cohort__os_boot_id(), (long)getpid(), l->nonce);
	rc = cohort__os_create_exclusive(brk, mine, (size_t)n,
					 cohort__file_mode(l->c), l->c->node, 0);
	if (rc)
		return rc; /* another breaker works; wait and look again */
	/* Re-check: the very inode and bytes we judged stale. */
	rc = read_lease(now, &len, &st, l->lease_path);
	if (rc == 0 && st.ino == ino && len == seen_len &&
	    !memcmp(now, seen, len)) {
		/* Mark the break before the lease goes: whoever takes the
		 * lock next (maybe not us) sees a new break token and knows
		 * that the last holder may still have writes on their way
		 * (the journal then fences them off: a new epoch). */
		if ((rc = break_mark(l))) {
			(void)cohort__os_unlink(brk);
			return rc;
		}
		rc = cohort__os_rename(l->lease_path, aside);
		if (rc == 0) {
			char after[LEASE_SIZE + 1];
			struct cohort__stat st2;

			/* Did we move what we meant to? If a new lease slipped
			 * in between the check and the rename, put it back. */
			if (read_lease(after, &len, &st2, aside) == 0 &&
			    (st2.ino != ino || len != seen_len ||
			     memcmp(after, seen, len)))
				(void)cohort__os_link(aside, l->lease_path);
			(void)cohort__os_unlink(aside);
		}
	}
	(void)cohort__os_unlink(brk);
	cohort__error_clear();
	return 0;
}

/* How long ago, by the file server's clock, 'st' was modified; -1 if the
 * server's time cannot be had. */
static int64_t lease_server_age_ms(cohort_lock *l, const struct cohort__stat *st)
{
	int64_t now = 0;

	if (cohort__server_now_ns(&now, l->c, "locks")) {
		cohort__error_clear();
		return -1;
	}
	return (now - st->mtime_ns) / 1000000;
}

static int take_lease(cohort_lock *l, int64_t deadline)
{
	char content[LEASE_SIZE], seen[LEASE_SIZE + 1] = "", brk[PATH_MAX];
	size_t seen_len = 0;
	uint64_t seen_ino = 0;
	int64_t seen_since = cohort__os_mono_ms(), brk_since = seen_since;
	int64_t stale_ms = l->timeout_ms +
			   cohort__config_num(&l->c->cfg, "cluster", "skew_margin");
	uint64_t brk_ino = 0;
	int64_t brk_mtime = 0;
	struct cohort__lease_view v;
	int rc, round = 0;

	memset(&v, 0, sizeof(v));
	if (cohort__root_path(l->lease_path, sizeof(l->lease_path), l->c,
			      "locks/%s.lease", l->name) ||
	    cohort__root_path(brk, sizeof(brk), l->c, "locks/%s.break", l->name))
		return COHORT_EINVAL;
	lease_format(content, l, 0);
	for (;;) {
		char now[LEASE_SIZE + 1];
		struct cohort__stat st;
		size_t len;

		rc = cohort__os_create_exclusive_fd(l->lease_path, content,
						    LEASE_SIZE,
						    cohort__file_mode(l->c),
						    l->c->node, 0, &l->lease_fd);
		if (rc == 0)
			break;
		if (rc != COHORT_EEXISTS)
			return rc;
		rc = read_lease(now, &len, &st, l->lease_path);
		if (rc == COHORT_ENOTFOUND)
			continue; /* released meanwhile: try again at once */
		if (rc)
			return rc;
		if (st.ino != seen_ino || len != seen_len ||
		    memcmp(now, seen, len)) {
			/* Change observed: the holder lives (or a new one). */
			memcpy(seen, now, len);
			seen_len = len;
			seen_ino = st.ino;
			seen_since = cohort__os_mono_ms();
			lease_parse(&v, now, len);
			/* A lease that has not changed for a long time by the
			 * file server's own clock (its mtime against the mtime
			 * of a file we just created) is stale already: a
			 * waiter with a short timeout need not watch it for
			 * the whole interval.  Both times are the server's. */
			{
				int64_t age = lease_server_age_ms(l, &st);

				if (age >= stale_ms)
					seen_since -= stale_ms;
			}
		}
		if (holder_dead_here(&v) ||
		    cohort__os_mono_ms() - seen_since >= stale_ms) {
			rc = break_lease(l, seen, seen_len, seen_ino);
			if (rc == COHORT_EEXISTS) {
				/* A breaker's file: stale if it sits unchanged
				 * (a breaker holds it for milliseconds). */
				struct cohort__stat bst;

				if (cohort__os_stat(&bst, brk, 1) == 0) {
					if (bst.ino != brk_ino ||
					    bst.mtime_ns != brk_mtime) {
						brk_ino = bst.ino;
						brk_mtime = bst.mtime_ns;
						brk_since = cohort__os_mono_ms();
					} else if (cohort__os_mono_ms() - brk_since >=
						   stale_ms) {
						(void)cohort__os_unlink(brk);
					}
				}
			} else if (rc) {
				return rc;
			} else {
				continue; /* broken, or changed: look again */
			}
			/* Another breaker is at work: wait for it as for a
			 * holder, within our deadline, backing off. */
			cohort__error_clear();
		}
		if (cohort__os_mono_ms() >= deadline) {
			if (v.valid)
				return cohort__error(COHORT_ELOCKED,
						     "cluster lock '%s' is held by "
						     "node '%s' on host '%s' (pid "
						     "%ld)", l->name, v.node,
						     v.host, v.pid);
			return cohort__error(COHORT_ELOCKED,
					     "cluster lock '%s' is held (lease "
					     "'%s' unreadable)", l->name,
					     l->lease_path);
		}
		want_touch(l);
		backoff(deadline, round++);
	}
	/* The descriptor of the file we linked in (no second open): its
	 * inode is how lock_check and release recognize our lease. */
	{
		struct cohort__stat st;

		if ((rc = cohort__os_fstat(&st, l->lease_fd, l->lease_path))) {
			(void)cohort__os_unlink(l->lease_path);
			return rc;
		}
		l->lease_dev = st.dev;
		l->lease_ino = st.ino;
	}
	if ((rc = lease_register(l))) {
		(void)cohort__os_unlink(l->lease_path);
		return rc;
	}
	return 0;
}

int cohort_lock_acquire(cohort_lock **out, cohort_cluster *c,
			const char *name, int timeout_ms)
{
	cohort_lock *l;
	int64_t deadline;
	int rc;

	*out = NULL;
	if ((rc = cohort__need_node(c)))
		return rc;
	if ((rc = cohort_name_check(COHORT_NAME_LOCK, name)))
		return rc;
	l = calloc(1, sizeof(*l));
	if (!l)
		return cohort__error(COHORT_ERROR, "out of memory");
	l->c = c;
	l->flock_fd = l->ofd_fd = l->lease_fd = l->want_fd = -1;
	if (!(l->s = cohort__lock_state(c))) {
		free(l);
		return COHORT_ERROR;
	}
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->mode = l->s->mode;
	l->refresh_ms = cohort__config_num(&c->cfg, "cluster", "lease_refresh");
	l->timeout_ms = cohort__config_num(&c->cfg, "cluster", "lease_timeout");
	if (l->refresh_ms < 1)
		l->refresh_ms = 1;
	cohort__nonce(l->nonce);
	if (timeout_ms < 0)
		timeout_ms = (int)cohort__config_num(&c->cfg, "cluster",
						     "lock_timeout");
	deadline = cohort__os_mono_ms() + timeout_ms;
	{
		/* Others waited while we held it last: let one of them in. */
		int64_t until = cohort__lock_yield_until(l->s, l->name, 0);
		int64_t now = cohort__os_mono_ms();

		if (until > now && until - now <= FAIR_YIELD_MS && timeout_ms > 0)
			cohort__os_sleep_ms(until - now);
	}

	rc = take_flock(l, deadline);
	if (!rc && (l->mode == COHORT_LOCK_FCNTL || l->mode == COHORT_LOCK_BOTH))
		rc = take_ofd(l, deadline);
	if (!rc && (l->mode == COHORT_LOCK_LEASE || l->mode == COHORT_LOCK_BOTH))
		rc = take_lease(l, deadline);
	if (rc) {
		lock_free(l);
		return rc;
	}
	want_read(l, l->want_at_acquire);
	*out = l;
	return 0;
}

int cohort_lock_check(cohort_lock *l)
{
	char now[LEASE_SIZE + 1];
	struct cohort__stat st;
	struct cohort__lease_view v;
	int64_t last;
	size_t len;
	int err, rc, tries;

	if (!l)
		return cohort__error(COHORT_EINVAL, "no lock");
	if (l->lease_fd < 0)
		return 0;
	pthread_mutex_lock(&l->s->ref_mu);
	last = l->last_refresh;
	err = l->refresh_errno;
	pthread_mutex_unlock(&l->s->ref_mu);
	if (err)
		return cohort__error_sys(COHORT_ELOCKED, err,
					 "lost cluster lock '%s': cannot refresh "
					 "lease '%s'", l->name, l->lease_path);
	if (cohort__os_mono_ms() - last >= l->timeout_ms)
		return cohort__error(COHORT_ELOCKED,
				     "lost cluster lock '%s': lease not refreshed "
				     "for %lld ms (lease_timeout %lld ms)",
				     l->name,
				     (long long)(cohort__os_mono_ms() - last),
				     (long long)l->timeout_ms);
	/* Is the name still our file?  A breaker renames the lease aside;
	 * our open descriptor keeps our inode from being reused meanwhile,
	 * so a fresh stat of the name tells (one GETATTR on NFS).  A
	 * transient error (EIO, ESTALE) is not a lost lock: look again a few
	 * times while the lease time lasts. */
	for (tries = 0;; tries++) {
		rc = cohort__os_stat(&st, l->lease_path, 1);
		if (rc == 0 || rc == COHORT_ENOTFOUND || tries >= 3 ||
		    cohort__os_mono_ms() - last >= l->timeout_ms / 2)
			break;
		cohort__os_sleep_ms(10 << tries);
	}
	if (rc)
		return cohort__error_wrap(COHORT_ELOCKED,
					  "lost cluster lock '%s'", l->name);
	if (st.ino != l->lease_ino || st.dev != l->lease_dev) {
		v.valid = 0;
		if (read_lease(now, &len, &st, l->lease_path) == 0)
			lease_parse(&v, now, len);
		cohort__error_clear();
		return cohort__error(COHORT_ELOCKED,
				     "lost cluster lock '%s': lease was broken "
				     "and is now held by node '%s'", l->name,
				     v.valid ? v.node : "?");
	}
	return 0;
}

int cohort_lock_confirm(cohort_lock *l)
{
	struct cohort__stat st;
	int rc;

	if ((rc = cohort_lock_check(l)) || l->lease_fd < 0)
		return rc;
	/* The name may resolve through a cached lookup (lookupcache=all):
	 * ask the server about our own lease file too (a forced GETATTR on
	 * the descriptor).  A breaker moves it aside and removes it: no
	 * link is left. */
	if ((rc = cohort__os_fstat(&st, l->lease_fd, l->lease_path)))
		return cohort__error_wrap(COHORT_ELOCKED, "lost cluster lock '%s'",
					  l->name);
	if (st.nlink == 0)
		return cohort__error(COHORT_ELOCKED,
				     "lost cluster lock '%s': lease was broken",
				     l->name);
	return 0;
}

int cohort_lock_release(cohort_lock *l)
{
	char want[WANT_SIZE + 1];
	int rc = 0;

	if (!l)
		return 0;
	want_read(l, want);
	if (strcmp(want, l->want_at_acquire))
		(void)cohort__lock_yield_until(l->s, l->name,
					       cohort__os_mono_ms() + FAIR_YIELD_MS);
	if (l->lease_fd >= 0) {
		struct cohort__stat st;

		/* Stop refreshing first, then remove the lease only if it is
		 * still ours: after a break it belongs to someone else. */
		lease_unregister(l);
		/* Move the lease aside first, then look at what was moved:
		 * checking and then unlinking by name could remove a lease
		 * that a breaker and a new holder put there in between. */
		char aside[PATH_MAX];

		rc = cohort__root_path(aside, sizeof(aside), l->c,
				       "locks/%s.lease.released.%s", l->name,
				       l->nonce);
		if (rc == 0)
			rc = cohort__os_rename(l->lease_path, aside);
		if (rc == 0) {
			rc = cohort__os_stat(&st, aside, 1);
			if (rc || st.ino != l->lease_ino || st.dev != l->lease_dev) {
				/* Someone else's: put it back. */
				(void)cohort__os_link(aside, l->lease_path);
				rc = cohort__error(COHORT_ELOCKED,
						   "cluster lock '%s' was broken "
						   "while held", l->name);
			}
			(void)cohort__os_unlink(aside);
		} else if (rc == COHORT_ENOTFOUND) {
			rc = cohort__error(COHORT_ELOCKED,
					   "cluster lock '%s' was broken while "
					   "held", l->name);
		}
	}
	lock_free(l);
	return rc;
}
