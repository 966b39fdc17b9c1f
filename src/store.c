/*
 * store.c - the extension store: content-addressed blobs, the installed
 * index (journal records + a snapshot), install/uninstall, cat and
 * materialize.  The protocol is described at the top of cohort/store.h
 * and in NOTES.md ("Extension store").
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json.h>
#include <xxhash.h>

#include "cluster.h"
#include "cohort/journal.h"
#include "cohort/lock.h"
#include "cohort/store.h"
#include "os/os.h"
#include "package.h"
#include "store_gc.h"
#include "store_int.h"

#define COPY_CHUNK (1u << 20)
#define INDEX_MAX (256u << 20)
#define MANIFEST_NAME ".cohort-materialized"
/* Longest 'ID-VERSION.EXT': its temporary file '.NAME.tmp.NODE.PID.RANDOM'
 * (node id up to 64, pid up to 7 digits, 12 hex digits) fits in 255. */
#define MATERIALIZED_NAME_MAX (255 - 1 - 5 - COHORT_NODE_ID_MAX - 1 - 7 - 1 - 12)

struct cohort_store {
	cohort_cluster *c;
	cohort_journal *j;
	char blobs[PATH_MAX];
	char index_path[PATH_MAX];
	unsigned char *buf; /* COPY_CHUNK scratch */
	/* lost records the last index load replayed past (0: none) */
	uint64_t lost_first, lost_last;
};

/* The index in memory: what is installed, as of revision 'rev'. */
struct index {
	cohort_package *v;
	size_t n, cap;
	uint64_t rev;
};

/* ---- packages ----------------------------------------------------------- */

void cohort_package_clear(cohort_package *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->ndeps; i++)
		free(p->deps[i]);
	free(p->deps);
	p->deps = NULL;
	p->ndeps = 0;
}

void cohort_package_list_free(cohort_package *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cohort_package_clear(&v[i]);
	free(v);
}

static int copy_package(cohort_package *dst, const cohort_package *src)
{
	size_t i;

	*dst = *src;
	dst->deps = NULL;
	dst->ndeps = 0;
	if (!src->ndeps)
		return 0;
	dst->deps = calloc(src->ndeps, sizeof(char *));
	if (!dst->deps)
		return cohort__error(COHORT_ERROR, "out of memory");
	for (i = 0; i < src->ndeps; i++) {
		dst->deps[i] = strdup(src->deps[i]);
		if (!dst->deps[i]) {
			dst->ndeps = i;
			cohort_package_clear(dst);
			return cohort__error(COHORT_ERROR, "out of memory");
		}
	}
	dst->ndeps = src->ndeps;
	return 0;
}

static void index_free(struct index *ix)
{
	cohort_package_list_free(ix->v, ix->n);
	memset(ix, 0, sizeof(*ix));
}

static long index_find(const struct index *ix, const char *ns, const char *id)
{
	size_t i;

	for (i = 0; i < ix->n; i++)
		if (!strcmp(ix->v[i].ns, ns) && !strcmp(ix->v[i].id, id))
			return (long)i;
	return -1;
}

static void index_remove(struct index *ix, size_t at)
{
	cohort_package_clear(&ix->v[at]);
	memmove(&ix->v[at], &ix->v[at + 1], (ix->n - at - 1) * sizeof(ix->v[0]));
	ix->n--;
}

/* Takes ownership of p's deps. */
static int index_put(struct index *ix, cohort_package *p)
{
	long at = index_find(ix, p->ns, p->id);

	if (at >= 0)
		index_remove(ix, (size_t)at);
	if (ix->n == ix->cap) {
		size_t cap = ix->cap ? ix->cap * 2 : 32;
		cohort_package *g = realloc(ix->v, cap * sizeof(*g));

		if (!g) {
			cohort_package_clear(p);
			return cohort__error(COHORT_ERROR, "out of memory");
		}
		ix->v = g;
		ix->cap = cap;
	}
	ix->v[ix->n++] = *p;
	return 0;
}

/* ---- JSON of a package (journal records and the snapshot) ---------------- */

static json_object *package_json(const cohort_package *p, int full)
{
	json_object *o = json_object_new_object(), *deps;
	size_t i;

	json_object_object_add(o, "id", json_object_new_string(p->id));
	json_object_object_add(o, "ns", p->ns[0] ? json_object_new_string(p->ns) : NULL);
	if (!full)
		return o;
	json_object_object_add(o, "version", json_object_new_string(p->version));
	json_object_object_add(o, "dependency", json_object_new_boolean(p->dependency));
	json_object_object_add(o, "hash", json_object_new_string(p->hash));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)p->size));
	json_object_object_add(o, "ext", json_object_new_string(p->ext));
	json_object_object_add(o, "installed", json_object_new_int64(p->installed_ms));
	json_object_object_add(o, "rev", json_object_new_int64((int64_t)p->rev));
	deps = json_object_new_array();
	for (i = 0; i < p->ndeps; i++)
		json_object_array_add(deps, json_object_new_string(p->deps[i]));
	json_object_object_add(o, "deps", deps);
	return o;
}

/* A JSON string as a C string, NULL if it holds a NUL ("a\u0000b" would
 * read as "a"). */
static const char *c_string(json_object *v)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return (size_t)json_object_get_string_len(v) == strlen(s) ? s : NULL;
}

static int get_str(char *out, size_t size, json_object *o, const char *key,
		   int required)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		out[0] = '\0';
		return required ? -1 : 0;
	}
	s = c_string(v);
	if (!s || strlen(s) >= size)
		return -1;
	strcpy(out, s);
	return 0;
}

/* An integer, 0 when absent or null; -1 for any other type (json-c would
 * read a string, a double or a boolean as a number too). */
static int get_int(int64_t *out, json_object *o, const char *key)
{
	json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	return 0;
}

/*
 * Parse a package from JSON text: one object and nothing after it (the
 * tokener stops at the end of the first object, so "{...} x" or
 * "{...}{...}" would pass), each field of the type package_json() writes;
 * validates every name, the dependencies' too.
 */
