/*
 * fsck_store.c - fsck's check of the store: the installed index replayed
 * from the journal's store records while fsck_journal.c scans them,
 * compared with the index snapshot (which repair rebuilds from that
 * replay), every indexed package's blob, and blobs nothing references;
 * and the application's snapshot.  fsck_int.h is what the parts share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>
#include <xxhash.h>

#include "cluster.h"
#include "cohort/journal.h"
#include "cohort/snapshot.h"
#include "cohort/store.h"
#include "fsck_int.h"
#include "os/os.h"
#include "store_int.h"

/* ---- the index, replayed from the journal -------------------------------- */

static void add_ref(struct fsck *f, const char *hash)
{
	if (strlen(hash) != 32 || strspn(hash, "0123456789abcdef") != 32)
		return;
	if (f->nrefs == f->caprefs) {
		size_t cap = f->caprefs ? f->caprefs * 2 : 64;
		char(*g)[33] = realloc(f->refs, cap * sizeof(*g));

		if (!g)
			return; /* conservative callers treat "unknown" as used */
		f->refs = g;
		f->caprefs = cap;
	}
	memcpy(f->refs[f->nrefs++], hash, 33);
}

static int cmp_pkg_key(const void *a, const void *b)
{
	const cohort_package *x = *(const cohort_package *const *)a;
	const cohort_package *y = *(const cohort_package *const *)b;
	int r = strcmp(x->ns, y->ns);

	return r ? r : strcmp(x->id, y->id);
}

static int pkg_same(const cohort_package *a, const cohort_package *b)
{
	size_t i;

	if (strcmp(a->version, b->version) || strcmp(a->hash, b->hash) ||
	    a->size != b->size || strcmp(a->ext, b->ext) ||
	    a->dependency != b->dependency || a->rev != b->rev ||
	    a->installed_ms != b->installed_ms || a->ndeps != b->ndeps)
		return 0;
	for (i = 0; i < a->ndeps; i++)
		if (strcmp(a->deps[i], b->deps[i]))
			return 0;
	return 1;
}

/*
 * Compare two indexes as sets of packages keyed by (namespace, id); write
 * the first difference into 'out' and return 1, or return 0 when equal.
 */
static int index_diff(const struct cohort__index *x, const struct cohort__index *y,
		      char *out, size_t size)
{
	const cohort_package *vx, *vy, **sx = NULL, **sy = NULL;
	size_t nx, ny, i = 0, k = 0;
	int diff = 0;

	vx = cohort__store_index_packages(x, &nx, NULL);
	vy = cohort__store_index_packages(y, &ny, NULL);
	sx = malloc((nx + 1) * sizeof(*sx));
	sy = malloc((ny + 1) * sizeof(*sy));
	if (!sx || !sy) {
		free(sx);
		free(sy);
		cohort__fsck_bprintf(out, size, "out of memory comparing");
		return 1;
	}
	for (i = 0; i < nx; i++)
		sx[i] = &vx[i];
	for (i = 0; i < ny; i++)
		sy[i] = &vy[i];
	qsort(sx, nx, sizeof(*sx), cmp_pkg_key);
	qsort(sy, ny, sizeof(*sy), cmp_pkg_key);
	for (i = 0, k = 0; !diff && (i < nx || k < ny);) {
		int c = i == nx ? 1 : k == ny ? -1 : cmp_pkg_key(&sx[i], &sy[k]);
		const cohort_package *p = c <= 0 ? sx[i] : sy[k];

		if (c < 0) {
			cohort__fsck_bprintf(out, size, "the snapshot lists '%s' %s%s%s that "
				 "the journal does not install", p->id, p->version,
				 p->ns[0] ? " in namespace " : "", p->ns);
			diff = 1;
		} else if (c > 0) {
			cohort__fsck_bprintf(out, size, "the journal installs '%s' %s%s%s, "
				 "missing from the snapshot", p->id, p->version,
				 p->ns[0] ? " in namespace " : "", p->ns);
			diff = 1;
		} else {
			if (!pkg_same(sx[i], sy[k])) {
				cohort__fsck_bprintf(out, size, "'%s'%s%s differs: the snapshot "
					 "has %s (%s, revision %llu), the journal "
					 "%s (%s, revision %llu)", p->id,
					 p->ns[0] ? " in namespace " : "", p->ns,
					 sx[i]->version, sx[i]->hash,
					 (unsigned long long)sx[i]->rev,
					 sy[k]->version, sy[k]->hash,
					 (unsigned long long)sy[k]->rev);
				diff = 1;
			}
			i++;
			k++;
			continue;
		}
		if (c < 0)
			i++;
		else
			k++;
	}
	free(sx);
	free(sy);
	return diff;
}

