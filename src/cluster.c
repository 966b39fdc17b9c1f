/*
 * cluster.c - the cluster root: identity, configuration, node registration
 * and the instance claim.  Protocols and their crash-safety arguments are in
 * cohort/cluster.h and NOTES.md.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "cluster.h"
#include "cohort/journal.h"
#include "os/os.h"

#define ID_FILE "cohort.id"
#define ID_MAX 4096
#define NFS_SUPER_MAGIC 0x6969

/* ---- small helpers ------------------------------------------------------ */

static int vpath(char *buf, size_t size, const char *base, const char *fmt,
		 va_list ap) COHORT__PRINTF(4, 0);
static int vpath(char *buf, size_t size, const char *base, const char *fmt,
		 va_list ap)
{
	int n = snprintf(buf, size, "%s/", base), m;

	if (n < 0 || (size_t)n >= size)
		return cohort__error(COHORT_EINVAL, "path too long under '%s'",
				     base);
	m = vsnprintf(buf + n, size - (size_t)n, fmt, ap);
	if (m < 0 || (size_t)(n + m) >= size)
		return cohort__error(COHORT_EINVAL, "path too long under '%s'",
				     base);
	return 0;
}

int cohort__root_path(char *buf, size_t size, const cohort_cluster *c,
		      const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vpath(buf, size, c->root, fmt, ap);
	va_end(ap);
	return rc;
}

int cohort__state_path(char *buf, size_t size, const cohort_cluster *c,
		       const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (!c->state)
		return cohort__need_node(c);
	va_start(ap, fmt);
	rc = vpath(buf, size, c->state, fmt, ap);
	va_end(ap);
	return rc;
}

int cohort__need_node(const cohort_cluster *c)
{
	if (c->node)
		return 0;
	return cohort__error(COHORT_EINVAL,
			     "no node id given (use --node ID or COHORT_NODE)");
}

void cohort__nonce(char out[33])
{
	unsigned char r[16];
	int i;

	cohort__os_random(r, sizeof(r));
	for (i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", r[i]);
	out[32] = '\0';
}

int cohort__publish_sync(const cohort_cluster *c, int fd, const char *path)
{
	/* An NFS client keeps writes in its cache until a sync or close;
	 * local filesystems and FUSE views show a write to all at once. */
	if (!c->nfs)
		return 0;
	return cohort__os_fdatasync(fd, path);
}

cohort__perm cohort__config_perm(const struct cohort__config *cfg,
				 const char *key)
{
	mode_t mode = (mode_t)cohort__config_num(cfg, "cluster", key);
	int64_t gid = cohort__config_num(cfg, "cluster", "group");

	/* group = (empty): -1, the creating process's group */
	return gid < 0 ? (cohort__perm)mode : COHORT__PERM(mode, (gid_t)gid);
}

cohort__perm cohort__file_mode(const cohort_cluster *c)
{
	return cohort__config_perm(&c->cfg, "file_mode");
}

cohort__perm cohort__dir_mode(const cohort_cluster *c)
{
	return cohort__config_perm(&c->cfg, "dir_mode");
}

/* cohort__name_valid() and cohort_node_id_valid() are in name.c. */

int cohort__kv_get(const char *text, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);

		if (ll > kl && !strncmp(p, key, kl) && p[kl] == ' ') {
			size_t vl = ll - kl - 1;

			if (vl >= size)
				return COHORT_EINVAL;
			memcpy(out, p + kl + 1, vl);
			out[vl] = '\0';
			return 0;
		}
		p = eol ? eol + 1 : NULL;
	}
	return COHORT_ENOTFOUND;
}

/* ---- identity ----------------------------------------------------------- */

static int uuid_valid(const char *s)
{
	uuid_t u;

	return strlen(s) == COHORT_UUID_LEN && uuid_parse(s, u) == 0;
}

/*
 * A root any local user may write to, without the sticky bit, lets any of
 * them replace cohort's files: refuse it.
 */
static int check_root_mode(const char *root)
{
	struct cohort__stat st;

	if (cohort__os_stat(&st, root, 0))
		return 0; /* missing: the caller says so */
	if ((st.mode & 0002) && !(st.mode & 01000))
		return cohort__error(COHORT_EINVAL,
				     "'%s' is writable by every user and has no "
				     "sticky bit: any local user could replace "
				     "cohort's files (chmod o-w '%s')", root, root);
	return 0;
}