static int package_parse(cohort_package *p, const char *text, size_t len,
			 int full)
{
	json_tokener *tok = json_tokener_new();
	json_object *o, *deps = NULL, *v;
	int64_t size = 0, rev = 0;
	size_t i, n, end;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	if (!tok || len > INT_MAX) {
		json_tokener_free(tok);
		return -1;
	}
	o = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object) || end != len) {
		json_object_put(o);
		return -1;
	}
	if (get_str(p->id, sizeof(p->id), o, "id", 1) ||
	    get_str(p->ns, sizeof(p->ns), o, "ns", 0) ||
	    !cohort__pkg_name_valid(p->id, COHORT_PKG_ID_MAX) ||
	    (p->ns[0] && !cohort__pkg_name_valid(p->ns, COHORT_PKG_ID_MAX)))
		rc = -1;
	if (!rc && full) {
		if (get_str(p->version, sizeof(p->version), o, "version", 1) ||
		    get_str(p->hash, sizeof(p->hash), o, "hash", 1) ||
		    get_str(p->ext, sizeof(p->ext), o, "ext", 1) ||
		    !cohort__pkg_name_valid(p->version, COHORT_PKG_VERSION_MAX) ||
		    strlen(p->hash) != 32 ||
		    strspn(p->hash, "0123456789abcdef") != 32 ||
		    strspn(p->ext, "abcdefghijklmnopqrstuvwxyz0123456789.") !=
			    strlen(p->ext) || !p->ext[0] || p->ext[0] == '.')
			rc = -1;
		if (get_int(&size, o, "size") ||
		    get_int(&p->installed_ms, o, "installed") ||
		    get_int(&rev, o, "rev"))
			rc = -1;
		p->size = (uint64_t)size;
		p->rev = (uint64_t)rev;
		if (json_object_object_get_ex(o, "dependency", &v) &&
		    !json_object_is_type(v, json_type_null)) {
			if (!json_object_is_type(v, json_type_boolean))
				rc = -1;
			p->dependency = json_object_get_boolean(v);
		}
		if (!rc && json_object_object_get_ex(o, "deps", &deps) &&
		    !json_object_is_type(deps, json_type_null) &&
		    !json_object_is_type(deps, json_type_array))
			rc = -1;
		if (!rc && json_object_is_type(deps, json_type_array) &&
		    (n = json_object_array_length(deps)) > 0) {
			p->deps = calloc(n, sizeof(char *));
			if (!p->deps)
				rc = -1;
			for (i = 0; !rc && i < n; i++) {
				const char *d = c_string(
					json_object_array_get_idx(deps, i));

				if (!d ||
				    !cohort__pkg_name_valid(d, COHORT_PKG_ID_MAX) ||
				    !(p->deps[i] = strdup(d)))
					rc = -1;
				else
					p->ndeps = i + 1;
			}
		}
	}
	json_object_put(o);
	if (rc)
		cohort_package_clear(p);
	return rc;
}

/* ---- the index: snapshot + journal --------------------------------------- */

/*
 * Parse the snapshot's 'len' bytes at 'text' (NUL-terminated at 'len')
 * into 'ix'; 'path' names it in messages.  The sum is the 16 lowercase hex
 * digits snapshot_format() writes and the revision plain digits that fit:
 * strtoull() would take "0x..", "-1" or "12junk" and saturate on overflow.
 */
static int snapshot_parse(struct index *ix, const char *text, size_t len,
			  const char *path)
{
	char sum[32], *rev_end;
	const char *line, *end, *sumline;
	uint64_t rev;
	int rc;

	(void)len;
	sumline = strstr(text, "\nsum ");
	if (strncmp(text, "cohort-index 1\nrev ", 19) || !sumline ||
	    cohort__kv_get(sumline + 1, "sum", sum, sizeof(sum)) ||
	    strlen(sum) != 16 || strspn(sum, "0123456789abcdef") != 16 ||
	    strtoull(sum, NULL, 16) != XXH3_64bits(text, (size_t)(sumline + 1 - text)))
		return cohort__error(COHORT_ECORRUPT,
				     "index snapshot '%s' is damaged: run 'cohort "
				     "fsck --repair'", path);
	errno = 0;
	rev = strtoull(text + 19, &rev_end, 10);
	if (text[19] < '0' || text[19] > '9' || *rev_end != '\n' || errno)
		return cohort__error(COHORT_ECORRUPT,
				     "index snapshot '%s' is damaged: run 'cohort "
				     "fsck --repair'", path);
	ix->rev = rev;
	line = rev_end;
	while (line && line + 1 < sumline + 1) {
		cohort_package p;

		line++;
		end = strchr(line, '\n');
		if (!end || end > sumline)
			break;
		if (package_parse(&p, line, (size_t)(end - line), 1))
			return cohort__error(COHORT_ECORRUPT,
					     "index snapshot '%s' holds a bad "
					     "entry", path);
		if ((rc = index_put(ix, &p)))
			return rc;
		line = end;
	}
	return 0;
}

static int snapshot_load(struct index *ix, cohort_store *s)
{
	char *text = NULL;
	size_t len;
	int rc;

	rc = cohort__os_read_file(&text, &len, s->index_path, INDEX_MAX);
	if (rc == COHORT_ENOTFOUND) {
		cohort__error_clear();
		ix->rev = 0;
		return 0;
	}
	if (rc)
		return rc;
	rc = snapshot_parse(ix, text, len, s->index_path);
	free(text);
	return rc;
}

/* The snapshot's bytes for 'ix' in '*out' (the caller's, with free). */
static int snapshot_format(char **out, size_t *outlen, const struct index *ix)
{
	size_t cap = 4096, len = 0, i;
	char *buf = malloc(cap), *g;
	int n;

	*out = NULL;
	*outlen = 0;
	if (!buf)
		return cohort__error(COHORT_ERROR, "out of memory");
	len = (size_t)snprintf(buf, cap, "cohort-index 1\nrev %llu\n",
			       (unsigned long long)ix->rev);
	for (i = 0; i <= ix->n; i++) {
		const char *line;
		json_object *o = NULL;
		size_t ll;

		if (i < ix->n) {
			o = package_json(&ix->v[i], 1);
			line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		} else {
			line = "";
		}
		ll = strlen(line);
		if (len + ll + 64 > cap) {
			cap = (len + ll + 64) * 2;
			g = realloc(buf, cap);
			if (!g) {
				json_object_put(o);
				free(buf);
				return cohort__error(COHORT_ERROR, "out of memory");
			}
			buf = g;
		}
		if (i < ix->n) {
			memcpy(buf + len, line, ll);
			len += ll;
			buf[len++] = '\n';
		}
		json_object_put(o);
	}
	n = snprintf(buf + len, cap - len, "sum %016llx\n",
		     (unsigned long long)XXH3_64bits(buf, len));
	*out = buf;
	*outlen = len + (size_t)n;
	return 0;
}

static int snapshot_write(cohort_store *s, const struct index *ix)
{
	char *buf;
	size_t len;
	int rc;

	if ((rc = snapshot_format(&buf, &len, ix)))
		return rc;
	{
		/* Roots made before 'store/' was part of init. */
		char dir[PATH_MAX];

		if (!cohort__root_path(dir, sizeof(dir), s->c, "store"))
			(void)cohort__os_mkdir(dir, cohort__dir_mode(s->c));
		cohort__error_clear();
	}
	rc = cohort__os_write_atomic(s->index_path, buf, len,
				     cohort__file_mode(s->c), s->c->node);
	free(buf);
	return rc;
}

struct replay {
	struct index *ix;
	int rc;
	cohort_store *s; /* told of lost records (may be NULL) */
};