/* The index snapshot's revision (0 unless it loaded). */
static uint64_t snap_rev(const struct fsck *f)
{
	uint64_t rev = 0;
	size_t n;

	if (f->snap_state == SNAP_OK)
		(void)cohort__store_index_packages(f->snap, &n, &rev);
	return rev;
}

/* Before the index replay passes the snapshot's revision: compare. */
static void compare_at_snapshot(struct fsck *f)
{
	f->compared = 1;
	if (index_diff(f->snap, f->jix, f->mismatch, sizeof(f->mismatch)))
		f->snap_state = SNAP_DAMAGED;
}

/* A verified committed record, in revision order. */
void cohort__fsck_on_record(struct fsck *f, const cohort__rec *r, const char *rel,
			    uint64_t off)
{
	char type[COHORT_NODE_ID_MAX + 1], node[COHORT_NODE_ID_MAX + 1];
	cohort_record out;
	uint64_t srev;

	f->sum->records++;
	if (r->type_len == strlen(COHORT_LOST_TYPE) &&
	    !memcmp(r->type, COHORT_LOST_TYPE, r->type_len)) {
		f->sum->lost_records++;
		/* It may have been a store record: a replay past it proves
		 * nothing about the index (the snapshot, if it covers it,
		 * is what is known). */
		if (f->mode == MODE_FULL ||
		    (f->mode == MODE_FROM_SNAPSHOT && r->rev > snap_rev(f)))
			f->jix_ok = 0;
		return;
	}
	if (r->type_len < 6 || memcmp(r->type, "store.", 6))
		return;
	memcpy(type, r->type, r->type_len);
	type[r->type_len] = '\0';
	memcpy(node, r->node, r->node_len);
	node[r->node_len] = '\0';
	if (!strcmp(type, "store.install")) {
		json_tokener *tok = json_tokener_new();
		json_object *o = tok ? json_tokener_parse_ex(tok, (const char *)r->data,
							     (int)r->len) : NULL,
			    *h;

		if (o && json_object_object_get_ex(o, "hash", &h) &&
		    json_object_is_type(h, json_type_string))
			add_ref(f, json_object_get_string(h));
		json_object_put(o);
		if (tok)
			json_tokener_free(tok);
	}
	if (f->mode == MODE_NONE || !f->jix_ok)
		return;
	srev = snap_rev(f);
	if (f->mode == MODE_FROM_SNAPSHOT && r->rev <= srev)
		return;
	if (f->mode == MODE_FULL && f->snap_state == SNAP_OK && !f->compared &&
	    r->rev > srev)
		compare_at_snapshot(f);
	out.rev = r->rev;
	out.time_ms = r->time_ms;
	out.node = node;
	out.type = type;
	out.data = r->data;
	out.len = r->len;
	if (cohort__store_index_apply(f->jix, &out)) {
		cohort__error_clear();
		f->jix_ok = 0;
		cohort__fsck_report(f, "store.record", rel, 0, r->rev, (int64_t)off, NULL,
				    "journal record %llu ('%s') at offset %llu is not a valid "
				    "store record: the index cannot be rebuilt past it",
				    (unsigned long long)r->rev, type, (unsigned long long)off);
	}
}

