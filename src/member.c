/*
 * member.c - membership: creating the cluster (init), registering nodes
 * (join, leave, retire), the instance claim and heartbeat, and the list
 * of nodes.  Above the locks and the journal: join writes a new node's
 * first revision under the journal lock.  Protocols and their
 * crash-safety arguments are in cohort/cluster.h and NOTES.md ("Node
 * registration and the instance claim", "Cluster init").
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "cluster.h"
#include "cohort/journal.h"
#include "cohort/lock.h"
#include "journal_format.h"
#include "member.h"
#include "os/os.h"

#define ID_FILE "cohort.id"

/* ---- init --------------------------------------------------------------- */

int cohort_cluster_init(char out_id[COHORT_UUID_LEN + 1], const char *root)
{
	static const char *const dirs[] = { "locks", "nodes", "journal", "store",
					    "jobs", "snapshots" };
	struct cohort__config cfg;
	char path[PATH_MAX], text[256], id[COHORT_UUID_LEN + 1];
	cohort__perm fmode, dmode;
	uuid_t u;
	size_t i;
	int rc, n;

	if (!root || !*root)
		return cohort__error(COHORT_EINVAL, "no root given (use --root "
				     "DIR or COHORT_ROOT)");
	if ((rc = cohort__os_confine(root)) || (rc = cohort__check_root_mode(root)))
		return rc;
	rc = cohort__read_identity(out_id, root);
	if (rc != COHORT_ENOTFOUND)
		return rc;

	/* An operator may have put cohort.conf in place before init. */
	cohort__config_init(&cfg);
	snprintf(path, sizeof(path), "%s/cohort.conf", root);
	rc = cohort__config_load(&cfg, path);
	fmode = cohort__config_perm(&cfg, "file_mode");
	dmode = cohort__config_perm(&cfg, "dir_mode");
	cohort__config_free(&cfg);
	if (rc)
		return rc;

	rc = cohort__os_mkdir_p(root, dmode);
	if (rc || (rc = cohort__check_root_mode(root)))
		return rc;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		if ((rc = cohort__os_mkdir(path, dmode)))
			return rc;
	}
	rc = cohort__journal_create(root, fmode);
	if (rc)
		return rc;

	/* The commit point: link() of a whole identity file.  Exactly one of
	 * many concurrent inits wins; the others read the winner's id. */
	uuid_generate_random(u);
	uuid_unparse_lower(u, id);
	n = snprintf(text, sizeof(text),
		     "cohort-format %d\ncluster %s\ncreated %lld\n",
		     COHORT_FORMAT_VERSION, id,
		     (long long)cohort__os_wall_ms());
	snprintf(path, sizeof(path), "%s/%s", root, ID_FILE);
	rc = cohort__os_create_exclusive(path, text, (size_t)n, fmode,
					 "init", 1);
	if (rc && rc != COHORT_EEXISTS)
		return rc;
	cohort__error_clear();
	return cohort__read_identity(out_id, root);
}

/* ---- this handle's claim ------------------------------------------------ */

/* What a handle holds of its node id (a slot of the handle). */
struct member {
	int claim_fd;	/* flock on state/node.lock, or -1 */
	int hb_fd;	/* heartbeat file, or -1 */
	uint64_t hb_count;
	char nonce[33];	/* of the instance claim */
};

static void *member_make(cohort_cluster *c)
{
	struct member *m = calloc(1, sizeof(*m));

	(void)c;
	if (!m) {
		cohort__error(COHORT_ERROR, "out of memory");
		return NULL;
	}
	m->claim_fd = m->hb_fd = -1;
	return m;
}

/* At cohort_cluster_close(): a claim still held is released. */
static void member_drop(cohort_cluster *c, void *state)
{
	struct member *m = state;

	if (m->claim_fd >= 0)
		(void)cohort_node_release(c);
	cohort__os_close_quiet(m->hb_fd);
	free(m);
}

static struct member *member_of(cohort_cluster *c)
{
	return cohort__slot(c, COHORT__SLOT_MEMBER, member_make, member_drop);
}

