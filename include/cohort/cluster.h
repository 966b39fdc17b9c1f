/*
 * cohort/cluster.h - a handle on a cluster root, its identity, its
 * configuration, and node registration (join, leave, claim).
 *
 * Calling sequence:
 *
 *	cohort_options o = COHORT_OPTIONS_INIT;
 *	o.root = "/mnt/shared/cohort"; o.node = "a";
 *	cohort_cluster_init(id, o.root, NULL);     (once; idempotent, racy-safe)
 *	cohort_cluster_open(&c, &o);               (refuses an unknown format)
 *	cohort_node_join(c, &jo);                  (register this node)
 *	... journal, store, locks ...
 *	cohort_cluster_close(c);
 *
 * Crash safety of init: the identity file 'cohort.id' is written whole to a
 * temporary file and then link()ed to its name.  link() fails if the name
 * exists, so of many concurrent inits exactly one identity appears, and it
 * appears complete; every loser reads and prints the winner's id.  Folders
 * are created before the link, so a root with 'cohort.id' is always whole.
 *
 * Node files: 'nodes/ID/' on the root belongs to node ID alone.  Its
 * 'instance' file says which process (host, boot id, pid, nonce) holds the
 * id; its 'heartbeat' file (fixed size, rewritten in place, inode never
 * changes) shows that the instance is alive.  A second live instance is
 * refused; a dead one (its pid gone on this host, or no heartbeat change
 * observed for 'stale_after' elsewhere) is replaced.
 */
#ifndef COHORT_CLUSTER_H
#define COHORT_CLUSTER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cohort_cluster cohort_cluster;

#define COHORT_UUID_LEN 36
#define COHORT_NODE_ID_MAX 64

typedef struct cohort_options {
	unsigned int version;
	const char *root;  /* cluster root on the shared mount (required) */
	const char *node;  /* this node's id; NULL for node-less commands */
	const char *state; /* node's local state folder; NULL: default */
} cohort_options;

#define COHORT_OPTIONS_VERSION 1
#define COHORT_OPTIONS_INIT { COHORT_OPTIONS_VERSION, NULL, NULL, NULL }

/*
 * Create the cluster at 'root' unless it exists (the folder itself is
 * created if missing).  Writes the cluster id (a UUID v4, 36 characters plus
 * NUL) to 'out_id', whether this call created it or found it.  Safe to run
 * concurrently from many nodes: all print the same id.
 */
int cohort_cluster_init(char out_id[COHORT_UUID_LEN + 1], const char *root);

/*
 * Open an initialized cluster.  '*out' is the caller's and is closed with
 * cohort_cluster_close().  Fails with COHORT_ENOTFOUND when the root holds
 * no cluster, COHORT_EINVAL for an unknown format version, a bad node id or
 * a bad configuration file (the message names the file, line and key).
 */
int cohort_cluster_open(cohort_cluster **out, const cohort_options *opts);

/* Close and free a handle; accepts NULL. Releases a held instance claim. */
void cohort_cluster_close(cohort_cluster *c);

/* Borrowed strings, valid while the handle is open. */
const char *cohort_cluster_id(const cohort_cluster *c);
const char *cohort_cluster_root(const cohort_cluster *c);
const char *cohort_cluster_node(const cohort_cluster *c); /* NULL if none */
const char *cohort_cluster_state(const cohort_cluster *c);

/* 1 if 's' is a valid node id: 1-64 of A-Za-z0-9._- not starting with '.'
 * or '-' (cohort_name_check() in cohort/name.h says what is wrong). */
int cohort_node_id_valid(const char *s);

/*
 * Configuration, from 'cohort.conf' at the root overridden by 'cohort.conf'
 * in the node's state folder.  Getters return the configured value or the
 * documented default; an unknown section/key is a programming error and
 * returns the empty string / 0.  Borrowed.
 */
const char *cohort_config_get(const cohort_cluster *c, const char *section,
			      const char *key);
/* Durations in milliseconds, sizes in bytes, plain integers. */
int64_t cohort_config_get_int(const cohort_cluster *c, const char *section,
			      const char *key);

/* Iterate the documented keys: returns 0 past the end. Static strings. */
int cohort_config_key(unsigned int i, const char **section, const char **key,
		      const char **def, const char **doc);

/* Parse "30s", "15m", "2h", "7d", "250ms" (bare number: seconds). */
int cohort_parse_duration_ms(int64_t *out, const char *s);
/* Parse "4M", "16MiB", "512k", "1G", bare bytes. */
int cohort_parse_size(int64_t *out, const char *s);

typedef struct cohort_join_options {
	unsigned int version;
	int priority;  /* 0-100; -1: keep the registered one (default 50) */
	int from_head; /* start at the current head, not before the tail */
} cohort_join_options;

#define COHORT_JOIN_OPTIONS_VERSION 1
#define COHORT_JOIN_OPTIONS_INIT { COHORT_JOIN_OPTIONS_VERSION, -1, 0 }

/*
 * Register this node (idempotent).  Claims the node id for the calling
 * process for the duration of the call, so a second live instance holding
 * the id makes it fail with COHORT_EEXISTS naming that instance.  A node
 * that left is brought back (live again).
 */
int cohort_node_join(cohort_cluster *c, const cohort_join_options *opts);

/* Deregister: mark the node retired so cleanup no longer waits for it. */
int cohort_node_leave(cohort_cluster *c);

/*
 * Claim the node id for this process until cohort_node_release() or close
 * (what a long-running 'cohort node' does).  COHORT_EEXISTS when another live
 * instance holds it.  While claimed, call cohort_node_heartbeat() every
 * heartbeat interval.
 */
int cohort_node_claim(cohort_cluster *c);
int cohort_node_heartbeat(cohort_cluster *c);
int cohort_node_release(cohort_cluster *c);

/*
 * This node's mode: read-write, or read-only with a reason (cut off from
 * the root, or the main node is stale in 'static' priority mode).  It is
 * kept in the node's state folder, so every process of the node sees it;
 * while read-only, appends, installs and uninstalls of this node fail with
 * COHORT_EREADONLY.  'reason' (may be NULL) gets the reason.
 */
int cohort_node_mode(cohort_cluster *c, int *readonly, char *reason,
		     size_t size);
int cohort_node_set_mode(cohort_cluster *c, int readonly, const char *reason);
/*
 * The same from the node's state folder alone ('o' names the node and its
 * state), without touching the root, which may hang while it is cut off.
 */
int cohort_node_mode_of(const cohort_options *o, int *readonly, char *reason,
			size_t size);

/* Information on a registered node, as read from the root. */
typedef struct cohort_node_info {
	char id[COHORT_NODE_ID_MAX + 1];
	int priority;
	int retired;		   /* left, or retired by the janitor */
	uint64_t revision;	   /* last applied journal revision */
	int revision_rc;	   /* 0, or why the revision file could not
				      be read (COHORT_EIO-like, COHORT_ECORRUPT):
				      'revision' is then unknown, not 0 */
	uint64_t heartbeat_count;  /* counter in the heartbeat file */
	int64_t heartbeat_age_ms;  /* server time since last beat; -1: never */
	int64_t joined_ms;	   /* wall clock of the joining node */
} cohort_node_info;

/*
 * List registered nodes.  '*out' (array of '*count') is the caller's, freed
 * with free().  Order: by id.
 */
int cohort_node_list(cohort_node_info **out, size_t *count, cohort_cluster *c);

#ifdef __cplusplus
}
#endif
#endif