/* Load the index snapshot into f->snap and set f->snap_state. */
static void load_snapshot(struct fsck *f)
{
	char path[PATH_MAX];
	struct cohort__stat st;
	int rc;

	f->snap_state = SNAP_ABSENT;
	/* Missing only when it is: the janitor and installs replace it by
	 * a rename, which a look can meet half-way
	 * (cohort__fsck_stat_settled). */
	if (cohort__fsck_abs_path(f, path, sizeof(path), "store/index") == 0 &&
	    cohort__fsck_stat_settled(&st, path, 1) != COHORT_ENOTFOUND) {
		rc = cohort__store_snapshot_load(f->snap, f->st);
		if (rc) {
			f->snap_state = SNAP_DAMAGED;
			if (rc == COHORT_ECORRUPT)
				snprintf(f->snap_err, sizeof(f->snap_err),
					 "index snapshot does not verify (its "
					 "checksum or an entry is damaged)");
			else
				cohort__fsck_bprintf(f->snap_err, sizeof(f->snap_err),
						     "index snapshot cannot be read: %s",
						     cohort_error_last());
		} else {
			f->snap_state = SNAP_OK;
		}
	}
	cohort__error_clear();
}

/* Decide how the store's index is rebuilt while the journal is scanned. */
void cohort__fsck_store_begin(struct fsck *f)
{
	uint64_t srev = 0;
	int k;

	f->mode = MODE_NONE;
	if (cohort_store_open(&f->st, f->c) ||
	    cohort__store_index_new(&f->snap) || cohort__store_index_new(&f->jix)) {
		cohort__error_clear();
		return;
	}
	/* A snapshot behind the journal's tail may be one a janitor replaced
	 * after this run read the head (check-only: it writes the snapshot,
	 * then trims), or a load that met the replacing rename half-way
	 * (ENOENT on a FUSE view: read as an empty index at revision 0, the
	 * false store.index-behind CI met once in 162 runs): look again. */
	for (k = 0; k < ABSENT_LOOKS; k++) {
		if (k)
			cohort__os_sleep_ms(k);
		load_snapshot(f);
		srev = snap_rev(f);
		if (!f->head_ok || f->snap_state == SNAP_DAMAGED ||
		    (f->snap_state == SNAP_OK && srev + 1 >= f->h.tail_rev) ||
		    (f->snap_state == SNAP_ABSENT && f->h.tail_rev <= 1))
			break;
	}
	f->jix_ok = 1;
	if (!f->head_ok) {
		f->jix_ok = 0;
	} else if (f->first_phys == 1) {
		f->mode = MODE_FULL; /* the whole history is here */
		if (f->snap_state == SNAP_OK && srev == 0)
			compare_at_snapshot(f);
	} else if (f->snap_state == SNAP_OK && srev + 1 >= f->first_phys) {
		f->mode = MODE_FROM_SNAPSHOT;
		if (cohort__store_index_copy(f->jix, f->snap)) {
			cohort__error_clear();
			f->mode = MODE_NONE;
		}
	}
}

/* ---- the store ----------------------------------------------------------- */

static int cmp_ref(const void *a, const void *b)
{
	return memcmp(a, b, 33);
}

static int is_ref(const struct fsck *f, const char *hash)
{
	char key[33];

	if (strlen(hash) != 32)
		return 0;
	memcpy(key, hash, 33);
	return f->nrefs && bsearch(key, f->refs, f->nrefs, 33, cmp_ref) != NULL;
}

static int blob_name_ok(const char *rel)
{
	/* store/blobs/ab/cd/<32 hex> */
	const char *n = rel + 18;

	return strlen(rel) == 18 + 32 && rel[14] == '/' && rel[17] == '/' &&
	       strspn(n, "0123456789abcdef") == 32 && !memcmp(rel + 12, n, 2) &&
	       !memcmp(rel + 15, n + 2, 2);
}