/* ---- nodes -------------------------------------------------------------- */

#define HB_SIZE 96

static int node_dir(char *buf, size_t size, const cohort_cluster *c)
{
	return cohort__root_path(buf, size, c, "nodes/%s", c->node);
}

/* Rewrite the heartbeat in place: its inode never changes, so pollers
 * open it by name and read fresh bytes (close-to-open). */
static int heartbeat_write(cohort_cluster *c)
{
	char path[PATH_MAX], buf[HB_SIZE + 1];
	struct member *m = member_of(c);
	int rc;

	if (!m)
		return COHORT_ERROR;
	if ((rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/heartbeat",
				    c->node)))
		return rc;
	if (m->hb_fd < 0 &&
	    (rc = cohort__os_open(&m->hb_fd, path, O_RDWR | O_CREAT | O_NOFOLLOW,
				  cohort__file_mode(c))))
		return rc;
	memset(buf, ' ', sizeof(buf));
	snprintf(buf, sizeof(buf), "cohort-heartbeat %020llu %.32s",
		 (unsigned long long)++m->hb_count, m->nonce);
	buf[strlen(buf)] = ' ';
	buf[HB_SIZE - 1] = '\n';
	buf[HB_SIZE] = '\0';
	rc = cohort__os_pwrite_full(m->hb_fd, buf, HB_SIZE, 0, path);
	if (!rc)
		rc = cohort__publish_sync(c, m->hb_fd, path);
	if (rc) {
		/* Replaced under us (ESTALE) or the mount went away and came
		 * back (ENOTCONN, EIO): the next beat opens the file anew. */
		cohort__os_close_quiet(m->hb_fd);
		m->hb_fd = -1;
	}
	return rc;
}

static int read_small(char *out, size_t size, const char *path)
{
	char *text = NULL;
	size_t len;
	int rc = cohort__os_read_file(&text, &len, path, size - 1);

	if (rc)
		return rc;
	memcpy(out, text, len + 1);
	free(text);
	return 0;
}

int cohort_node_heartbeat(cohort_cluster *c)
{
	int rc = cohort__need_node(c);

	return rc ? rc : heartbeat_write(c);
}

/*
 * Is the instance described by 'inst' alive?  On this host and boot the
 * pid says so; elsewhere, watch its heartbeat for two intervals and a bit
 * (on our own monotonic clock: never compare clocks of two hosts).
 */
static int instance_alive(cohort_cluster *c, const char *inst)
{
	char host[256] = "", boot[64] = "", pid[32] = "", nonce[64] = "";
	char path[PATH_MAX], first[HB_SIZE + 1] = "", now[HB_SIZE + 1];
	int64_t interval, until;

	if (cohort__kv_get(inst, "nonce", nonce, sizeof(nonce)) ||
	    !strcmp(nonce, "released"))
		return 0;
	(void)cohort__kv_get(inst, "host", host, sizeof(host));
	(void)cohort__kv_get(inst, "boot", boot, sizeof(boot));
	(void)cohort__kv_get(inst, "pid", pid, sizeof(pid));
	if (!strcmp(host, cohort__os_host())) {
		if (strcmp(boot, cohort__os_boot_id()))
			return 0; /* from before this host's reboot */
		return strtol(pid, NULL, 10) != (long)getpid() &&
		       cohort__os_pid_alive(strtol(pid, NULL, 10));
	}
	if (cohort__root_path(path, sizeof(path), c, "nodes/%s/heartbeat",
			      c->node))
		return 0;
	interval = cohort__config_num(&c->cfg, "cluster", "heartbeat_interval");
	until = cohort__os_mono_ms() + 2 * interval + 1000;
	(void)read_small(first, sizeof(first), path);
	while (cohort__os_mono_ms() < until) {
		cohort__os_sleep_ms(interval / 4 + 1);
		if (read_small(now, sizeof(now), path) == 0 && strcmp(now, first))
			return 1;
	}
	cohort__error_clear();
	return 0;
}