static int replay_one(const cohort_record *r, void *arg)
{
	struct replay *rp = arg;
	cohort_package p;
	long at;

	rp->ix->rev = r->rev;
	if (!strcmp(r->type, COHORT_LOST_TYPE) && rp->s) {
		/* It may have been a store record: the index past it may be
		 * wrong, and nothing can tell how (cohort_store_lost()). */
		if (!rp->s->lost_first)
			rp->s->lost_first = r->rev;
		rp->s->lost_last = r->rev;
		return 0;
	}
	if (!strcmp(r->type, "store.install")) {
		if (package_parse(&p, r->data, r->len, 1))
			goto bad;
		p.rev = r->rev;
		if (!p.installed_ms)
			p.installed_ms = r->time_ms;
		return index_put(rp->ix, &p);
	}
	if (!strcmp(r->type, "store.uninstall")) {
		if (package_parse(&p, r->data, r->len, 0))
			goto bad;
		at = index_find(rp->ix, p.ns, p.id);
		cohort_package_clear(&p);
		if (at >= 0)
			index_remove(rp->ix, (size_t)at);
	}
	return 0;
bad:
	return cohort__error(COHORT_ECORRUPT,
			     "journal record %llu ('%s') is not a valid store "
			     "record", (unsigned long long)r->rev, r->type);
}

/* The index at the journal head. */
static int index_load(struct index *ix, cohort_store *s)
{
	struct replay rp = { ix, 0, s };
	uint64_t tail, head;
	int k, rc;

	memset(ix, 0, sizeof(*ix));
	s->lost_first = s->lost_last = 0;
	if ((rc = snapshot_load(ix, s)) ||
	    (rc = cohort_journal_bounds(s->j, &tail, &head)))
		goto fail;
	/* A snapshot behind the tail may be one a janitor replaced after it
	 * was read (it writes the snapshot, then trims), or a look that met
	 * the replacing rename half-way (ENOENT on a FUSE view, NFS.md fact
	 * 8): look again before calling it damage. */
	for (k = 0; ix->rev + 1 < tail && k < 4; k++) {
		cohort__os_sleep_ms(k);
		index_free(ix);
		if ((rc = snapshot_load(ix, s)) ||
		    (rc = cohort_journal_bounds(s->j, &tail, &head)))
			goto fail;
	}
	if (ix->rev + 1 < tail) {
		rc = cohort__error(COHORT_ECORRUPT,
				   "index snapshot is at revision %llu but the "
				   "journal starts at %llu: run 'cohort fsck'",
				   (unsigned long long)ix->rev,
				   (unsigned long long)tail);
		goto fail;
	}
	if (ix->rev < head &&
	    (rc = cohort_journal_read(s->j, ix->rev + 1, 0, replay_one, &rp)))
		goto fail;
	ix->rev = head > ix->rev ? head : ix->rev;
	return 0;
fail:
	index_free(ix);
	return rc;
}

/* ---- open / close ------------------------------------------------------- */