static int hash_file(struct fsck *f, const char *path, char out[33],
		     uint64_t *bytes)
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_canonical_t cn;
	uint64_t off = 0;
	int fd, rc, i;

	if (!st)
		return cohort__error(COHORT_ERROR, "out of memory");
	if ((rc = cohort__fsck_buf_reserve(f, BUF_SIZE)) ||
	    (rc = cohort__os_open(&fd, path, O_RDONLY | O_NOFOLLOW, 0))) {
		XXH3_freeState(st);
		return rc;
	}
	XXH3_128bits_reset(st);
	for (;;) {
		size_t got;

		if ((rc = cohort__os_pread_full(fd, f->buf, BUF_SIZE, off, &got,
						path)))
			break;
		if (got == 0)
			break;
		XXH3_128bits_update(st, f->buf, got);
		off += got;
		f->sum->blob_bytes_hashed += got;
		cohort__fsck_progress(f, "hashing blobs", f->bytes_done + off, f->bytes_total, 0);
	}
	f->buf_len = 0;
	cohort__os_close_quiet(fd);
	if (!rc) {
		XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(st));
		for (i = 0; i < 16; i++)
			sprintf(out + 2 * i, "%02x", cn.digest[i]);
		out[32] = '\0';
		*bytes = off;
	}
	XXH3_freeState(st);
	return rc;
}

/* "'a' 1.0, 'b' 2.0 in namespace x": the packages of a group (one blob). */
static void needed_by(const cohort_package *const *grp, size_t n, char *out,
		      size_t size)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < n && len + 1 < size; i++) {
		int k = snprintf(out + len, size - len, "%s'%s' %s%s%s",
				 len ? ", " : "", grp[i]->id, grp[i]->version,
				 grp[i]->ns[0] ? " in namespace " : "", grp[i]->ns);

		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (len >= size)
		out[size - 1] = '\0';
}

static int cmp_pkg_hash(const void *a, const void *b)
{
	return strcmp((*(const cohort_package *const *)a)->hash,
		      (*(const cohort_package *const *)b)->hash);
}

/*
 * Check-only (no lock held): has the head moved since this run read it?
 * Then what the store looks like now may be a writer's or a janitor's work
 * past that head, not damage.
 */
static int head_moved(struct fsck *f)
{
	struct cohort__head h2;
	char err[256];

	if (f->repair || !f->head_ok)
		return 0;
	if (cohort__fsck_read_head(f, &h2, err, sizeof(err))) {
		cohort__error_clear();
		return 0;
	}
	return h2.seq != f->h.seq;
}