int cohort_node_claim(cohort_cluster *c)
{
	char path[PATH_MAX], dir[PATH_MAX], inst[1024], text[1024];
	cohort_lock *l = NULL;
	struct member *m;
	int rc, n;

	if ((rc = cohort__need_node(c)))
		return rc;
	if (!(m = member_of(c)))
		return COHORT_ERROR;
	if (m->claim_fd >= 0)
		return 0;
	/* Processes of this host with this state folder: flock. */
	if ((rc = cohort__state_path(path, sizeof(path), c, "node.lock")) ||
	    (rc = cohort__os_open(&m->claim_fd, path,
				  O_RDWR | O_CREAT | O_NOFOLLOW,
				  cohort__file_mode(c))))
		return rc;
	rc = cohort__os_flock(m->claim_fd, LOCK_EX | LOCK_NB, path);
	if (rc) {
		cohort__os_close_quiet(m->claim_fd);
		m->claim_fd = -1;
		if (rc == COHORT_ELOCKED)
			return cohort__error(COHORT_EEXISTS,
					     "node '%s' is held by another live "
					     "process on this host", c->node);
		return rc;
	}
	/* Other hosts: check and write under the node's cluster lock. */
	snprintf(text, sizeof(text), "node.%.58s", c->node);
	if ((rc = cohort_lock_acquire(&l, c, text, -1)))
		goto fail;
	if ((rc = node_dir(dir, sizeof(dir), c)) ||
	    (rc = cohort__os_mkdir(dir, cohort__dir_mode(c))) ||
	    (rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/instance",
				    c->node)))
		goto fail;
	rc = read_small(inst, sizeof(inst), path);
	if (rc == 0 && instance_alive(c, inst)) {
		char host[256] = "?", pid[32] = "?";

		(void)cohort__kv_get(inst, "host", host, sizeof(host));
		(void)cohort__kv_get(inst, "pid", pid, sizeof(pid));
		rc = cohort__error(COHORT_EEXISTS,
				   "node id '%s' is held by a live instance on "
				   "host '%s' (pid %s)", c->node, host, pid);
		goto fail;
	}
	if (rc && rc != COHORT_ENOTFOUND && rc != COHORT_ECORRUPT)
		goto fail;
	cohort__nonce(m->nonce);
	n = snprintf(text, sizeof(text),
		     "nonce %s\nhost %s\nboot %s\npid %ld\nclaimed %lld\n",
		     m->nonce, cohort__os_host(), cohort__os_boot_id(),
		     (long)getpid(), (long long)cohort__os_wall_ms());
	if ((rc = cohort_lock_check(l)) ||
	    (rc = cohort__os_write_atomic(path, text, (size_t)n,
					  cohort__file_mode(c), c->node)))
		goto fail;
	if ((rc = heartbeat_write(c)))
		goto fail;
	rc = cohort_lock_release(l);
	l = NULL;
	if (rc)
		goto fail;
	return 0;
fail:
	(void)cohort_lock_release(l);
	cohort__os_close_quiet(m->claim_fd);
	m->claim_fd = -1;
	return rc;
}

int cohort_node_release(cohort_cluster *c)
{
	char path[PATH_MAX], inst[1024], nonce[64];
	struct member *m = member_of(c);
	int rc = 0;

	if (!m || m->claim_fd < 0)
		return 0;
	if (cohort__root_path(path, sizeof(path), c, "nodes/%s/instance",
			      c->node) == 0 &&
	    read_small(inst, sizeof(inst), path) == 0 &&
	    cohort__kv_get(inst, "nonce", nonce, sizeof(nonce)) == 0 &&
	    !strcmp(nonce, m->nonce)) {
		static const char released[] = "nonce released\n";

		rc = cohort__os_write_atomic(path, released,
					     sizeof(released) - 1,
					     cohort__file_mode(c),
					     c->node);
	}
	cohort__os_close_quiet(m->claim_fd);
	m->claim_fd = -1;
	return rc;
}