int cohort_store_open(cohort_store **out, cohort_cluster *c)
{
	cohort_store *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->buf = malloc(COPY_CHUNK))) {
		free(s);
		return cohort__error(COHORT_ERROR, "out of memory");
	}
	s->c = c;
	if ((rc = cohort__root_path(s->blobs, sizeof(s->blobs), c, "store/blobs")) ||
	    (rc = cohort__root_path(s->index_path, sizeof(s->index_path), c,
				    "store/index")) ||
	    (rc = cohort_journal_open(&s->j, c))) {
		cohort_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void cohort_store_close(cohort_store *s)
{
	if (!s)
		return;
	cohort_journal_close(s->j);
	free(s->buf);
	free(s);
}

int cohort_store_lost(cohort_store *s, uint64_t *first, uint64_t *last)
{
	*first = s->lost_first;
	*last = s->lost_last;
	return s->lost_first != 0;
}

/* ---- blobs -------------------------------------------------------------- */

static void hash_hex(char out[33], XXH128_hash_t h)
{
	XXH128_canonical_t cn;
	int i;

	XXH128_canonicalFromHash(&cn, h);
	for (i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", cn.digest[i]);
	out[32] = '\0';
}

static int blob_path(char *buf, size_t size, const cohort_store *s,
		     const char *hash)
{
	int n = snprintf(buf, size, "%s/%.2s/%.2s/%s", s->blobs, hash,
			 hash + 2, hash);

	if (n < 0 || (size_t)n >= size)
		return cohort__error(COHORT_EINVAL, "path too long");
	return 0;
}

struct sink_ctx {
	int fd;
	const char *path;
	XXH3_state_t *st;
	uint64_t size;
};

static int copy_sink(const void *buf, size_t len, void *arg)
{
	struct sink_ctx *k = arg;

	XXH3_128bits_update(k->st, buf, len);
	k->size += len;
	return cohort__os_write_full(k->fd, buf, len, k->path);
}

/*
 * Verify a blob: hash it whole.  COHORT_ECORRUPT when it is damaged,
 * naming it (the caller names the packages that need it).
 */
static int blob_verify(cohort_store *s, const cohort_package *p, int fd,
		       const char *path)
{
	XXH3_state_t *st = XXH3_createState();
	uint64_t off = 0;
	char got[33];
	int rc = 0;

	if (!st)
		return cohort__error(COHORT_ERROR, "out of memory");
	XXH3_128bits_reset(st);
	for (;;) {
		size_t n;

		if ((rc = cohort__os_pread_full(fd, s->buf, COPY_CHUNK, off, &n,
						path)))
			goto out;
		if (n == 0)
			break;
		XXH3_128bits_update(st, s->buf, n);
		off += n;
	}
	hash_hex(got, XXH3_128bits_digest(st));
	if (off != p->size || strcmp(got, p->hash))
		rc = cohort__error(COHORT_ECORRUPT,
				   "content of '%s' %s is damaged: blob '%s' "
				   "has %llu bytes with hash %s, expected %llu "
				   "with %s: run 'cohort fsck'", p->id,
				   p->version, path, (unsigned long long)off, got,
				   (unsigned long long)p->size, p->hash);
out:
	XXH3_freeState(st);
	return rc;
}

static int blob_open(cohort_store *s, const cohort_package *p, int *fd,
		     char *path, size_t size)
{
	int rc;

	if ((rc = blob_path(path, size, s, p->hash)))
		return rc;
	rc = cohort__os_open(fd, path, O_RDONLY | O_NOFOLLOW, 0);
	if (rc == COHORT_ENOTFOUND)
		return cohort__error(COHORT_ECORRUPT,
				     "content of '%s' %s is missing: blob '%s' "
				     "not found: run 'cohort fsck'", p->id,
				     p->version, path);
	return rc;
}

/* ---- install / uninstall ------------------------------------------------ */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Deps of 'p' missing in its namespace and the root namespace. */
static const char *missing_dep(const struct index *ix, const cohort_package *p)
{
	size_t i;

	for (i = 0; i < p->ndeps; i++)
		if (index_find(ix, p->ns, p->deps[i]) < 0 &&
		    index_find(ix, "", p->deps[i]) < 0)
			return p->deps[i];
	return NULL;
}

/* Append one store record and refresh the snapshot; under the store lock. */
static int commit_record(cohort_store *s, struct index *ix, const char *type,
			 json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	cohort_entry e = { type, text, strlen(text) };
	uint64_t rev;
	int rc;

	if ((rc = cohort_journal_append(s->j, &e, 1, &rev)))
		return rc;
	ix->rev = rev;
	return 0;
}

/*
 * Refresh the snapshot after a commit, 'ix' holding the change.  The
 * snapshot is a cache of the journal: a failure here loses nothing
 * (readers replay the journal from the older snapshot).
 */
static void snapshot_refresh(cohort_store *s, const struct index *ix)
{
	if (snapshot_write(s, ix))
		cohort__error_clear();
}

int cohort_store_install(cohort_store *s, const char *path,
			 const cohort_install_options *o, cohort_package *out)
{
	cohort_install_options def = COHORT_INSTALL_OPTIONS_INIT;
	struct cohort__pkg_meta meta;
	struct sink_ctx k = { -1, NULL, NULL, 0 };
	char tmp[PATH_MAX], target[PATH_MAX], dst[PATH_MAX], dir[PATH_MAX];
	const char *name, *miss;
	cohort_package p;
	struct index ix;
	cohort_lock *l = NULL;
	struct cohort__stat st;
	int fd = -1, rc, have_tmp = 0, have_ix = 0;

	memset(&meta, 0, sizeof(meta));
	memset(&p, 0, sizeof(p));
	memset(&ix, 0, sizeof(ix));
	if (!o)
		o = &def;
	if (o->version != COHORT_INSTALL_OPTIONS_VERSION)
		return cohort__error(COHORT_EINVAL, "bad install options version");
	if ((rc = cohort__need_node(s->c)))
		return rc;
	if ((o->ns && (rc = cohort_name_check(COHORT_NAME_NAMESPACE, o->ns))) ||
	    (o->id && (rc = cohort_name_check(COHORT_NAME_PACKAGE, o->id))) ||
	    (o->pkg_version &&
	     (rc = cohort_name_check(COHORT_NAME_VERSION, o->pkg_version))))
		return rc;
	name = o->name ? o->name : base_name(path);
	if ((rc = cohort__readonly_check(s->c)))
		return rc;

	/* One pass: validate, hash and copy into a temp file in the store. */
	if ((rc = cohort__os_open(&fd, path, O_RDONLY, 0)))
		return rc;
	if ((rc = cohort__os_mkdir_p(s->blobs, cohort__dir_mode(s->c))) ||
	    (rc = cohort__root_path(target, sizeof(target), s->c,
				    "store/blobs/incoming")) ||
	    (rc = cohort__os_temp_open(&k.fd, tmp, sizeof(tmp), target,
				       cohort__file_mode(s->c), s->c->node)))
		goto out;
	have_tmp = 1;
	k.path = tmp;
	k.st = XXH3_createState();
	if (!k.st) {
		rc = cohort__error(COHORT_ERROR, "out of memory");
		goto out;
	}
	XXH3_128bits_reset(k.st);
	if ((rc = cohort__pkg_inspect(&meta, fd, name, copy_sink, &k)))
		goto out;
	if ((rc = cohort__os_fsync(k.fd, tmp)))
		goto out;
	rc = cohort__os_close(k.fd, tmp);
	k.fd = -1;
	if (rc)
		goto out;

	/* What it is. */
	snprintf(p.id, sizeof(p.id), "%s", o->id ? o->id : meta.id);
	snprintf(p.version, sizeof(p.version), "%s",
		 o->pkg_version ? o->pkg_version : meta.version);
	if (!p.id[0] || !p.version[0]) {
		rc = cohort__error(COHORT_EINVAL,
				   "package '%s' has no %s in its metadata (none "
				   "of META-INF/extension.xed, package.xml, "
				   "META-INF/rhq-plugin.xml, META-INF/MANIFEST.MF "
				   "gives it): give --id and --version", name,
				   !p.id[0] ? "id" : "version");
		goto out;
	}
	if ((rc = cohort_name_check(COHORT_NAME_PACKAGE, p.id)) ||
	    (rc = cohort_name_check(COHORT_NAME_VERSION, p.version))) {
		cohort__error_wrap(rc, "package '%s' refused", name);
		goto out;
	}
	snprintf(p.ns, sizeof(p.ns), "%s", o->ns ? o->ns : "");
	snprintf(p.ext, sizeof(p.ext), "%s", meta.ext[0] ? meta.ext : "zip");
	/* Every node materializes it as ID-VERSION.EXT through a temporary
	 * file next to it: both names must fit in NAME_MAX, or that package
	 * could never be placed anywhere. */
	if (strlen(p.id) + strlen(p.version) + strlen(p.ext) + 2 >
	    MATERIALIZED_NAME_MAX) {
		rc = cohort__error(COHORT_EINVAL,
				   "package '%s' refused: its id and version "
				   "are too long together (%zu and %zu bytes): "
				   "'ID-VERSION.%s' must fit in %d bytes", name,
				   strlen(p.id), strlen(p.version), p.ext,
				   MATERIALIZED_NAME_MAX);
		goto out;
	}
	p.dependency = o->dependency;
	p.size = k.size;
	hash_hex(p.hash, XXH3_128bits_digest(k.st));
	p.deps = meta.deps;
	p.ndeps = meta.ndeps;
	meta.deps = NULL;
	meta.ndeps = 0;

	/* Decide under the store lock, against the head: the dependency
	 * check cannot race another install, and the janitor's cleanup of
	 * unreferenced content (also under this lock) cannot remove a blob
	 * between our finding it and our record naming it. */
	if ((rc = cohort_lock_acquire(&l, s->c, "store", -1)) ||
	    (rc = index_load(&ix, s)))
		goto out;
	have_ix = 1;
	if (!o->force && (miss = missing_dep(&ix, &p))) {
		rc = cohort__error(COHORT_EINVAL,
				   "package '%s' %s needs '%s', which is not "
				   "installed in %s%s%s or the root namespace "
				   "(install it first, or use --force)", p.id,
				   p.version, miss, p.ns[0] ? "namespace '" : "",
				   p.ns[0] ? p.ns : "",
				   p.ns[0] ? "'" : "the root namespace");
		goto out;
	}

	/* Store the content once: a blob name always holds whole content.
	 * Content stored already is kept if it verifies, and replaced by
	 * ours if it was damaged. */
	if ((rc = blob_path(dst, sizeof(dst), s, p.hash)))
		goto out;
	if (snprintf(dir, sizeof(dir), "%s/%.2s/%.2s", s->blobs, p.hash,
		     p.hash + 2) >= (int)sizeof(dir)) {
		rc = cohort__error(COHORT_EINVAL, "path too long: '%s'", s->blobs);
		goto out;
	}
	if ((rc = cohort__os_mkdir_p(dir, cohort__dir_mode(s->c))))
		goto out;
	{
		int bfd, same = 0;

		if (cohort__os_stat(&st, dst, 1) == 0 && st.size == p.size &&
		    cohort__os_open(&bfd, dst, O_RDONLY | O_NOFOLLOW, 0) == 0) {
			same = blob_verify(s, &p, bfd, dst) == 0;
			cohort__os_close_quiet(bfd);
		}
		cohort__error_clear();
		if (same) {
			(void)cohort__os_unlink(tmp); /* stored already */
		} else if ((rc = cohort__os_rename(tmp, dst)) ||
			   (rc = cohort__os_fsync_dir(dir))) {
			goto out;
		}
	}
	cohort__os_temp_done(tmp);
	have_tmp = 0;
	cohort__error_clear();
	{
		json_object *j;
		cohort_package copy;

		p.installed_ms = cohort__os_wall_ms();
		j = package_json(&p, 1);
		json_object_object_del(j, "rev");
		rc = commit_record(s, &ix, "store.install", j);
		json_object_put(j);
		/* commit_record set ix.rev; refresh the snapshot with the
		 * package in it. */
		if (!rc) {
			p.rev = ix.rev;
			if (copy_package(&copy, &p) == 0 &&
			    index_put(&ix, &copy) == 0)
				snapshot_refresh(s, &ix);
			cohort__error_clear();
		}
	}
	if (!rc && out) {
		*out = p;
		p.deps = NULL;
		p.ndeps = 0;
	}
out:
	if (l) {
		int r2 = cohort_lock_release(l);

		if (!rc && r2)
			cohort__error_clear();
	}
	if (have_ix)
		index_free(&ix);
	if (k.fd >= 0)
		cohort__os_close_quiet(k.fd);
	if (have_tmp) {
		(void)cohort__sys.unlink(tmp);
		cohort__os_temp_done(tmp);
	}
	if (k.st)
		XXH3_freeState(k.st);
	cohort__os_close_quiet(fd);
	cohort__pkg_meta_free(&meta);
	cohort_package_clear(&p);
	return rc;
}

int cohort_store_uninstall(cohort_store *s, const char *ns, const char *id,
			   int force)
{
	struct index ix;
	cohort_lock *l = NULL;
	const char *n = ns ? ns : "";
	long at;
	size_t i, d;
	int rc, r2;

	if ((rc = cohort__need_node(s->c)))
		return rc;
	if ((ns && (rc = cohort_name_check(COHORT_NAME_NAMESPACE, ns))) ||
	    (rc = cohort_name_check(COHORT_NAME_PACKAGE, id)))
		return rc;
	if ((rc = cohort__readonly_check(s->c)))
		return rc;
	if ((rc = cohort_lock_acquire(&l, s->c, "store", -1)))
		return rc;
	if ((rc = index_load(&ix, s)))
		goto out_nolist;
	at = index_find(&ix, n, id);
	if (at < 0) {
		rc = cohort__error(COHORT_ENOTFOUND,
				   "package '%s' is not installed in %s%s%s", id,
				   n[0] ? "namespace '" : "the root namespace",
				   n, n[0] ? "'" : "");
		goto out;
	}
	/* Who needs it: packages of this namespace, or of every namespace
	 * when it is installed in the root namespace. */
	for (i = 0; !force && i < ix.n; i++) {
		if ((long)i == at || (n[0] && strcmp(ix.v[i].ns, n)))
			continue;
		for (d = 0; d < ix.v[i].ndeps; d++) {
			if (strcmp(ix.v[i].deps[d], id))
				continue;
			/* Satisfied elsewhere still?  Uninstalling from the root
			 * namespace: by the dependent's own namespace; from a
			 * namespace: by the root namespace. */
			if (!n[0] && ix.v[i].ns[0] &&
			    index_find(&ix, ix.v[i].ns, id) >= 0)
				continue;
			if (n[0] && index_find(&ix, "", id) >= 0)
				continue;
			rc = cohort__error(COHORT_EINVAL,
					   "package '%s' is needed by '%s' %s%s%s%s "
					   "(uninstall that first, or use --force)",
					   id, ix.v[i].id, ix.v[i].version,
					   ix.v[i].ns[0] ? " in namespace '" : "",
					   ix.v[i].ns, ix.v[i].ns[0] ? "'" : "");
			goto out;
		}
	}
	{
		cohort_package key;
		json_object *j;

		memset(&key, 0, sizeof(key));
		snprintf(key.id, sizeof(key.id), "%s", id);
		snprintf(key.ns, sizeof(key.ns), "%s", n);
		j = package_json(&key, 0);
		index_remove(&ix, (size_t)at);
		rc = commit_record(s, &ix, "store.uninstall", j);
		json_object_put(j);
		if (!rc)
			snapshot_refresh(s, &ix);
	}
out:
	index_free(&ix);
out_nolist:
	r2 = cohort_lock_release(l);
	if (!rc && r2)
		cohort__error_clear();
	return rc;
}

/* ---- list / find -------------------------------------------------------- */

static int cmp_pkg(const void *a, const void *b)
{
	const cohort_package *x = a, *y = b;
	int r = strcmp(x->ns, y->ns);

	return r ? r : strcmp(x->id, y->id);
}

int cohort_store_list(cohort_store *s, const char *ns, cohort_package **out,
		      size_t *count)
{
	struct index ix;
	size_t i, n = 0;
	int rc;

	*out = NULL;
	*count = 0;
	if (ns && (rc = cohort_name_check(COHORT_NAME_NAMESPACE, ns)))
		return rc;
	if ((rc = index_load(&ix, s)))
		return rc;
	for (i = 0; i < ix.n; i++) {
		if (ns && ix.v[i].ns[0] && strcmp(ix.v[i].ns, ns)) {
			cohort_package_clear(&ix.v[i]);
			continue;
		}
		ix.v[n++] = ix.v[i];
	}
	if (n)
		qsort(ix.v, n, sizeof(ix.v[0]), cmp_pkg);
	*out = ix.v;
	*count = n;
	if (!n) {
		free(ix.v);
		*out = NULL;
	}
	return 0;
}

int cohort_store_find(cohort_store *s, const char *ns, const char *id,
		      const char *version, cohort_package *out)
{
	cohort_package *v;
	size_t n, i, pick = (size_t)-1;
	int rc;

	if ((rc = cohort_name_check(COHORT_NAME_PACKAGE, id)) ||
	    (version && (rc = cohort_name_check(COHORT_NAME_VERSION, version))) ||
	    (rc = cohort_store_list(s, ns, &v, &n)))
		return rc;
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].id, id) || (version && strcmp(v[i].version, version)))
			continue;
		/* A namespace's own install wins over the root one. */
		if (pick == (size_t)-1 || (ns && !strcmp(v[i].ns, ns)))
			pick = i;
		else if (!ns && pick != (size_t)-1 && v[pick].ns[0] && !v[i].ns[0])
			pick = i;
	}
	if (pick == (size_t)-1) {
		cohort_package_list_free(v, n);
		return cohort__error(COHORT_ENOTFOUND,
				     "package '%s'%s%s is not installed%s%s", id,
				     version ? " version " : "",
				     version ? version : "",
				     ns ? " in namespace " : "", ns ? ns : "");
	}
	*out = v[pick];
	v[pick].deps = NULL;
	v[pick].ndeps = 0;
	cohort_package_list_free(v, n);
	return 0;
}

