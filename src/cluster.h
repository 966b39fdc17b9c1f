/*
 * cluster.h - the cluster handle's insides and what the layers above take
 * from cluster.c (internal): paths under the root and the state folder,
 * configuration, permissions, the mode check, the file server's clock.
 * Layers, bottom up: cluster.c; lock.c; journal.c; then member.c (init,
 * join, claim), store, snapshots, janitor, fsck and the node runtime.
 * Nothing here calls upward: per-handle state of the layers above hangs
 * on the handle as a slot.
 */
#ifndef COHORT_CLUSTER_INT_H
#define COHORT_CLUSTER_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "cohort/cluster.h"
#include "config.h"
#include "error.h"
#include "name.h"
#include "os/os.h"

/*
 * State the layers above keep per handle, made on first use by
 * cohort__slot() and freed at cohort_cluster_close(), the highest slot
 * first (a node's claim is released before its locks' refresher stops).
 */
enum cohort__slot {
	COHORT__SLOT_LOCK,	/* lock.c: lock files, fairness, refresher */
	COHORT__SLOT_MEMBER,	/* member.c: the instance claim, heartbeat */
	COHORT__SLOT_COMMITTER,	/* committer.c: connections to the node's
				   committer */
	COHORT__SLOT_COUNT
};

struct cohort_cluster {
	char *root;
	char *node;   /* NULL when opened without a node id */
	char *state;  /* local state folder; NULL without a node id */
	char id[COHORT_UUID_LEN + 1];
	struct cohort__config cfg;
	char fstype[64];
	char mntopts[1024];
	int nfs;			/* root is on an NFS client mount */
	pthread_mutex_t slot_mu;
	struct {
		void *state;
		void (*drop)(cohort_cluster *c, void *state);
	} slot[COHORT__SLOT_COUNT];
};

/*
 * The handle's state for slot 's': made with 'make' (which sets an error
 * and returns NULL on failure) the first time, freed with 'drop' at close.
 * NULL only when 'make' failed.
 */
void *cohort__slot(cohort_cluster *c, enum cohort__slot s,
		   void *(*make)(cohort_cluster *c),
		   void (*drop)(cohort_cluster *c, void *state));

/* Refuse a root any local user may write to (no sticky bit). */
int cohort__check_root_mode(const char *root);
/* Read and check ROOT/cohort.id; 'out' gets the cluster id. */
int cohort__read_identity(char out[COHORT_UUID_LEN + 1], const char *root);

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

/* The file server's clock (ns): the mtime of a file just created under
 * the root folder 'dir' (relative). */
int cohort__server_now_ns(int64_t *out, cohort_cluster *c, const char *dir);

/* COHORT_EREADONLY (with the reason) when this node is read-only. */
int cohort__readonly_check(cohort_cluster *c);

/* Simple "key value" line files: find 'key', copy its value. */
int cohort__kv_get(const char *text, const char *key, char *out, size_t size);

#endif