/* Read and check cohort.id; 'out' gets the cluster id. */
static int read_identity(char out[COHORT_UUID_LEN + 1], const char *root)
{
	char path[PATH_MAX], ver[32], id[64];
	char *text = NULL;
	size_t len;
	long v;
	int rc;

	if (snprintf(path, sizeof(path), "%s/%s", root, ID_FILE) >= (int)sizeof(path))
		return cohort__error(COHORT_EINVAL, "path too long: '%s'", root);
	rc = cohort__os_read_file(&text, &len, path, ID_MAX);
	if (rc == COHORT_ENOTFOUND)
		return cohort__error(COHORT_ENOTFOUND,
				     "'%s' is not a cohort root (no '%s'; run "
				     "'cohort init')", root, ID_FILE);
	if (rc)
		return rc;
	if (strncmp(text, "cohort-format ", 14) ||
	    cohort__kv_get(text, "cohort-format", ver, sizeof(ver)) ||
	    cohort__kv_get(text, "cluster", id, sizeof(id))) {
		free(text);
		return cohort__error(COHORT_ECORRUPT,
				     "'%s' is not a cohort identity file", path);
	}
	free(text);
	v = strtol(ver, NULL, 10);
	if (v != COHORT_FORMAT_VERSION)
		return cohort__error(COHORT_EINVAL,
				     "'%s' has format version %s; this cohort "
				     "(%s) reads version %d only", root, ver,
				     COHORT_VERSION, COHORT_FORMAT_VERSION);
	if (!uuid_valid(id))
		return cohort__error(COHORT_ECORRUPT,
				     "'%s' holds a bad cluster id '%s'", path, id);
	memcpy(out, id, COHORT_UUID_LEN + 1);
	return 0;
}

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
	if ((rc = cohort__os_confine(root)) || (rc = check_root_mode(root)))
		return rc;
	rc = read_identity(out_id, root);
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
	if (rc || (rc = check_root_mode(root)))
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
	return read_identity(out_id, root);
}

/* ---- open / close ------------------------------------------------------- */

static int default_state(char **out, const char *node)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char buf[PATH_MAX];
	int n;

	if (xdg && *xdg == '/')
		n = snprintf(buf, sizeof(buf), "%s/cohort/%s", xdg, node);
	else if (home && *home)
		n = snprintf(buf, sizeof(buf), "%s/.local/state/cohort/%s",
			     home, node);
	else
		return cohort__error(COHORT_EINVAL,
				     "no state folder: set --state, COHORT_STATE, "
				     "XDG_STATE_HOME or HOME");
	if (n < 0 || n >= (int)sizeof(buf))
		return cohort__error(COHORT_EINVAL, "state path too long");
	*out = strdup(buf);
	return *out ? 0 : cohort__error(COHORT_ERROR, "out of memory");
}

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

static void resolve_lock_mode(cohort_cluster *c)
{
	const char *m = cohort__config_str(&c->cfg, "cluster", "lock_mode");

	if (!strcmp(m, "fcntl"))
		c->lock_mode = COHORT_LOCK_FCNTL;
	else if (!strcmp(m, "lease"))
		c->lock_mode = COHORT_LOCK_LEASE;
	else if (!strcmp(m, "both"))
		c->lock_mode = COHORT_LOCK_BOTH;
	else if (has_option(c->mntopts, "nolock") ||
		 has_option(c->mntopts, "local_lock"))
		/* NFS fact 7: fcntl locks exclude only this client here. */
		c->lock_mode = COHORT_LOCK_LEASE;
	else
		c->lock_mode = COHORT_LOCK_BOTH;
	if (!strcmp(m, "auto") && has_option(c->mntopts, "local_lock") &&
	    strstr(c->mntopts, "local_lock=none"))
		c->lock_mode = COHORT_LOCK_BOTH;
}