/* ---- cat ---------------------------------------------------------------- */

int cohort_store_cat(cohort_store *s, const cohort_package *p,
		     uint64_t offset, uint64_t length, int fd)
{
	char path[PATH_MAX];
	uint64_t end, off;
	int bfd, rc;

	if ((rc = blob_open(s, p, &bfd, path, sizeof(path))))
		return rc;
	/* The whole content is verified before a byte is delivered. */
	if ((rc = blob_verify(s, p, bfd, path)))
		goto out;
	if (offset > p->size) {
		rc = cohort__error(COHORT_EINVAL,
				   "offset %llu is past the end of '%s' (%llu "
				   "bytes)", (unsigned long long)offset, p->id,
				   (unsigned long long)p->size);
		goto out;
	}
	end = (length == 0 || length > p->size - offset) ? p->size :
							   offset + length;
	for (off = offset; off < end;) {
		size_t want = end - off > COPY_CHUNK ? COPY_CHUNK :
						       (size_t)(end - off), n;

		if ((rc = cohort__os_pread_full(bfd, s->buf, want, off, &n, path)))
			goto out;
		if (n != want) {
			rc = cohort__error(COHORT_ECORRUPT,
					   "blob '%s' shrank while read", path);
			goto out;
		}
		if ((rc = cohort__os_write_full(fd, s->buf, n, "standard output")))
			goto out;
		off += n;
	}
out:
	cohort__os_close_quiet(bfd);
	return rc;
}