int cohort_node_join(cohort_cluster *c, const cohort_join_options *opts)
{
	cohort_join_options def = COHORT_JOIN_OPTIONS_INIT;
	char path[PATH_MAX], text[512], old[512], val[32];
	uint64_t tail = 0, head = 0, start;
	struct member *m = member_of(c);
	int rc, n, priority, had_claim;

	if (!m)
		return COHORT_ERROR;
	had_claim = m->claim_fd >= 0;
	if (!opts)
		opts = &def;
	if (opts->version != COHORT_JOIN_OPTIONS_VERSION)
		return cohort__error(COHORT_EINVAL, "bad join options version");
	if (opts->priority > 100)
		return cohort__error(COHORT_EINVAL,
				     "priority %d is not within 0-100",
				     opts->priority);
	if ((rc = cohort_node_claim(c)))
		return rc;
	priority = (int)cohort__config_num(&c->cfg, "node", "priority");
	if ((rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/node",
				    c->node)))
		goto out;
	if (read_small(old, sizeof(old), path) == 0 &&
	    cohort__kv_get(old, "priority", val, sizeof(val)) == 0)
		priority = atoi(val);
	if (opts->priority >= 0)
		priority = opts->priority;
	n = snprintf(text, sizeof(text), "id %s\npriority %d\njoined %lld\n",
		     c->node, priority, (long long)cohort__os_wall_ms());
	if ((rc = cohort__os_write_atomic(path, text, (size_t)n,
					  cohort__file_mode(c), c->node)))
		goto out;

	/* The revision file: kept on re-join; a new node starts before the
	 * oldest retained record, or at the head with from_head. */
	if ((rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/revision",
				    c->node)))
		goto out;
	rc = read_small(old, sizeof(old), path);
	if (rc == COHORT_ENOTFOUND || opts->from_head) {
		cohort_lock *jl = NULL;

		/* Under the journal lock: the janitor moves the tail under it
		 * too, so the start cannot fall below the tail in between. */
		if ((rc = cohort_lock_acquire(&jl, c, "journal", -1)))
			goto out;
		rc = cohort__journal_bounds(c, &tail, &head);
		/* A new node has applied nothing: revision 0.  When history
		 * was removed it is behind the tail and bootstraps from the
		 * application snapshot (sync --exec-snapshot). */
		start = opts->from_head ? head : 0;
		if (!rc)
			rc = cohort__revision_write(c, start);
		{
			int r2 = cohort_lock_release(jl);

			if (!rc)
				rc = r2;
		}
		if (rc)
			goto out;
	} else if (rc) {
		goto out;
	}
	/* Back from retirement. */
	if ((rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/retired",
				    c->node)))
		goto out;
	rc = cohort__os_unlink(path);
	if (rc == COHORT_ENOTFOUND) {
		cohort__error_clear();
		rc = 0;
	}
out:
	if (!had_claim) {
		int r2 = cohort_node_release(c);

		if (!rc)
			rc = r2;
	}
	return rc;
}

int cohort_node_leave(cohort_cluster *c)
{
	char path[PATH_MAX], text[128];
	int rc;

	if ((rc = cohort__need_node(c)))
		return rc;
	if ((rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/node",
				    c->node)))
		return rc;
	{
		struct cohort__stat st;

		if ((rc = cohort__os_stat(&st, path, 1)))
			return rc == COHORT_ENOTFOUND ?
				cohort__error(COHORT_ENOTFOUND,
					      "node '%s' has not joined",
					      c->node) : rc;
	}
	snprintf(text, sizeof(text), "retired left %lld\n",
		 (long long)cohort__os_wall_ms());
	return cohort__node_retire(c, c->node, text);
}

