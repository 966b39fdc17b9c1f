/*
 * janitor.c - retire idle nodes, remove what every live node applied, and
 * store content nothing references.  Protocol at the top of
 * cohort/janitor.h; the safety argument in NOTES.md ("Janitor").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cohort/janitor.h"
#include "cohort/journal.h"
#include "cohort/lock.h"
#include "cohort/snapshot.h"
#include "cohort/store.h"
#include "journal_format.h"
#include "member.h"
#include "os/os.h"
#include "store_gc.h"

static int add_item(cohort_janitor_item **v, size_t *n, const char *path,
		    uint64_t first, uint64_t last, uint64_t bytes)
{
	cohort_janitor_item *g = realloc(*v, (*n + 1) * sizeof(**v));

	if (!g)
		return cohort__error(COHORT_ERROR, "out of memory");
	*v = g;
	memset(&g[*n], 0, sizeof(g[0]));
	snprintf(g[*n].path, sizeof(g[*n].path), "%s", path);
	g[*n].first = first;
	g[*n].last = last;
	g[*n].bytes = bytes;
	(*n)++;
	return 0;
}

static void on_segment(void *arg, const char *path, uint64_t first,
		       uint64_t last, uint64_t bytes)
{
	cohort_janitor_report *r = arg;

	if (add_item(&r->segments, &r->nsegments, path, first, last, bytes) == 0)
		r->freed += bytes;
}

static void on_blob(void *arg, const char *path, uint64_t bytes)
{
	cohort_janitor_report *r = arg;

	if (add_item(&r->blobs, &r->nblobs, path, 0, 0, bytes) == 0)
		r->freed += bytes;
}

void cohort_janitor_report_free(cohort_janitor_report *r)
{
	if (!r)
		return;
	free(r->retired);
	free(r->segments);
	free(r->blobs);
	memset(r, 0, sizeof(*r));
}

/*
 * Age of a file by the file server's clock, in ms; -1 if it is missing.
 * A file written after 'now' was read (a busy node's revision) is 0 old,
 * not negative: a negative age would read as "missing".  A file that
 * cannot be looked at for another reason is 0 old too: retirement needs
 * evidence of idleness, not a failed stat.
 */
static int64_t file_age_ms(cohort_cluster *c, int64_t now_ns, const char *node,
			   const char *leaf)
{
	char path[PATH_MAX];
	struct cohort__stat st;
	int rc;

	if ((rc = cohort__root_path(path, sizeof(path), c, "nodes/%s/%s", node,
				    leaf)) ||
	    (rc = cohort__os_stat(&st, path, 1))) {
		cohort__error_clear();
		return rc == COHORT_ENOTFOUND ? -1 : 0;
	}
	return now_ns > st.mtime_ns ? (now_ns - st.mtime_ns) / 1000000 : 0;
}

/* Retire nodes whose heartbeat and revision have not moved for 'after'. */
static int retire_idle(cohort_cluster *c, int64_t after, int dry_run,
		       cohort_janitor_report *r)
{
	cohort_node_info *v = NULL;
	size_t n = 0, i;
	int64_t now = 0;
	int rc;

	if ((rc = cohort_node_list(&v, &n, c)) ||
	    (rc = cohort__server_now_ns(&now, c, "nodes")))
		goto out;
	for (i = 0; i < n; i++) {
		int64_t hb, rv;
		char why[128];

		/* This node runs the janitor: it is alive. */
		if (v[i].retired || !strcmp(v[i].id, c->node))
			continue;
		hb = file_age_ms(c, now, v[i].id, "heartbeat");
		rv = file_age_ms(c, now, v[i].id, "revision");
		if ((hb >= 0 && hb < after) || (rv >= 0 && rv < after))
			continue;
		if (!dry_run) {
			snprintf(why, sizeof(why), "retired janitor %lld\n",
				 (long long)cohort__os_wall_ms());
			if ((rc = cohort__node_retire(c, v[i].id, why)))
				goto out;
		}
		if ((rc = add_item(&r->retired, &r->nretired, v[i].id, 0, 0, 0)))
			goto out;
	}
out:
	free(v);
	return rc;
}