/* ---- materialize -------------------------------------------------------- */

struct placed {
	char name[COHORT_PKG_ID_MAX + COHORT_PKG_VERSION_MAX + 24];
	char hash[33];
	uint64_t size, ino;
	int64_t mtime_ns;
	int keep;
};

struct want {
	char name[sizeof(((struct placed *)0)->name)];
	const cohort_package *p;
	int place, exists;
};

static int manifest_load(struct placed **out, size_t *count, const char *path)
{
	char *text = NULL, *line, *save = NULL;
	struct placed *v = NULL, *g;
	size_t len, n = 0, cap = 0;
	int rc;

	*out = NULL;
	*count = 0;
	rc = cohort__os_read_file(&text, &len, path, 64u << 20);
	if (rc == COHORT_ENOTFOUND) {
		cohort__error_clear();
		return 0;
	}
	if (rc)
		return rc;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct placed pl;
		unsigned long long size, ino;
		long long mt;

		memset(&pl, 0, sizeof(pl));
		if (sscanf(line, "%400s %32s %llu %llu %lld", pl.name, pl.hash,
			   &size, &ino, &mt) != 5 ||
		    strlen(pl.name) >= sizeof(pl.name) || pl.name[0] == '.' ||
		    strchr(pl.name, '/'))
			continue; /* not ours: ignore the line */
		pl.size = size;
		pl.ino = ino;
		pl.mtime_ns = mt;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			g = realloc(v, cap * sizeof(*v));
			if (!g) {
				free(v);
				free(text);
				return cohort__error(COHORT_ERROR, "out of memory");
			}
			v = g;
		}
		v[n++] = pl;
	}
	free(text);
	*out = v;
	*count = n;
	return 0;
}

static struct placed *placed_find(struct placed *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

/* Copy a blob to 'dir/name' through a temp file, verifying on the way. */
static int place(cohort_store *s, const char *dir, const char *name,
		 const cohort_package *p, struct placed *rec)
{
	char src[PATH_MAX], dst[PATH_MAX], tmp[PATH_MAX], got[33];
	XXH3_state_t *st = NULL;
	struct cohort__stat fst;
	uint64_t off = 0;
	int bfd = -1, tfd = -1, rc, n;

	n = snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(dst))
		return cohort__error(COHORT_EINVAL, "path too long in '%s'", dir);
	if ((rc = blob_open(s, p, &bfd, src, sizeof(src))))
		return rc;
	if ((rc = cohort__os_temp_open(&tfd, tmp, sizeof(tmp), dst, 0644,
				       s->c->node)))
		goto out;
	st = XXH3_createState();
	if (!st) {
		rc = cohort__error(COHORT_ERROR, "out of memory");
		goto out;
	}
	XXH3_128bits_reset(st);
	for (;;) {
		size_t got_n;

		if ((rc = cohort__os_pread_full(bfd, s->buf, COPY_CHUNK, off,
						&got_n, src)))
			goto out;
		if (got_n == 0)
			break;
		XXH3_128bits_update(st, s->buf, got_n);
		if ((rc = cohort__os_write_full(tfd, s->buf, got_n, tmp)))
			goto out;
		off += got_n;
	}
	hash_hex(got, XXH3_128bits_digest(st));
	if (off != p->size || strcmp(got, p->hash)) {
		rc = cohort__error(COHORT_ECORRUPT,
				   "content of '%s' %s is damaged: blob '%s' has "
				   "%llu bytes with hash %s, expected %llu with "
				   "%s; '%s' not written: run 'cohort fsck'",
				   p->id, p->version, src, (unsigned long long)off,
				   got, (unsigned long long)p->size, p->hash, dst);
		goto out;
	}
	if ((rc = cohort__os_fsync(tfd, tmp)))
		goto out;
	rc = cohort__os_close(tfd, tmp);
	tfd = -1;
	if (rc || (rc = cohort__os_rename(tmp, dst)))
		goto out;
	cohort__os_temp_done(tmp);
	tmp[0] = '\0';
	if ((rc = cohort__os_stat(&fst, dst, 1)))
		goto out;
	snprintf(rec->name, sizeof(rec->name), "%s", name);
	snprintf(rec->hash, sizeof(rec->hash), "%s", p->hash);
	rec->size = fst.size;
	rec->ino = fst.ino;
	rec->mtime_ns = fst.mtime_ns;
out:
	if (tfd >= 0)
		cohort__os_close_quiet(tfd);
	if (rc && tmp[0]) {
		(void)cohort__sys.unlink(tmp);
		cohort__os_temp_done(tmp);
	}
	if (st)
		XXH3_freeState(st);
	cohort__os_close_quiet(bfd);
	return rc;
}

