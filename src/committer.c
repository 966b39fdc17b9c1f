/*
 * committer.c - the node's committer (cohort/committer.h): the host's
 * accepting and serving threads, and the client side of
 * cohort_committer_append().  The protocol and why an acknowledged record
 * is durable are at the top of cohort/committer.h and in NOTES.md.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "cohort/committer.h"
#include "journal_format.h"
#include "os/os.h"

#define REQ_MAGIC 0x51524b43u /* "CKRQ" */
#define REQ_VERSION 1
#define REQ_HDR 120		  /* magic, version, n, length, id, node */
#define ENT_HDR 6		  /* type length (2), data length (4) */
#define DIRECT_OVER (16u << 20)	  /* bigger commits go directly */
#define ACCEPT_POLL_MS 200	  /* how soon the acceptor sees a stop */

/* ---- the host ----------------------------------------------------------- */

struct conn {
	cohort_committer *k;
	int fd;
	int done; /* the thread has finished: join it */
	pthread_t thread;
	struct conn *next;
};

struct cohort_committer {
	/*
	 * The committer's own handle on the cluster, 'j' its journal: they
	 * keep descriptors (lock files, the head segment) open, which a mount
	 * that was cut and came back leaves dead.  So they are opened again
	 * before the next commit once the node's mode file was replaced (the
	 * node runtime turned read-only, or back) or a commit failed.  Taken
	 * shared by each commit, exclusively to swap them.
	 */
	pthread_rwlock_t hl;
	cohort_cluster *c;
	cohort_journal *j;
	char *root, *node, *state;
	char mode_path[PATH_MAX];
	uint64_t mode_ino;	/* of STATE/mode when 'c' was opened */
	int64_t mode_mtime;
	int stale;		/* a commit failed: open again */
	char cluster_id[COHORT_UUID_LEN + 1];
	char path[PATH_MAX];
	int lfd;
	pthread_t acceptor;
	pthread_mutex_t mu;
	int stopping;
	uint64_t served;
	struct conn *conns;
};

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* The request header for this handle's cluster and node. */
static void req_header(unsigned char h[REQ_HDR], const cohort_cluster *c,
		       size_t n, uint64_t body)
{
	size_t nl = strlen(c->node);

	memset(h, 0, REQ_HDR);
	cohort__put32(h, REQ_MAGIC);
	cohort__put32(h + 4, REQ_VERSION);
	cohort__put32(h + 8, (uint32_t)n);
	cohort__put64(h + 12, body);
	memcpy(h + 20, c->id, COHORT_UUID_LEN);
	h[56] = (unsigned char)nl;
	memcpy(h + 57, c->node, nl);
}

/* 1 if the header is a request of version 1 for this cluster and node. */
static int req_ours(const unsigned char h[REQ_HDR], const char *node,
		    const char *id)
{
	size_t nl = strlen(node);

	return cohort__get32(h) == REQ_MAGIC &&
	       cohort__get32(h + 4) == REQ_VERSION &&
	       !memcmp(h + 20, id, COHORT_UUID_LEN) && h[56] == nl &&
	       !memcmp(h + 57, node, nl);
}

static int send_error(int fd, int code)
{
	const char *msg = cohort_error_last();
	size_t len = strlen(msg);
	unsigned char buf[7 + 1024];

	if (len > 1024)
		len = 1024;
	buf[0] = 'E';
	cohort__put32(buf + 1, (uint32_t)code);
	put16(buf + 5, (uint16_t)len);
	memcpy(buf + 7, msg, len);
	return cohort__os_send_full(fd, buf, 7 + len, "a committer client");
}

/*
 * Split a request body into entries pointing into it; COHORT_EINVAL when
 * the lengths do not add up.
 */
static int parse_body(cohort_entry *e, size_t n, unsigned char *body,
		      uint64_t len)
{
	uint64_t off = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		size_t tl, dl;

		if (len - off < ENT_HDR)
			return COHORT_EINVAL;
		tl = get16(body + off);
		dl = cohort__get32(body + off + 2);
		off += ENT_HDR;
		if (tl == 0 || tl > len - off || dl > len - off - tl)
			return COHORT_EINVAL;
		/* The type becomes a string in place: its bytes move one back,
		 * over the end of the header, and get a NUL after them. */
		memmove(body + off - 1, body + off, tl);
		body[off - 1 + tl] = '\0';
		if (memchr(body + off - 1, '\0', tl))
			return COHORT_EINVAL;
		e[i].type = (const char *)body + off - 1;
		off += tl;
		e[i].data = body + off;
		e[i].len = dl;
		off += dl;
	}
	return off == len ? 0 : COHORT_EINVAL;
}