int cohort_cluster_open(cohort_cluster **out, const cohort_options *opts)
{
	cohort_cluster *c;
	struct statfs sfs;
	char path[PATH_MAX];
	int rc;

	*out = NULL;
	if (!opts || opts->version != COHORT_OPTIONS_VERSION)
		return cohort__error(COHORT_EINVAL, "bad options version");
	if (!opts->root || !*opts->root)
		return cohort__error(COHORT_EINVAL, "no root given (use --root "
				     "DIR or COHORT_ROOT)");
	if (opts->node && (rc = cohort_name_check(COHORT_NAME_NODE, opts->node)))
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return cohort__error(COHORT_ERROR, "out of memory");
	c->claim_fd = c->hb_fd = -1;
	pthread_mutex_init(&c->ofd_mu, NULL);
	pthread_mutex_init(&c->ref_mu, NULL);
	{
		/* The refresher sleeps on the monotonic clock: a wall clock
		 * step must not make it miss (or rush) refreshes. */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->ref_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	cohort__config_init(&c->cfg);
	c->root = strdup(opts->root);
	if (!c->root) {
		rc = cohort__error(COHORT_ERROR, "out of memory");
		goto fail;
	}
	if (opts->node) {
		c->node = strdup(opts->node);
		if (opts->state && *opts->state)
			c->state = strdup(opts->state);
		else if ((rc = default_state(&c->state, opts->node)))
			goto fail;
		if (!c->node || !c->state) {
			rc = cohort__error(COHORT_ERROR, "out of memory");
			goto fail;
		}
	}
	/* Below the root and the state folder no link is followed (os.h). */
	if ((rc = cohort__os_confine(c->root)) ||
	    (rc = cohort__os_confine(c->state)))
		goto fail;
	rc = check_root_mode(c->root);
	if (!rc)
		rc = read_identity(c->id, c->root);
	if (rc && c->node && cohort__os_errno_is_cutoff(errno)) {
		/* The root does not answer: if 'cohort node' has put this
		 * node in read-only mode, say that, with its reason. */
		char msg[1024], reason[1024];
		int ro = 0;

		snprintf(msg, sizeof(msg), "%s", cohort_error_last());
		if (cohort_node_mode(c, &ro, reason, sizeof(reason)) == 0 && ro)
			rc = cohort__error(COHORT_EREADONLY,
					   "node '%s' is read-only: %s", c->node,
					   reason[0] ? reason : msg);
		else
			cohort__error(rc, "%s", msg);
	}
	if (rc)
		goto fail;
	snprintf(path, sizeof(path), "%s/cohort.conf", c->root);
	if ((rc = cohort__config_load(&c->cfg, path)))
		goto fail;
	if (c->state) {
		snprintf(path, sizeof(path), "%s/cohort.conf", c->state);
		if ((rc = cohort__config_load(&c->cfg, path)))
			goto fail;
		if ((rc = cohort__os_mkdir_p(c->state, cohort__dir_mode(c))))
			goto fail;
	}
	if (cohort__os_mount_info(c->root, c->fstype, sizeof(c->fstype),
				  c->mntopts, sizeof(c->mntopts)))
		cohort__error_clear();
	c->nfs = statfs(c->root, &sfs) == 0 && sfs.f_type == NFS_SUPER_MAGIC;
	resolve_lock_mode(c);
	*out = c;
	return 0;
fail:
	cohort_cluster_close(c);
	return rc;
}

void cohort_cluster_close(cohort_cluster *c)
{
	if (!c)
		return;
	if (c->claim_fd >= 0)
		(void)cohort_node_release(c);
	cohort__lock_refresher_stop(c);
	pthread_mutex_destroy(&c->ref_mu);
	pthread_cond_destroy(&c->ref_cv);
	cohort__os_close_quiet(c->hb_fd);
	{
		unsigned int i;

		for (i = 0; i < c->nofd; i++)
			cohort__os_close_quiet(c->ofd[i].fd);
		pthread_mutex_destroy(&c->ofd_mu);
	}
	cohort__config_free(&c->cfg);
	free(c->root);
	free(c->node);
	free(c->state);
	free(c);
}

const char *cohort_cluster_id(const cohort_cluster *c) { return c->id; }
const char *cohort_cluster_root(const cohort_cluster *c) { return c->root; }
const char *cohort_cluster_node(const cohort_cluster *c) { return c->node; }
const char *cohort_cluster_state(const cohort_cluster *c) { return c->state; }

const char *cohort_config_get(const cohort_cluster *c, const char *section,
			      const char *key)
{
	return cohort__config_str(&c->cfg, section, key);
}

int64_t cohort_config_get_int(const cohort_cluster *c, const char *section,
			      const char *key)
{
	return cohort__config_num(&c->cfg, section, key);
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
	int rc;

	if ((rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/heartbeat",
				    c->node)))
		return rc;
	if (c->hb_fd < 0 &&
	    (rc = cohort__os_open(&c->hb_fd, path, O_RDWR | O_CREAT | O_NOFOLLOW,
				  cohort__file_mode(c))))
		return rc;
	memset(buf, ' ', sizeof(buf));
	snprintf(buf, sizeof(buf), "cohort-heartbeat %020llu %.32s",
		 (unsigned long long)++c->hb_count, c->nonce);
	buf[strlen(buf)] = ' ';
	buf[HB_SIZE - 1] = '\n';
	buf[HB_SIZE] = '\0';
	rc = cohort__os_pwrite_full(c->hb_fd, buf, HB_SIZE, 0, path);
	if (!rc)
		rc = cohort__publish_sync(c, c->hb_fd, path);
	if (rc) {
		/* Replaced under us (ESTALE) or the mount went away and came
		 * back (ENOTCONN, EIO): the next beat opens the file anew. */
		cohort__os_close_quiet(c->hb_fd);
		c->hb_fd = -1;
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
	int rc, n;

	if ((rc = cohort__need_node(c)))
		return rc;
	if (c->claim_fd >= 0)
		return 0;
	/* Processes of this host with this state folder: flock. */
	if ((rc = cohort__state_path(path, sizeof(path), c, "node.lock")) ||
	    (rc = cohort__os_open(&c->claim_fd, path,
				  O_RDWR | O_CREAT | O_NOFOLLOW,
				  cohort__file_mode(c))))
		return rc;
	rc = cohort__os_flock(c->claim_fd, LOCK_EX | LOCK_NB, path);
	if (rc) {
		cohort__os_close_quiet(c->claim_fd);
		c->claim_fd = -1;
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
	cohort__nonce(c->nonce);
	n = snprintf(text, sizeof(text),
		     "nonce %s\nhost %s\nboot %s\npid %ld\nclaimed %lld\n",
		     c->nonce, cohort__os_host(), cohort__os_boot_id(),
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
	cohort__os_close_quiet(c->claim_fd);
	c->claim_fd = -1;
	return rc;
}

int cohort_node_release(cohort_cluster *c)
{
	char path[PATH_MAX], inst[1024], nonce[64];
	int rc = 0;

	if (c->claim_fd < 0)
		return 0;
	if (cohort__root_path(path, sizeof(path), c, "nodes/%s/instance",
			      c->node) == 0 &&
	    read_small(inst, sizeof(inst), path) == 0 &&
	    cohort__kv_get(inst, "nonce", nonce, sizeof(nonce)) == 0 &&
	    !strcmp(nonce, c->nonce)) {
		static const char released[] = "nonce released\n";

		rc = cohort__os_write_atomic(path, released,
					     sizeof(released) - 1,
					     cohort__file_mode(c),
					     c->node);
	}
	cohort__os_close_quiet(c->claim_fd);
	c->claim_fd = -1;
	return rc;
}

int cohort_node_join(cohort_cluster *c, const cohort_join_options *opts)
{
	cohort_join_options def = COHORT_JOIN_OPTIONS_INIT;
	char path[PATH_MAX], text[512], old[512], val[32];
	uint64_t tail = 0, head = 0, start;
	int rc, n, priority, had_claim = c->claim_fd >= 0;

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
int cohort__server_now_ns(int64_t *out, cohort_cluster *c, const char *dir)
{
	char target[PATH_MAX], tmp[PATH_MAX];
	struct cohort__stat st;
	int fd, rc;

	if ((rc = cohort__root_path(target, sizeof(target), c, "%s/clock", dir)))
		return rc;
	rc = cohort__os_temp_open(&fd, tmp, sizeof(tmp), target, 0600,
				  c->node ? c->node : "-");
	if (rc)
		return rc;
	rc = cohort__os_fstat(&st, fd, tmp);
	cohort__os_close_quiet(fd);
	(void)cohort__sys.unlink(tmp);
	cohort__os_temp_done(tmp);
	if (!rc)
		*out = st.mtime_ns;
	return rc;
}

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

/* ---- read-only mode ----------------------------------------------------- */

int cohort_node_mode(cohort_cluster *c, int *readonly, char *reason,
		     size_t size)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	int rc;

	*readonly = 0;
	if (reason && size)
		reason[0] = '\0';
	if (!c->node)
		return 0;
	if ((rc = cohort__state_path(path, sizeof(path), c, "mode")))
		return rc;
	rc = cohort__os_read_file(&text, &len, path, 4096);
	if (rc == COHORT_ENOTFOUND) {
		cohort__error_clear();
		return 0;
	}
	if (rc)
		return rc;
	if (!strncmp(text, "ro", 2) && (text[2] == '\n' || text[2] == ' ' ||
					 !text[2])) {
		*readonly = 1;
		if (reason && size) {
			const char *r = text[2] ? text + 3 : "";

			snprintf(reason, size, "%.*s", (int)strcspn(r, "\n"), r);
		}
	}
	free(text);
	return 0;
}

int cohort_node_set_mode(cohort_cluster *c, int readonly, const char *reason)
{
	char path[PATH_MAX], text[1100];
	int rc, n;

	if ((rc = cohort__need_node(c)) ||
	    (rc = cohort__state_path(path, sizeof(path), c, "mode")))
		return rc;
	n = snprintf(text, sizeof(text), "%s%s%.1000s\n", readonly ? "ro" : "rw",
		     readonly && reason ? " " : "",
		     readonly && reason ? reason : "");
	return cohort__os_write_atomic(path, text, (size_t)n,
				       cohort__file_mode(c), c->node);
}

int cohort__readonly_check(cohort_cluster *c)
{
	char reason[1024];
	int ro, rc;

	if ((rc = cohort_node_mode(c, &ro, reason, sizeof(reason))))
		return rc;
	if (ro)
		return cohort__error(COHORT_EREADONLY,
				     "node '%s' is read-only: %s", c->node,
				     reason[0] ? reason : "(no reason given)");
	return 0;
}

/* ---- lock files --------------------------------------------------------- */

int cohort__lock_file_fd(cohort_cluster *c, const char *name, const char *path,
			 int *owned)
{
	unsigned int i;
	int fd = -1, rc;

	*owned = 0;
	pthread_mutex_lock(&c->ofd_mu);
	for (i = 0; i < c->nofd; i++)
		if (!strcmp(c->ofd[i].name, name)) {
			fd = c->ofd[i].fd;
			break;
		}
	if (fd < 0) {
		rc = cohort__os_open(&fd, path, O_RDWR | O_CREAT | O_NOFOLLOW,
				     cohort__file_mode(c));
		if (rc) {
			pthread_mutex_unlock(&c->ofd_mu);
			return -1;
		}
		if (c->nofd < sizeof(c->ofd) / sizeof(c->ofd[0])) {
			snprintf(c->ofd[c->nofd].name, sizeof(c->ofd[0].name),
				 "%s", name);
			c->ofd[c->nofd++].fd = fd;
		} else {
			*owned = 1; /* table full: the lock closes it */
		}
	}
	pthread_mutex_unlock(&c->ofd_mu);
	return fd;
}

int cohort_node_mode_of(const cohort_options *o, int *readonly, char *reason,
			size_t size)
{
	cohort_cluster c;
	int rc;

	*readonly = 0;
	if (!o || o->version != COHORT_OPTIONS_VERSION || !o->node)
		return 0;
	if ((rc = cohort_name_check(COHORT_NAME_NODE, o->node)))
		return rc;
	memset(&c, 0, sizeof(c));
	c.node = (char *)(uintptr_t)o->node;
	if (o->state && *o->state)
		c.state = (char *)(uintptr_t)o->state;
	else if ((rc = default_state(&c.state, o->node)))
		return rc;
	rc = cohort_node_mode(&c, readonly, reason, size);
	if (!(o->state && *o->state))
		free(c.state);
	return rc;
}

int64_t cohort__lock_yield_until(cohort_cluster *c, const char *name,
				 int64_t set)
{
	int64_t until = 0;
	unsigned int i;

	pthread_mutex_lock(&c->ofd_mu);
	for (i = 0; i < c->nyield; i++)
		if (!strcmp(c->yield[i].name, name))
			break;
	if (i == c->nyield && set &&
	    c->nyield < sizeof(c->yield) / sizeof(c->yield[0])) {
		snprintf(c->yield[i].name, sizeof(c->yield[0].name), "%s", name);
		c->yield[i].until = 0;
		c->nyield++;
	}
	if (i < c->nyield) {
		if (set)
			c->yield[i].until = set;
		until = c->yield[i].until;
	}
	pthread_mutex_unlock(&c->ofd_mu);
	return until;
}