static int manifest_write(const char *path, const struct placed *v, size_t n,
			  const char *tag)
{
	size_t cap = 4096 + n * 512, len = 0, i;
	char *buf = malloc(cap);
	int rc;

	if (!buf)
		return cohort__error(COHORT_ERROR, "out of memory");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s %s %llu %llu %lld\n",
					v[i].name, v[i].hash,
					(unsigned long long)v[i].size,
					(unsigned long long)v[i].ino,
					(long long)v[i].mtime_ns);
	rc = cohort__os_write_atomic(path, buf, len, 0644, tag);
	free(buf);
	return rc;
}

/*
 * Remove from DIR the temp files this node's killed materializations left
 * (".NAME.tmp.NODE.PID.RANDOM" with NODE ours and PID no longer running
 * on this host).  Another node's, or a running process's, stay.
 */
static void sweep_dead_temps(const char *dir, const char *node)
{
	char mark[COHORT_NODE_ID_MAX + 8], path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (!node)
		return;
	snprintf(mark, sizeof(mark), ".tmp.%s.", node);
	d = cohort__os_opendir(dir);
	if (!d) {
		cohort__error_clear();
		return;
	}
	while ((de = readdir(d))) {
		const char *at = strstr(de->d_name, mark);
		char *end;
		long pid;

		if (!cohort__os_is_temp_name(de->d_name) || !at)
			continue;
		errno = 0;
		pid = strtol(at + strlen(mark), &end, 10);
		if (errno || pid <= 0 || *end != '.' || pid == (long)getpid() ||
		    cohort__os_pid_alive(pid))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) <
		    (int)sizeof(path))
			(void)cohort__os_unlink(path);
	}
	closedir(d);
	cohort__error_clear();
}

int cohort_store_materialize(cohort_store *s, const char *dir, const char *ns,
			     cohort_materialize_stats *stats)
{
	cohort_materialize_stats zero = { 0, 0, 0, 0 }, *sp = stats ? stats : &zero;
	struct placed *old = NULL, *now = NULL;
	cohort_package *pk = NULL;
	struct want *w = NULL;
	size_t npk = 0, nold = 0, nw = 0, nnow = 0, npending = 0, i, k;
	char mpath[PATH_MAX], first_msg[1024] = "";
	int rc, n, first_rc = 0;

	*sp = zero;
	n = snprintf(mpath, sizeof(mpath), "%s/" MANIFEST_NAME, dir);
	if (n < 0 || (size_t)n >= sizeof(mpath))
		return cohort__error(COHORT_EINVAL, "path too long: '%s'", dir);
	if ((rc = cohort_store_list(s, ns, &pk, &npk)))
		return rc;
	if ((rc = cohort__os_mkdir_p(dir, 0755)) ||
	    (rc = manifest_load(&old, &nold, mpath)))
		goto out;
	sweep_dead_temps(dir, s->c->node);
	w = calloc(npk + 1, sizeof(*w));
	now = calloc(npk + nold + 1, sizeof(*now));
	if (!w || !now) {
		rc = cohort__error(COHORT_ERROR, "out of memory");
		goto out;
	}
	/* What DIR must hold; the same name twice must be the same bytes. */
	for (i = 0; i < npk; i++) {
		char name[sizeof(w[0].name)];

		snprintf(name, sizeof(name), "%s-%s.%s", pk[i].id, pk[i].version,
			 pk[i].ext);
		for (k = 0; k < nw; k++)
			if (!strcmp(w[k].name, name))
				break;
		if (k < nw) {
			if (strcmp(w[k].p->hash, pk[i].hash)) {
				rc = cohort__error(COHORT_EINVAL,
						   "'%s' is installed with different "
						   "content in two namespaces: "
						   "materialize one namespace "
						   "(--namespace)", name);
				goto out;
			}
			continue;
		}
		snprintf(w[nw].name, sizeof(w[nw].name), "%s", name);
		w[nw++].p = &pk[i];
	}
	for (i = 0; i < nw; i++) {
		struct placed *pl = placed_find(old, nold, w[i].name);
		char path[PATH_MAX];
		struct cohort__stat st;
		int exists;

		snprintf(path, sizeof(path), "%s/%s", dir, w[i].name);
		exists = cohort__os_stat(&st, path, 1) == 0;
		cohort__error_clear();
		if (pl && exists && S_ISREG(st.mode) &&
		    !strcmp(pl->hash, w[i].p->hash) && st.size == pl->size &&
		    st.ino == pl->ino && st.mtime_ns == pl->mtime_ns) {
			pl->keep = 1;
			now[nnow++] = *pl;
			sp->unchanged++;
			continue;
		}
		/* Missing, outdated, or changed by hand: write it again. */
		w[i].place = 1;
		w[i].exists = exists;
		if (!pl)
			npending++;
	}
	/* The manifest names a file before it goes into DIR (inode 0: it never
	 * passes for unchanged), so a crash between placing it and the final
	 * manifest write cannot leave a file of ours that no manifest lists:
	 * the next run rewrites it, or removes it once it is not installed. */
	if (npending) {
		struct placed *intent = calloc(nold + npending, sizeof(*intent));
		size_t m = nold;

		if (!intent) {
			rc = cohort__error(COHORT_ERROR, "out of memory");
			goto out;
		}
		if (nold)
			memcpy(intent, old, nold * sizeof(*old));
		for (i = 0; i < nw; i++) {
			if (!w[i].place || placed_find(old, nold, w[i].name))
				continue;
			snprintf(intent[m].name, sizeof(intent[m].name), "%s",
				 w[i].name);
			snprintf(intent[m].hash, sizeof(intent[m].hash), "%s",
				 w[i].p->hash);
			intent[m++].size = w[i].p->size;
		}
		rc = manifest_write(mpath, intent, m,
				    s->c->node ? s->c->node : "materialize");
		free(intent);
		if (rc)
			goto out;
	}
	for (i = 0; i < nw; i++) {
		struct placed *pl;

		if (!w[i].place)
			continue;
		if ((pl = placed_find(old, nold, w[i].name)))
			pl->keep = 1;
		if ((rc = place(s, dir, w[i].name, w[i].p, &now[nnow]))) {
			/* Go on with the others; the manifest must still know
			 * every file we may have placed, this one included. */
			if (!first_rc) {
				first_rc = rc;
				snprintf(first_msg, sizeof(first_msg), "%s",
					 cohort_error_last());
			}
			if (pl) {
				now[nnow++] = *pl;
			} else {
				memset(&now[nnow], 0, sizeof(now[nnow]));
				snprintf(now[nnow].name, sizeof(now[nnow].name),
					 "%s", w[i].name);
				snprintf(now[nnow].hash, sizeof(now[nnow].hash),
					 "%s", w[i].p->hash);
				now[nnow++].size = w[i].p->size;
			}
			rc = 0;
			continue;
		}
		nnow++;
		if (w[i].exists)
			sp->updated++;
		else
			sp->added++;
	}
	/* Files we placed that are no longer installed. */
	for (i = 0; i < nold; i++) {
		char path[PATH_MAX];

		if (old[i].keep)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, old[i].name);
		rc = cohort__os_unlink(path);
		if (rc == 0) {
			sp->removed++;
		} else if (rc != COHORT_ENOTFOUND) {
			if (!first_rc) {
				first_rc = rc;
				snprintf(first_msg, sizeof(first_msg), "%s",
					 cohort_error_last());
			}
			now[nnow++] = old[i]; /* still there, still ours */
		}
		cohort__error_clear();
		rc = 0;
	}
	if (sp->added || sp->updated || sp->removed || nold != nnow || first_rc)
		rc = manifest_write(mpath, now, nnow,
				    s->c->node ? s->c->node : "materialize");
	if (first_rc)
		rc = cohort__error(first_rc, "%s", first_msg);