/* Identity of the node's mode file (0, 0 when it is absent). */
static void mode_id(const cohort_committer *k, uint64_t *ino, int64_t *mtime)
{
	struct cohort__stat st;

	*ino = 0;
	*mtime = 0;
	if (cohort__os_stat(&st, k->mode_path, 1) == 0) {
		*ino = st.ino;
		*mtime = st.mtime_ns;
	}
}

/* A new handle on the cluster and its journal into '*c', '*j'. */
static int handle_open(cohort_committer *k, cohort_cluster **c,
		       cohort_journal **j)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	int rc;

	o.root = k->root;
	o.node = k->node;
	o.state = k->state;
	*j = NULL;
	if ((rc = cohort_cluster_open(c, &o)))
		return rc;
	if ((rc = cohort_journal_open(j, *c))) {
		cohort_cluster_close(*c);
		*c = NULL;
	}
	return rc;
}

/*
 * Before a commit: open the handle again if the mode file was replaced
 * since it was opened, or a commit failed.  When that fails (the mount
 * is still gone) the old handle stays, and the commit says why.
 */
static void refresh(cohort_committer *k)
{
	cohort_cluster *c, *old_c;
	cohort_journal *j, *old_j;
	uint64_t ino;
	int64_t mtime;
	int stale, ro = 0, rc;

	mode_id(k, &ino, &mtime);
	pthread_mutex_lock(&k->mu);
	stale = k->stale || ino != k->mode_ino || mtime != k->mode_mtime;
	pthread_mutex_unlock(&k->mu);
	if (!stale)
		return;
	/* Read-only (the mount may hang): the append refuses at once from
	 * the state folder; open again once the node is read-write. */
	pthread_rwlock_rdlock(&k->hl);
	rc = cohort_node_mode(k->c, &ro, NULL, 0);
	pthread_rwlock_unlock(&k->hl);
	if ((!rc && ro) || handle_open(k, &c, &j))
		return;
	pthread_rwlock_wrlock(&k->hl);
	old_c = k->c;
	old_j = k->j;
	k->c = c;
	k->j = j;
	pthread_mutex_lock(&k->mu);
	k->stale = 0;
	k->mode_ino = ino;
	k->mode_mtime = mtime;
	pthread_mutex_unlock(&k->mu);
	pthread_rwlock_unlock(&k->hl);
	cohort_journal_close(old_j);
	cohort_cluster_close(old_c);
}

/* Serve one request; 0 to go on with the next, -1 to close. */
static int serve_one(struct conn *cn)
{
	cohort_committer *k = cn->k;
	unsigned char h[REQ_HDR], reply[9];
	unsigned char *body = NULL;
	cohort_entry *e = NULL;
	uint64_t len, first;
	size_t n, got;
	int rc, stop, ret = -1;

	if (cohort__os_read_full(cn->fd, h, REQ_HDR, &got, "a committer client") ||
	    got < REQ_HDR)
		return -1; /* closed, or gone */
	if (!req_ours(h, k->node, k->cluster_id)) {
		(void)cohort__os_send_full(cn->fd, "N", 1, "a committer client");
		return -1;
	}
	n = cohort__get32(h + 8);
	len = cohort__get64(h + 12);
	/* What a client sends: at most DIRECT_OVER bytes of body, each
	 * record at least a header and a one-byte type. */
	if (n == 0 || len > DIRECT_OVER || len < (uint64_t)n * (ENT_HDR + 1)) {
		(void)cohort__os_send_full(cn->fd, "N", 1, "a committer client");
		return -1;
	}
	body = malloc(len ? len : 1);
	e = calloc(n, sizeof(*e));
	if (!body || !e)
		goto out; /* unanswered, not taken: the client commits itself */
	if (cohort__os_read_full(cn->fd, body, len, &got, "a committer client") ||
	    got < len)
		goto out;
	if (parse_body(e, n, body, len)) {
		(void)cohort__os_send_full(cn->fd, "N", 1, "a committer client");
		goto out;
	}
	/* Taken: from here the outcome is the client's to hear.  A stopping
	 * host takes nothing more (the client then commits itself). */
	pthread_mutex_lock(&k->mu);
	stop = k->stopping;
	pthread_mutex_unlock(&k->mu);
	if (stop || cohort__os_send_full(cn->fd, "T", 1, "a committer client"))
		goto out;
	refresh(k);
	pthread_rwlock_rdlock(&k->hl);
	rc = cohort_journal_append(k->j, e, n, &first);
	pthread_rwlock_unlock(&k->hl);
	if (rc && rc != COHORT_EINVAL && rc != COHORT_EREADONLY) {
		pthread_mutex_lock(&k->mu);
		k->stale = 1;
		pthread_mutex_unlock(&k->mu);
	}
	if (rc) {
		if (send_error(cn->fd, rc))
			goto out;
	} else {
		__atomic_add_fetch(&k->served, 1, __ATOMIC_RELAXED);
		reply[0] = 'R';
		cohort__put64(reply + 1, first);
		if (cohort__os_send_full(cn->fd, reply, sizeof(reply),
					 "a committer client"))
			goto out;
	}
	ret = 0;
out:
	free(body);
	free(e);
	return ret;
}