int cohort__node_retire(cohort_cluster *c, const char *node, const char *why)
{
	char path[PATH_MAX], lockname[COHORT_NODE_ID_MAX + 8];
	cohort_lock *l = NULL;
	int rc, r2;

	if ((rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/retired",
				    node)))
		return rc;
	/* Under the node's lock: the node's own join removes the file. */
	snprintf(lockname, sizeof(lockname), "node.%.58s", node);
	if ((rc = cohort_lock_acquire(&l, c, lockname, -1)))
		return rc;
	rc = cohort__os_write_atomic(path, why, strlen(why),
				     cohort__file_mode(c), c->node);
	r2 = cohort_lock_release(l);
	return rc ? rc : r2;
}

/* The file server's "now": the mtime of a file we just created. */
static int cmp_info(const void *a, const void *b)
{
	return strcmp(((const cohort_node_info *)a)->id,
		      ((const cohort_node_info *)b)->id);
}

int cohort_node_list(cohort_node_info **out, size_t *count, cohort_cluster *c)
{
	char dir[PATH_MAX], path[PATH_MAX], text[512], val[64];
	cohort_node_info *v = NULL, *grown;
	size_t n = 0, cap = 0;
	int64_t now_ns = 0;
	struct dirent *de;
	int rc = 0, have_now;
	DIR *d;

	*out = NULL;
	*count = 0;
	if ((rc = cohort__root_path(dir, sizeof(dir), c, "nodes")))
		return rc;
	have_now = cohort__server_now_ns(&now_ns, c, "nodes") == 0;
	cohort__error_clear();
	d = cohort__os_opendir(dir);
	if (!d)
		return cohort__error_sys(cohort__os_code(errno), errno,
					 "cannot list '%s'", dir);
	while ((de = readdir(d))) {
		cohort_node_info *ni;
		struct cohort__stat st;

		if (!cohort__name_valid(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%.64s/node", dir,
			     de->d_name) >= (int)sizeof(path))
			continue;
		if ((rc = read_small(text, sizeof(text), path))) {
			if (rc != COHORT_ENOTFOUND)
				break; /* unreadable: do not pass it by */
			rc = 0;
			continue; /* not (yet) a node */
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			grown = realloc(v, cap * sizeof(*v));
			if (!grown) {
				rc = cohort__error(COHORT_ERROR, "out of memory");
				break;
			}
			v = grown;
		}
		ni = &v[n++];
		memset(ni, 0, sizeof(*ni));
		snprintf(ni->id, sizeof(ni->id), "%.64s", de->d_name);
		ni->priority = cohort__kv_get(text, "priority", val, sizeof(val)) ?
			50 : atoi(val);
		if (cohort__kv_get(text, "joined", val, sizeof(val)) == 0)
			ni->joined_ms = strtoll(val, NULL, 10);
		if (snprintf(path, sizeof(path), "%s/%.64s/retired", dir,
			     de->d_name) >= (int)sizeof(path))
			continue;
		rc = cohort__os_stat(&st, path, 1);
		ni->retired = rc == 0;
		if (rc && rc != COHORT_ENOTFOUND)
			break;
		rc = 0;
		if (snprintf(path, sizeof(path), "%s/%.64s/heartbeat", dir,
			     de->d_name) >= (int)sizeof(path))
			continue;
		ni->heartbeat_age_ms = -1;
		if (read_small(text, sizeof(text), path) == 0 &&
		    sscanf(text, "cohort-heartbeat %llu",
			   (unsigned long long *)&ni->heartbeat_count) == 1 &&
		    cohort__os_stat(&st, path, 1) == 0 && have_now) {
			int64_t age = (now_ns - st.mtime_ns) / 1000000;

			ni->heartbeat_age_ms = age < 0 ? 0 : age;
		}
		ni->revision = 0;
		ni->revision_rc = cohort_journal_node_revision(c, de->d_name,
							       &ni->revision);
		if (ni->revision_rc == COHORT_ENOTFOUND)
			ni->revision_rc = 0; /* joining: nothing applied yet */
	}
	closedir(d);
	if (rc) {
		free(v);
		return rc;
	}
	cohort__error_clear();
	if (n)
		qsort(v, n, sizeof(*v), cmp_info);
	*out = v;
	*count = n;
	return 0;
}