out:
	free(w);
	free(now);
	free(old);
	cohort_package_list_free(pk, npk);
	return rc;
}

/* ---- for the janitor ---------------------------------------------------- */

int cohort__store_snapshot_now(cohort_store *s, uint64_t *rev)
{
	cohort_lock *l = NULL;
	struct index ix;
	int rc, r2;

	if ((rc = cohort_lock_acquire(&l, s->c, "store", -1)))
		return rc;
	rc = index_load(&ix, s);
	if (!rc) {
		rc = snapshot_write(s, &ix);
		*rev = ix.rev;
		index_free(&ix);
	}
	r2 = cohort_lock_release(l);
	return rc ? rc : r2;
}

int cohort__store_gc(cohort_store *s, int64_t grace_ms, int dry_run,
		     cohort__blob_fn fn, void *arg)
{
	cohort_lock *l = NULL;
	struct index ix;
	int64_t now = 0;
	DIR *d1 = NULL;
	struct dirent *e1;
	int rc, r2, have_ix = 0;

	if ((rc = cohort_lock_acquire(&l, s->c, "store", -1)))
		return rc;
	if ((rc = index_load(&ix, s)) ||
	    (rc = cohort__server_now_ns(&now, s->c, "store")))
		goto out;
	have_ix = 1;
	d1 = cohort__os_opendir(s->blobs);
	if (!d1) {
		if (errno != ENOENT)
			rc = cohort__error_sys(COHORT_ERROR, errno,
					       "cannot list '%s'", s->blobs);
		goto out;
	}
	while (!rc && (e1 = readdir(d1))) {
		char p1[PATH_MAX];
		struct dirent *e2;
		DIR *d2;

		if (strlen(e1->d_name) != 2 || e1->d_name[0] == '.')
			continue;
		if (snprintf(p1, sizeof(p1), "%s/%.2s", s->blobs, e1->d_name) >=
		    (int)sizeof(p1) || !(d2 = cohort__os_opendir(p1)))
			continue;
		while (!rc && (e2 = readdir(d2))) {
			char p2[PATH_MAX];
			struct dirent *e3;
			DIR *d3;

			if (strlen(e2->d_name) != 2 || e2->d_name[0] == '.')
				continue;
			if (snprintf(p2, sizeof(p2), "%s/%.2s", p1, e2->d_name) >=
			    (int)sizeof(p2) || !(d3 = cohort__os_opendir(p2)))
				continue;
			while (!rc && (e3 = readdir(d3))) {
				char path[PATH_MAX];
				struct cohort__stat st;
				size_t i;
				int used = 0;

				if (strlen(e3->d_name) != 32 ||
				    strspn(e3->d_name, "0123456789abcdef") != 32)
					continue; /* not a blob (fsck's business) */
				for (i = 0; i < ix.n && !used; i++)
					used = !strcmp(ix.v[i].hash, e3->d_name);
				if (used)
					continue;
				if (snprintf(path, sizeof(path), "%s/%.32s", p2,
					     e3->d_name) >= (int)sizeof(path) ||
				    cohort__os_stat(&st, path, 1) ||
				    (now - st.mtime_ns) / 1000000 < grace_ms) {
					cohort__error_clear();
					continue;
				}
				if (!dry_run && (rc = cohort__os_unlink(path)))
					break;
				if (fn)
					fn(arg, path, st.size);
			}
			closedir(d3);
		}
		closedir(d2);
	}
out:
	if (d1)
		closedir(d1);
	if (have_ix)
		index_free(&ix);
	r2 = cohort_lock_release(l);
	return rc ? rc : r2;
}

/* ---- for fsck (store_int.h) ---------------------------------------------- */

struct cohort__index {
	struct index ix;
};

int cohort__store_index_new(struct cohort__index **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : cohort__error(COHORT_ERROR, "out of memory");
}

void cohort__store_index_free(struct cohort__index *x)
{
	if (!x)
		return;
	index_free(&x->ix);
	free(x);
}

int cohort__store_snapshot_load(struct cohort__index *x, cohort_store *s)
{
	index_free(&x->ix);
	return snapshot_load(&x->ix, s);
}

int cohort__store_snapshot_write(cohort_store *s, const struct cohort__index *x)
{
	return snapshot_write(s, &x->ix);
}

int cohort__index_parse(struct cohort__index *x, const char *text, size_t len)
{
	index_free(&x->ix);
	return snapshot_parse(&x->ix, text, len, "store/index");
}

int cohort__index_format(char **out, size_t *len, const struct cohort__index *x)
{
	return snapshot_format(out, len, &x->ix);
}

int cohort__store_index_apply(struct cohort__index *x, const cohort_record *r)
{
	struct replay rp = { &x->ix, 0, NULL };

	return replay_one(r, &rp);
}

int cohort__store_index_copy(struct cohort__index *dst,
			     const struct cohort__index *src)
{
	size_t i;
	int rc;

	index_free(&dst->ix);
	for (i = 0; i < src->ix.n; i++) {
		cohort_package p;

		if ((rc = copy_package(&p, &src->ix.v[i])) ||
		    (rc = index_put(&dst->ix, &p)))
			return rc;
	}
	dst->ix.rev = src->ix.rev;
	return 0;
}

const cohort_package *cohort__store_index_packages(
	const struct cohort__index *x, size_t *n, uint64_t *rev)
{
	*n = x->ix.n;
	if (rev)
		*rev = x->ix.rev;
	return x->ix.v;
}

void cohort__store_index_set_rev(struct cohort__index *x, uint64_t rev)
{
	x->ix.rev = rev;
}