static void *conn_main(void *arg)
{
	struct conn *cn = arg;
	cohort_committer *k = cn->k;
	int stop = 0;

	while (!stop && serve_one(cn) == 0) {
		pthread_mutex_lock(&k->mu);
		stop = k->stopping;
		pthread_mutex_unlock(&k->mu);
	}
	pthread_mutex_lock(&k->mu);
	cohort__os_close_quiet(cn->fd);
	cn->fd = -1;
	cn->done = 1;
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* Join the connection threads that have finished (all when 'all'). */
static void reap(cohort_committer *k, int all)
{
	struct conn **pp = &k->conns;

	for (;;) {
		struct conn *cn;

		pthread_mutex_lock(&k->mu);
		while (*pp && !(*pp)->done && !all)
			pp = &(*pp)->next;
		cn = *pp;
		if (cn)
			*pp = cn->next;
		pthread_mutex_unlock(&k->mu);
		if (!cn)
			return;
		pthread_join(cn->thread, NULL);
		free(cn);
	}
}

static void committer_free(cohort_committer *k)
{
	cohort__os_close_quiet(k->lfd);
	cohort_journal_close(k->j);
	cohort_cluster_close(k->c);
	free(k->root);
	free(k->node);
	free(k->state);
	pthread_rwlock_destroy(&k->hl);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

static void *accept_main(void *arg)
{
	cohort_committer *k = arg;
	uid_t me = geteuid();

	for (;;) {
		struct conn *cn;
		uid_t uid;
		int fd, stop;

		pthread_mutex_lock(&k->mu);
		stop = k->stopping;
		pthread_mutex_unlock(&k->mu);
		if (stop)
			break;
		reap(k, 0);
		if (cohort__os_accept(&fd, k->lfd, ACCEPT_POLL_MS, &uid, NULL)) {
			cohort__os_sleep_ms(ACCEPT_POLL_MS); /* EMFILE and kin */
			continue;
		}
		if (fd < 0)
			continue;
		if (uid != me || !(cn = calloc(1, sizeof(*cn)))) {
			cohort__os_close_quiet(fd);
			continue;
		}
		cn->k = k;
		cn->fd = fd;
		pthread_mutex_lock(&k->mu);
		if (pthread_create(&cn->thread, NULL, conn_main, cn)) {
			pthread_mutex_unlock(&k->mu);
			cohort__os_close_quiet(fd);
			free(cn);
			continue;
		}
		cn->next = k->conns;
		k->conns = cn;
		pthread_mutex_unlock(&k->mu);
	}
	return NULL;
}

int cohort_committer_start(cohort_committer **out, cohort_cluster *c)
{
	cohort_committer *k;
	int rc;

	*out = NULL;
	if ((rc = cohort__need_node(c)))
		return rc;
	k = calloc(1, sizeof(*k));
	if (!k)
		return cohort__error(COHORT_ERROR, "out of memory");
	k->lfd = -1;
	pthread_mutex_init(&k->mu, NULL);
	pthread_rwlock_init(&k->hl, NULL);
	snprintf(k->cluster_id, sizeof(k->cluster_id), "%s", c->id);
	k->root = strdup(c->root);
	k->node = strdup(c->node);
	k->state = strdup(c->state);
	if (!k->root || !k->node || !k->state) {
		rc = cohort__error(COHORT_ERROR, "out of memory");
		goto bad;
	}
	if ((rc = cohort__state_path(k->path, sizeof(k->path), c,
				     "committer.sock")) ||
	    (rc = cohort__state_path(k->mode_path, sizeof(k->mode_path), c,
				     "mode")))
		goto bad;
	mode_id(k, &k->mode_ino, &k->mode_mtime);
	if ((rc = handle_open(k, &k->c, &k->j)) ||
	    (rc = cohort__os_listen_unix(&k->lfd, k->path)))
		goto bad;
	if (pthread_create(&k->acceptor, NULL, accept_main, k)) {
		(void)cohort__os_unlink(k->path);
		rc = cohort__error(COHORT_ERROR, "cannot start the committer's "
				   "thread");
		goto bad;
	}
	*out = k;
	return 0;
bad:
	committer_free(k);
	return rc;
}

void cohort_committer_stop(cohort_committer *k)
{
	struct conn *cn;

	if (!k)
		return;
	/* The name first: from now on clients commit themselves. */
	(void)cohort__os_unlink(k->path);
	pthread_mutex_lock(&k->mu);
	k->stopping = 1;
	pthread_mutex_unlock(&k->mu);
	pthread_join(k->acceptor, NULL);
	cohort__os_close_quiet(k->lfd);
	k->lfd = -1;
	/* A thread waiting for its next request sees end of file; one in a
	 * commit finishes it and answers before it looks again. */
	pthread_mutex_lock(&k->mu);
	for (cn = k->conns; cn; cn = cn->next)
		if (cn->fd >= 0)
			cohort__os_shutdown_read(cn->fd);
	pthread_mutex_unlock(&k->mu);
	reap(k, 1);
	committer_free(k);
}

uint64_t cohort_committer_served(const cohort_committer *k)
{
	return __atomic_load_n(&k->served, __ATOMIC_RELAXED);
}

/* ---- the client --------------------------------------------------------- */

/* Idle connections to the committer, kept on the cluster handle. */
#define POOL_MAX 8

struct pool {
	pthread_mutex_t mu;
	pid_t pid; /* a forked child must not share our connections */
	int fd[POOL_MAX];
	int n;
};

static void *pool_make(cohort_cluster *c)
{
	struct pool *p = calloc(1, sizeof(*p));

	(void)c;
	if (!p) {
		cohort__error(COHORT_ERROR, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	p->pid = getpid();
	return p;
}

static void pool_drop(cohort_cluster *c, void *state)
{
	struct pool *p = state;
	int i;

	(void)c;
	for (i = 0; i < p->n; i++)
		cohort__os_close_quiet(p->fd[i]);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* An idle connection, or -1. */
static int pool_take(struct pool *p)
{
	int fd = -1;

	pthread_mutex_lock(&p->mu);
	if (p->pid != getpid()) {
		/* Forked: the parent's connections are the parent's (a reply
		 * read here would be lost to it).  Close our copies. */
		while (p->n > 0)
			cohort__os_close_quiet(p->fd[--p->n]);
		p->pid = getpid();
	}
	if (p->n > 0)
		fd = p->fd[--p->n];
	pthread_mutex_unlock(&p->mu);
	return fd;
}

static void pool_give(struct pool *p, int fd)
{
	pthread_mutex_lock(&p->mu);
	if (p->n < POOL_MAX) {
		p->fd[p->n++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&p->mu);
	cohort__os_close_quiet(fd);
}

/* A new connection to a committer of our own user, or -1. */
static int dial(cohort_cluster *c)
{
	char path[PATH_MAX];
	uid_t uid;
	int fd;

	if (cohort__state_path(path, sizeof(path), c, "committer.sock") ||
	    cohort__os_connect_unix(&fd, path))
		return -1;
	if (cohort__os_peer(fd, &uid, NULL) || uid != geteuid()) {
		cohort__os_close_quiet(fd);
		return -1;
	}
	return fd;
}

enum outcome {
	NOT_TAKEN,	/* commit yourself */
	ANSWERED,	/* '*rc' and '*first' hold the answer */
	TAKEN_LOST,	/* taken, then the connection was lost */
};

static enum outcome ask(int fd, const unsigned char *req, size_t len, int *rc,
			uint64_t *first)
{
	unsigned char b[8];
	char msg[1025];
	size_t got;
	uint16_t ml;

	if (cohort__os_send_full(fd, req, len, "the committer") ||
	    cohort__os_read_full(fd, b, 1, &got, "the committer") || got < 1 ||
	    b[0] != 'T')
		return NOT_TAKEN;
	if (cohort__os_read_full(fd, b, 1, &got, "the committer") || got < 1)
		return TAKEN_LOST;
	if (b[0] == 'R') {
		if (cohort__os_read_full(fd, b, 8, &got, "the committer") ||
		    got < 8)
			return TAKEN_LOST;
		*first = cohort__get64(b);
		*rc = 0;
		return ANSWERED;
	}
	if (b[0] != 'E' ||
	    cohort__os_read_full(fd, b, 6, &got, "the committer") || got < 6)
		return TAKEN_LOST;
	*rc = (int)cohort__get32(b);
	ml = get16(b + 4);
	if (ml > 1024 ||
	    cohort__os_read_full(fd, msg, ml, &got, "the committer") || got < ml)
		return TAKEN_LOST;
	msg[ml] = '\0';
	if (*rc >= 0)
		*rc = COHORT_ERROR;
	cohort__error(*rc, "%s", msg);
	return ANSWERED;
}

/* The request for 'e', or NULL (then commit directly). */
static unsigned char *encode(const cohort_cluster *c, const cohort_entry *e,
			     size_t n, size_t *len)
{
	unsigned char *req, *p;
	uint64_t body = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *type = e[i].type ? e[i].type : "data";
		size_t tl = strlen(type);

		if (tl == 0 || tl > 0xffff || e[i].len > COHORT_RECORD_MAX ||
		    (e[i].len && !e[i].data))
			return NULL; /* cohort_journal_append() says why */
		body += ENT_HDR + tl + e[i].len;
		if (body > DIRECT_OVER)
			return NULL;
	}
	req = malloc(REQ_HDR + body);
	if (!req)
		return NULL;
	req_header(req, c, n, body);
	p = req + REQ_HDR;
	for (i = 0; i < n; i++) {
		const char *type = e[i].type ? e[i].type : "data";
		size_t tl = strlen(type);

		put16(p, (uint16_t)tl);
		cohort__put32(p + 2, (uint32_t)e[i].len);
		memcpy(p + ENT_HDR, type, tl);
		if (e[i].len)
			memcpy(p + ENT_HDR + tl, e[i].data, e[i].len);
		p += ENT_HDR + tl + e[i].len;
	}
	*len = REQ_HDR + body;
	return req;
}

int cohort_committer_append(cohort_journal *j, const cohort_entry *e, size_t n,
			    uint64_t *first_rev)
{
	cohort_cluster *c = cohort__journal_cluster(j);
	struct pool *p;
	unsigned char *req;
	uint64_t first = 0;
	size_t len;
	int fd, tries, rc = 0;
	enum outcome o = NOT_TAKEN;

	if (!c->node || !c->state || n == 0 || n > 0xffffffffu ||
	    !(p = cohort__slot(c, COHORT__SLOT_COMMITTER, pool_make, pool_drop)) ||
	    !(req = encode(c, e, n, &len)))
		return cohort_journal_append(j, e, n, first_rev);
	/* A kept connection may lead to a committer that has stopped since:
	 * then one new connection, to the one that may run now. */
	for (tries = 0; tries < 2 && o == NOT_TAKEN; tries++) {
		fd = tries == 0 ? pool_take(p) : -1;
		if (fd < 0) {
			tries = 1;
			if ((fd = dial(c)) < 0)
				break;
		}
		o = ask(fd, req, len, &rc, &first);
		if (o == ANSWERED)
			pool_give(p, fd);
		else
			cohort__os_close_quiet(fd);
	}
	free(req);
	switch (o) {
	case ANSWERED:
		if (!rc && first_rev)
			*first_rev = first;
		return rc;
	case TAKEN_LOST:
		return cohort__error(COHORT_ERROR, "the node's committer ended "
				     "during the commit of %zu record(s): they "
				     "may or may not appear (look with 'cohort "
				     "log' before appending them again)", n);
	case NOT_TAKEN:
		break;
	}
	cohort__error_clear();
	return cohort_journal_append(j, e, n, first_rev);
}