/* Report the index snapshot's state, and rebuild it when it can be. */
static void store_index(struct fsck *f)
{
	const char *rel = "store/index";
	uint64_t srev = snap_rev(f);
	int rebuildable = f->mode != MODE_NONE && f->jix_ok && f->chain_ok &&
			  f->head_ok;
	char msg[512], what[640];
	const char *kind = NULL;

	what[0] = '\0';
	/* A snapshot past the head this run read, written by a writer that
	 * committed since (no lock is held in check-only mode): not damage,
	 * and not comparable with a replay that stopped at the old head. */
	if (f->snap_state == SNAP_OK && f->head_ok && srev > f->h.rev &&
	    head_moved(f))
		return;
	if (f->snap_state == SNAP_DAMAGED && f->mismatch[0]) {
		kind = "store.index-mismatch";
		snprintf(what, sizeof(what), "index snapshot (revision %llu) "
			 "disagrees with the journal: %s",
			 (unsigned long long)srev, f->mismatch);
	} else if (f->snap_state == SNAP_DAMAGED) {
		kind = "store.index";
		snprintf(what, sizeof(what), "%s", f->snap_err);
	} else if (f->snap_state == SNAP_OK && f->head_ok && srev > f->h.rev) {
		kind = "store.index-ahead";
		snprintf(what, sizeof(what), "index snapshot is at revision %llu, "
			 "past the head %llu", (unsigned long long)srev,
			 (unsigned long long)f->h.rev);
		if (f->mode != MODE_FULL)
			rebuildable = 0;
	} else if (f->snap_state == SNAP_OK && f->head_ok &&
		   srev + 1 < f->h.tail_rev) {
		kind = "store.index-behind";
		snprintf(what, sizeof(what), "index snapshot is at revision %llu "
			 "but the journal starts at %llu: the index cannot be "
			 "loaded", (unsigned long long)srev,
			 (unsigned long long)f->h.tail_rev);
	} else if (f->snap_state == SNAP_ABSENT && f->head_ok &&
		   f->h.tail_rev > 1) {
		kind = "store.index-missing";
		snprintf(what, sizeof(what), "index snapshot is missing and the "
			 "journal no longer starts at revision 1: the index cannot "
			 "be loaded");
	} else if (f->mode == MODE_FULL && f->snap_state == SNAP_OK &&
		   !f->compared && f->jix_ok && f->chain_ok) {
		/* The snapshot is at the head: compare now. */
		compare_at_snapshot(f);
		if (f->snap_state == SNAP_DAMAGED) {
			store_index(f);
			return;
		}
	}
	if (!kind)
		return;
	if (rebuildable && f->repair) {
		char path[PATH_MAX], moved[PATH_MAX], *text = NULL;
		size_t len;
		int rc;

		/* The old snapshot is replaced whole: a copy of it first. */
		moved[0] = '\0';
		rc = cohort__fsck_abs_path(f, path, sizeof(path), rel);
		if (!rc && f->snap_state != SNAP_ABSENT) {
			rc = cohort__os_read_file(&text, &len, path, 1u << 30);
			if (!rc)
				rc = cohort__fsck_lf_save_buf(f, rel, text, len,
							      "the index snapshot",
							      "replaced by one rebuilt from the "
							      "journal", moved, sizeof(moved));
			free(text);
		}
		cohort__store_index_set_rev(f->jix, f->h.rev);
		if (!rc)
			rc = cohort_lock_check(f->store_lock);
		if (!rc)
			rc = cohort__store_snapshot_write(f->st, f->jix);
		cohort__fsck_report(f, kind, rel, !rc, 0, -1, moved, "%s%s%s", what,
				    rc ? "; cannot rebuild it: " :
				    "; rebuilt from the journal (the old one is in lost+found)",
				    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
		if (!rc)
			f->snap_state = SNAP_OK;
		return;
	}
	REPORT(f, kind, rel, 0, "%s%s", what,
	       rebuildable ? "; 'cohort fsck --repair' rebuilds it from the "
			     "journal" :
			     "; it cannot be rebuilt from the journal");
}

/* Check the blob of a group of indexed packages (one hash): its size, and
 * with read_data its hash. */
static void check_blob(struct fsck *f, const cohort_package *const *grp,
		       size_t ng)
{
	const cohort_package *v = grp[0];
	char rel[64], path[PATH_MAX], moved[PATH_MAX], need[1024], msg[512];
	char got[33], b[160];
	struct cohort__stat st;
	struct file *fl;
	uint64_t bytes = 0;
	int rc;

	snprintf(rel, sizeof(rel), "store/blobs/%.2s/%.2s/%s", v->hash,
		 v->hash + 2, v->hash);
	needed_by(grp, ng, need, sizeof(need));
	if (cohort__fsck_abs_path(f, path, sizeof(path), rel))
		return;
	rc = cohort__fsck_stat_settled(&st, path, 1);
	if (rc == COHORT_ENOTFOUND) {
		cohort__error_clear();
		/* Check-only: a package uninstalled since the head was read
		 * may have had its blob removed by a janitor meanwhile. */
		if (head_moved(f))
			return;
		REPORT(f, "store.blob-missing", rel, 0,
		       "content of %s is missing (%llu bytes): install the "
		       "package again", need, (unsigned long long)v->size);
		return;
	}
	if (rc) {
		REPORT(f, "unreadable", rel, 0, "%s", cohort__fsck_why_failed(msg, sizeof(msg)));
		return;
	}
	fl = cohort__fsck_file_find(f, rel);
	if (st.size == v->size && !f->o.read_data)
		return;
	if (st.size == v->size) {
		rc = hash_file(f, path, got, &bytes);
		if (rc) {
			REPORT(f, "unreadable", rel, 0, "%s",
			       cohort__fsck_why_failed(msg, sizeof(msg)));
			return;
		}
		f->bytes_done += bytes;
		if (fl)
			fl->flags |= F_DONE;
		if (!strcmp(got, v->hash))
			return;
		snprintf(b, sizeof(b), "hashes to %s", got);
	} else {
		snprintf(b, sizeof(b), "is %llu bytes, expected %llu",
			 (unsigned long long)st.size, (unsigned long long)v->size);
	}
	/* Damaged: set it aside (installing the package again would replace
	 * it, and nothing is deleted), so that 'cat' and 'materialize' say
	 * it is missing until the package is installed again. */
	rc = f->repair ? cohort__fsck_lf_move(f, rel, "a damaged blob",
					      "its content does not match its name; needed "
					      "by installed packages", moved, sizeof(moved)) : 0;
	cohort__fsck_report(f, st.size != v->size ? "store.blob-size" : "store.blob-damaged",
			    rel, 0, 0, -1, f->repair && !rc ? moved : NULL,
			    "content of %s is damaged: the blob %s%s%s%s; install the "
			    "package again", need, b,
			    f->repair && !rc ? " (moved to lost+found)" :
			    rc ? " (cannot move it: " : "",
			    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "", rc ? ")" : "");
}

/* A file under store/blobs no indexed package's check covered. */
static void check_blob_file(struct fsck *f, struct file *fl, int have_index)
{
	char path[PATH_MAX], moved[PATH_MAX], agebuf[32], msg[512], got[33];
	const char *name = cohort__fsck_base_of(fl->rel);
	int64_t age = cohort__fsck_age_ms(f, fl->mtime_ns);
	uint64_t bytes;
	int rc = 0;

	cohort__fsck_fmt_age(agebuf, sizeof(agebuf), age);
	if (!blob_name_ok(fl->rel)) {
		if (age < 0 || age < f->grace_ms)
			return;
		if (f->repair)
			rc = cohort__fsck_lf_move(f, fl->rel, "a file that is no blob",
						  "in the blob store, named by no hash", moved,
						  sizeof(moved));
		cohort__fsck_report(f, "store.stray", fl->rel, f->repair && !rc, 0, -1,
				    f->repair && !rc ? moved : NULL,
				    "file in the blob store that is no blob (%s)%s%s", agebuf,
				    f->repair && !rc ? "; moved to lost+found" :
				    rc ? "; cannot move it: " : "",
				    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
		return;
	}
	f->sum->blobs++;
	if (f->o.read_data && !(fl->flags & F_DONE)) {
		if (cohort__fsck_abs_path(f, path, sizeof(path), fl->rel))
			return;
		rc = hash_file(f, path, got, &bytes);
		if (rc == COHORT_ENOTFOUND) {
			cohort__error_clear();
			return;
		}
		if (rc) {
			REPORT(f, "unreadable", fl->rel, 0, "%s",
			       cohort__fsck_why_failed(msg, sizeof(msg)));
			return;
		}
		f->bytes_done += bytes;
		fl->flags |= F_DONE;
		if (strcmp(got, name)) {
			/* No indexed package needs it (those were checked
			 * first): setting it aside loses nothing. */
			if (f->repair)
				rc = cohort__fsck_lf_move(f, fl->rel, "a damaged blob",
							  "its content does not match its name",
							  moved, sizeof(moved));
			cohort__fsck_report(f, "store.blob-damaged", fl->rel, f->repair && !rc, 0,
					    -1, f->repair && !rc ? moved : NULL,
					    "blob content hashes to %s, not its name; no "
					    "installed package needs it%s%s", got,
					    f->repair && !rc ? "; moved to lost+found" :
					    rc ? "; cannot move it: " : "",
					    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
			return;
		}
	}
	/* Referenced by the index, the snapshot or a retained install record;
	 * without a known index, everything counts as referenced.  A young
	 * blob may be an install's that waits for the store lock. */
	if (!have_index || is_ref(f, name) || age < 0 || age < f->grace_ms)
		return;
	if (f->repair)
		rc = cohort__fsck_lf_move(f, fl->rel, "an unreferenced blob",
					  "no installed package and no retained journal record "
					  "references it", moved, sizeof(moved));
	cohort__fsck_report(f, "store.blob-unreferenced", fl->rel, f->repair && !rc, 0, -1,
			    f->repair && !rc ? moved : NULL,
			    "blob that nothing references (%llu bytes, %s)%s%s",
			    (unsigned long long)fl->size, agebuf,
			    f->repair && !rc ? "; moved to lost+found" :
			    rc ? "; cannot move it: " : "",
			    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
}

void cohort__fsck_check_store(struct fsck *f)
{
	const cohort_package *v = NULL;
	const struct cohort__index *fin = NULL;
	size_t n = 0, i, k;

	if (!f->st)
		return;
	store_index(f);
	if (f->mode != MODE_NONE && f->jix_ok)
		fin = f->jix;
	else if (f->snap_state == SNAP_OK)
		fin = f->snap;
	if (fin) {
		v = cohort__store_index_packages(fin, &n, NULL);
		for (i = 0; i < n; i++)
			add_ref(f, v[i].hash);
	}
	if (f->snap_state == SNAP_OK) {
		const cohort_package *sv;
		size_t sn;

		sv = cohort__store_index_packages(f->snap, &sn, NULL);
		for (i = 0; i < sn; i++)
			add_ref(f, sv[i].hash);
	}
	if (f->nrefs)
		qsort(f->refs, f->nrefs, 33, cmp_ref);
	f->sum->packages = n;
	f->bytes_done = f->bytes_total = 0;
	if (f->o.read_data)
		for (i = 0; i < f->nfiles; i++)
			if (!strncmp(f->files[i].rel, "store/blobs/", 12))
				f->bytes_total += f->files[i].size;
	if (n) {
		/* One check per blob, with every package that needs it. */
		const cohort_package **byhash = malloc(n * sizeof(*byhash));

		if (!byhash) {
			REPORT(f, "unreadable", "store", 0, "out of memory");
			return;
		}
		for (i = 0; i < n; i++)
			byhash[i] = &v[i];
		qsort(byhash, n, sizeof(*byhash), cmp_pkg_hash);
		for (i = 0; i < n; i = k) {
			for (k = i + 1; k < n && !strcmp(byhash[k]->hash,
							 byhash[i]->hash); k++)
				;
			check_blob(f, byhash + i, k - i);
			cohort__fsck_progress(f, f->o.read_data ? "hashing blobs" : "store",
					      f->o.read_data ? f->bytes_done : k,
					      f->o.read_data ? f->bytes_total : n, 0);
		}
		free(byhash);
	}
	for (i = 0; i < f->nfiles; i++) {
		struct file *fl = &f->files[i];

		if (strncmp(fl->rel, "store/blobs/", 12) ||
		    cohort__os_is_temp_name(cohort__fsck_base_of(fl->rel)) ||
		    (fl->flags & (F_STATERR | F_MOVED | F_REPORTED)))
			continue;
		check_blob_file(f, fl, fin != NULL);
	}
	if (f->o.read_data)
		cohort__fsck_progress(f, "hashing blobs", f->bytes_total, f->bytes_total, 1);
}

/* The application's snapshot (snapshots/app), when there is one. */
void cohort__fsck_check_app_snapshot(struct fsck *f)
{
	void *data = NULL;
	size_t len;
	uint64_t rev;
	char msg[512];
	int rc;

	if (!cohort__fsck_file_find(f, "snapshots/app"))
		return;
	rc = cohort_snapshot_get(f->c, &data, &len, &rev);
	free(data);
	if (rc == COHORT_ENOTFOUND) {
		cohort__error_clear();
		return;
	}
	if (rc)
		REPORT(f, "snapshot", "snapshots/app", 0, "%s",
		       cohort__fsck_why_failed(msg, sizeof(msg)));
	else if (f->head_ok && rev > f->h.rev)
		REPORT(f, "snapshot", "snapshots/app", 0,
		       "application snapshot is at revision %llu, past the head "
		       "%llu", (unsigned long long)rev,
		       (unsigned long long)f->h.rev);
}
