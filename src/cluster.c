/*
 * cluster.c - the cluster handle: identity, configuration, paths under the
 * root and the state folder, the node's mode (STATE/mode) and the file
 * server's clock.  The bottom layer: it calls neither the locks nor the
 * journal.  What the layers above keep per handle (lock.c, member.c) hangs
 * on it as a slot, freed at close.  Protocols and their crash-safety
 * arguments are in cohort/cluster.h and NOTES.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "cluster.h"
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
int cohort__check_root_mode(const char *root)
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
int cohort__read_identity(char out[COHORT_UUID_LEN + 1], const char *root)
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
	pthread_mutex_init(&c->slot_mu, NULL);
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
	rc = cohort__check_root_mode(c->root);
	if (!rc)
		rc = cohort__read_identity(c->id, c->root);
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
	*out = c;
	return 0;
fail:
	cohort_cluster_close(c);
	return rc;
}

void cohort_cluster_close(cohort_cluster *c)
{
	int s;

	if (!c)
		return;
	for (s = COHORT__SLOT_COUNT - 1; s >= 0; s--) {
		if (!c->slot[s].state)
			continue;
		/* The state stays findable while it is dropped: a claim's
		 * release looks it up. */
		c->slot[s].drop(c, c->slot[s].state);
		c->slot[s].state = NULL;
	}
	pthread_mutex_destroy(&c->slot_mu);
	cohort__config_free(&c->cfg);
	free(c->root);
	free(c->node);
	free(c->state);
	free(c);
}

void *cohort__slot(cohort_cluster *c, enum cohort__slot s,
		   void *(*make)(cohort_cluster *c),
		   void (*drop)(cohort_cluster *c, void *state))
{
	void *state;

	pthread_mutex_lock(&c->slot_mu);
	if (!c->slot[s].state && (c->slot[s].state = make(c)))
		c->slot[s].drop = drop;
	state = c->slot[s].state;
	pthread_mutex_unlock(&c->slot_mu);
	return state;
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