int cohort_janitor_run(cohort_cluster *c, const cohort_janitor_options *o,
		       cohort_janitor_report *r)
{
	cohort_janitor_options def = COHORT_JANITOR_OPTIONS_INIT;
	cohort_lock *jan = NULL, *jl = NULL;
	cohort_journal *j = NULL;
	cohort_store *st = NULL;
	cohort_node_info *v = NULL;
	uint64_t limit, idx_rev = 0, snap_rev = 0;
	size_t n = 0, i;
	int64_t retire_after;
	int rc, r2;

	memset(r, 0, sizeof(*r));
	if (!o)
		o = &def;
	if (o->version != COHORT_JANITOR_OPTIONS_VERSION)
		return cohort__error(COHORT_EINVAL, "bad janitor options version");
	if ((rc = cohort__need_node(c)))
		return rc;
	retire_after = o->retire_after_ms >= 0 ? o->retire_after_ms :
		cohort__config_num(&c->cfg, "janitor", "retire_after");

	/* One janitor at a time, cluster-wide; the others step aside. */
	rc = cohort_lock_acquire(&jan, c, "janitor", 0);
	if (rc == COHORT_ELOCKED) {
		r->busy = 1;
		snprintf(r->busy_holder, sizeof(r->busy_holder), "%s",
			 cohort_error_last());
		cohort__error_clear();
		return 0;
	}
	if (rc)
		return rc;
	if ((rc = retire_idle(c, retire_after, o->dry_run, r)) ||
	    (rc = cohort_journal_open(&j, c)) || (rc = cohort_store_open(&st, c)))
		goto out;
	/* The store's index must not need what goes: snapshot it at the head
	 * first (a dry run only reads the head). */
	if (o->dry_run)
		rc = cohort_journal_bounds(j, NULL, &idx_rev);
	else
		rc = cohort__store_snapshot_now(st, &idx_rev);
	if (rc)
		goto out;

	/* Under the journal lock: no writer moves the head, no node joins. */
	if ((rc = cohort_lock_acquire(&jl, c, "journal", -1)) ||
	    (rc = cohort_journal_bounds(j, &r->tail_before, &r->head)) ||
	    (rc = cohort_node_list(&v, &n, c)))
		goto out;
	limit = idx_rev < r->head ? idx_rev : r->head;
	for (i = 0; i < n; i++) {
		size_t k;
		int going = 0;

		/* Retired nodes, and (in a dry run) those this run would
		 * retire, do not hold cleanup back; nor does a node already
		 * behind the tail: it bootstraps from the snapshot anyway. */
		for (k = 0; k < r->nretired; k++)
			going |= !strcmp(r->retired[k].path, v[i].id);
		if (v[i].retired || going)
			continue;
		/* A live node whose revision cannot be read holds everything:
		 * removing what it may not have applied would lose it. */
		if (v[i].revision_rc) {
			rc = cohort__error(v[i].revision_rc,
					   "cannot read node '%s''s revision "
					   "file: nothing removed (run 'cohort "
					   "fsck')", v[i].id);
			goto out;
		}
		if (v[i].revision + 1 < r->tail_before)
			continue;
		if (v[i].revision < limit) {
			limit = v[i].revision;
			snprintf(r->held_by, sizeof(r->held_by), "%s", v[i].id);
		}
	}
	rc = cohort_snapshot_rev(c, &snap_rev);
	if (rc == 0 && snap_rev < limit) {
		limit = snap_rev;
		snprintf(r->held_by, sizeof(r->held_by), "%s",
			 "the application snapshot");
	} else if (rc && rc != COHORT_ENOTFOUND) {
		goto out;
	}
	cohort__error_clear();
	r->limit = limit;
	rc = cohort__journal_trim(j, jl, limit,
				  cohort__config_num(&c->cfg, "janitor", "min_age"),
				  o->dry_run, on_segment, r, &r->tail_after);
	r2 = cohort_lock_release(jl);
	jl = NULL;
	if (rc || (rc = r2))
		goto out;
	rc = cohort__store_gc(st, cohort__config_num(&c->cfg, "janitor",
						     "blob_grace"),
			      o->dry_run, on_blob, r);
out:
	free(v);
	(void)cohort_lock_release(jl);
	cohort_store_close(st);
	cohort_journal_close(j);
	r2 = cohort_lock_release(jan);
	return rc ? rc : r2;
}
