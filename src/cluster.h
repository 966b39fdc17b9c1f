/* cluster.h - the cluster handle's insides (internal). */
#ifndef COHORT_CLUSTER_INT_H
#define COHORT_CLUSTER_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "cohort/cluster.h"
#include "cohort/lock.h"
#include "config.h"
#include "error.h"
#include "name.h"
#include "os/os.h"

struct cohort_cluster {
	char *root;
	char *node;   /* NULL when opened without a node id */
	char *state;  /* local state folder; NULL without a node id */
	char id[COHORT_UUID_LEN + 1];
	struct cohort__config cfg;
	char fstype[64];
	char mntopts[1024];
	int nfs;			/* root is on an NFS client mount */
	cohort_lock_mode lock_mode;	/* resolved, never AUTO */
	/* Descriptors of 'locks/NAME.lock' kept open for the handle's life:
	 * a FUSE view handles close() late and a late close drops the
	 * view's locks on the file, a new holder's among them; so a lock is
	 * released with F_UNLCK and its file closed only at handle close. */
	pthread_mutex_t ofd_mu;
	struct {
		char name[COHORT_NODE_ID_MAX + 1];
		int fd;
	} ofd[16];
	unsigned int nofd;
	/* fairness: when this handle should let waiters take a lock first */
	struct {
		char name[COHORT_NODE_ID_MAX + 1];
		int64_t until;
	} yield[16];
	unsigned int nyield;
	/* the lease refresher (lock.c): one thread for the handle's leases */
	pthread_mutex_t ref_mu;
	pthread_cond_t ref_cv;
	pthread_t ref_thread;
	int ref_started, ref_stop;
	struct cohort_lock *held[64];
	unsigned int nheld;
	struct cohort_lock *ref_busy;
	/* instance claim */
	int claim_fd;			/* flock on state/node.lock, or -1 */
	int hb_fd;			/* heartbeat file, or -1 */
	uint64_t hb_count;
	char nonce[33];
};

/* snprintf a path under the root into 'buf'; COHORT_EINVAL if too long. */
int cohort__root_path(char *buf, size_t size, const cohort_cluster *c,
		      const char *fmt, ...) COHORT__PRINTF(4, 5);
int cohort__state_path(char *buf, size_t size, const cohort_cluster *c,
		       const char *fmt, ...) COHORT__PRINTF(4, 5);
/* COHORT_EINVAL with a message unless the handle has a node id. */
int cohort__need_node(const cohort_cluster *c);
/* 32 hex characters of randomness. */
void cohort__nonce(char out[33]);
/* Make a written file visible to other NFS clients (sync on NFS only). */
int cohort__publish_sync(const cohort_cluster *c, int fd, const char *path);
/* Mode and group ([cluster] file_mode, dir_mode, group) of what is created
 * on the root and in the state folder. */
cohort__perm cohort__file_mode(const cohort_cluster *c);
cohort__perm cohort__dir_mode(const cohort_cluster *c);
cohort__perm cohort__config_perm(const struct cohort__config *cfg,
				 const char *key);
/* 1 if 's' is a valid node id, lock name or record type (the rule of
 * COHORT_NAME_NODE in cohort/name.h); sets no error (name.c). */
int cohort__name_valid(const char *s);

/* Hooks into the journal used by init and join (journal.c). */
int cohort__journal_create(const char *root, cohort__perm perm);
int cohort__journal_bounds(cohort_cluster *c, uint64_t *tail, uint64_t *head);
/* Write this node's revision file (atomic replace). */
int cohort__revision_write(cohort_cluster *c, uint64_t rev);

/* Mark 'node' retired (text 'why'), under its node lock. */
int cohort__node_retire(cohort_cluster *c, const char *node, const char *why);
/* The file server's clock (ns): the mtime of a file just created under
 * the root folder 'dir' (relative). */
int cohort__server_now_ns(int64_t *out, cohort_cluster *c, const char *dir);

/*
 * The handle's descriptor of 'locks/NAME.lock' (opened on first use, kept
 * until cohort_cluster_close); -1 and an error on failure.
 */
int cohort__lock_file_fd(cohort_cluster *c, const char *name, const char *path,
			 int *owned);

/*
 * Until when (monotonic ms) this handle yields lock 'name' to waiters.
 * With 'set' non-zero it records 'set' and returns it.
 */
int64_t cohort__lock_yield_until(cohort_cluster *c, const char *name,
				 int64_t set);

/* Stop the handle's lease refresher (cohort_cluster_close). */
void cohort__lock_refresher_stop(cohort_cluster *c);

/* COHORT_EREADONLY (with the reason) when this node is read-only. */
int cohort__readonly_check(cohort_cluster *c);

/* Simple "key value" line files: find 'key', copy its value. */
int cohort__kv_get(const char *text, const char *key, char *out, size_t size);

#endif
