/*
 * snapshot.c - the application's snapshot (see cohort/snapshot.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cluster.h"
#include "cohort/journal.h"
#include "cohort/lock.h"
#include "cohort/snapshot.h"
#include "journal_format.h"
#include "os/os.h"

static int snap_path(char *buf, size_t size, cohort_cluster *c)
{
	return cohort__root_path(buf, size, c, "snapshots/app");
}

/*
 * The checksum covers the header lines before "sum" and the content, so
 * that a changed revision is caught as surely as a changed byte.
 */
static uint64_t snap_sum(const char *text, const char *body, size_t blen)
{
	const char *s = strstr(text, "\nsum ");
	size_t hl = s ? (size_t)(s + 1 - text) : 0;

	return XXH3_64bits_withSeed(body, blen, XXH3_64bits(text, hl));
}

/* Parse the header; '*body' points at the content inside 'text'. */
static int snap_parse(const char *text, size_t len, uint64_t *rev,
		      const char **body, size_t *blen, const char *path)
{
	const char *sep = NULL;
	char val[32];
	uint64_t size, sum;

	if (len >= 18 && !strncmp(text, "cohort-snapshot 1\n", 18))
		sep = strstr(text, "\n\n");
	if (!sep || cohort__kv_get(text, "rev", val, sizeof(val)))
		goto bad;
	*rev = strtoull(val, NULL, 10);
	if (cohort__kv_get(text, "size", val, sizeof(val)))
		goto bad;
	size = strtoull(val, NULL, 10);
	if (cohort__kv_get(text, "sum", val, sizeof(val)))
		goto bad;
	sum = strtoull(val, NULL, 16);
	*body = sep + 2;
	*blen = len - (size_t)(*body - text);
	if (*blen != size || snap_sum(text, *body, *blen) != sum)
		goto bad;
	return 0;
bad:
	return cohort__error(COHORT_ECORRUPT,
			     "application snapshot '%s' is damaged: publish a new "
			     "one ('cohort snapshot put')", path);
}

int cohort_snapshot_get(cohort_cluster *c, void **data, size_t *len,
			uint64_t *rev)
{
	char path[PATH_MAX], *text = NULL;
	const char *body = NULL;
	size_t tlen, blen = 0;
	int rc;

	*data = NULL;
	*len = 0;
	if ((rc = snap_path(path, sizeof(path), c)))
		return rc;
	rc = cohort__os_read_file(&text, &tlen, path, COHORT_SNAPSHOT_MAX + 4096);
	if (rc == COHORT_ENOTFOUND)
		return cohort__error(COHORT_ENOTFOUND,
				     "no application snapshot has been published "
				     "('cohort snapshot put FILE')");
	if (rc)
		return rc;
	if ((rc = snap_parse(text, tlen, rev, &body, &blen, path))) {
		free(text);
		return rc;
	}
	/* Hand back the content alone, in its own buffer. */
	memmove(text, body, blen);
	*data = text;
	*len = blen;
	return 0;
}

int cohort_snapshot_rev(cohort_cluster *c, uint64_t *rev)
{
	void *data;
	size_t len;
	int rc = cohort_snapshot_get(c, &data, &len, rev);

	free(data);
	return rc;
}

int cohort_snapshot_load(cohort_cluster *c, cohort_journal *j, uint64_t need,
			 cohort_snapshot_fn fn, void *user, uint64_t *rev)
{
	uint64_t srev = 0, tail = 0;
	void *data = NULL;
	size_t len = 0;
	int rc;

	if ((rc = cohort_snapshot_get(c, &data, &len, &srev)))
		return cohort__error_wrap(rc, "cannot bootstrap");
	if ((rc = cohort_journal_bounds(j, &tail, NULL)))
		goto out;
	if (srev + 1 < tail) {
		rc = cohort__error(COHORT_ERROR, "cannot bootstrap: the latest "
				   "snapshot (revision %" PRIu64 ") is older than "
				   "the oldest retained record (%" PRIu64 ")",
				   srev, tail);
		goto out;
	}
	if (srev < need) {
		rc = cohort__error(COHORT_ENOTFOUND, "cannot restore past the lost "
				   "revisions up to %" PRIu64 ": the latest "
				   "snapshot is at revision %" PRIu64 " (publish a "
				   "newer one with 'cohort snapshot put', or accept "
				   "the loss with --skip-lost)", need, srev);
		goto out;
	}
	if ((rc = fn(data, len, srev, user)))
		goto out;
	if ((rc = cohort_journal_set_revision(j, srev)))
		goto out;
	if (rev)
		*rev = srev;
out:
	free(data);
	return rc;
}

int cohort_snapshot_put(cohort_cluster *c, const void *data, size_t len,
			uint64_t *rev)
{
	char path[PATH_MAX], dir[PATH_MAX], head[256];
	uint64_t mine = 0, tail = 0, top = 0, old = 0;
	cohort_lock *l = NULL;
	char *buf = NULL;
	int rc, r2, n;

	if ((rc = cohort__need_node(c)))
		return rc;
	if (len > COHORT_SNAPSHOT_MAX)
		return cohort__error(COHORT_EINVAL, "snapshot of %zu bytes is over "
				     "the limit of %zu", len, COHORT_SNAPSHOT_MAX);
	if ((rc = snap_path(path, sizeof(path), c)) ||
	    (rc = cohort__root_path(dir, sizeof(dir), c, "snapshots")) ||
	    (rc = cohort__os_mkdir(dir, cohort__dir_mode(c))))
		return rc;
	if ((rc = cohort_lock_acquire(&l, c, "snapshot", -1)))
		return rc;
	if ((rc = cohort_journal_node_revision(c, c->node, &mine)) ||
	    (rc = cohort__journal_bounds(c, &tail, &top)))
		goto out;
	if (mine + 1 < tail) {
		rc = cohort__error(COHORT_EINVAL,
				   "node '%s' is at revision %llu, behind the oldest "
				   "retained record %llu: its state is not current",
				   c->node, (unsigned long long)mine,
				   (unsigned long long)tail);
		goto out;
	}
	rc = cohort_snapshot_rev(c, &old);
	if (rc == 0 && old > mine) {
		rc = cohort__error(COHORT_EINVAL,
				   "a newer snapshot (revision %llu) is published "
				   "already; node '%s' is at %llu",
				   (unsigned long long)old, c->node,
				   (unsigned long long)mine);
		goto out;
	}
	if (rc && rc != COHORT_ENOTFOUND && rc != COHORT_ECORRUPT)
		goto out;
	cohort__error_clear();
	n = snprintf(head, sizeof(head),
		     "cohort-snapshot 1\nrev %llu\nnode %s\nsize %zu\n",
		     (unsigned long long)mine, c->node, len);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "sum %016llx\n\n",
		      (unsigned long long)XXH3_64bits_withSeed(
			      data, len, XXH3_64bits(head, (size_t)n)));
	buf = malloc((size_t)n + len);
	if (!buf) {
		rc = cohort__error(COHORT_ERROR, "out of memory");
		goto out;
	}
	memcpy(buf, head, (size_t)n);
	if (len)
		memcpy(buf + n, data, len);
	if ((rc = cohort_lock_check(l)) ||
	    (rc = cohort__os_write_atomic(path, buf, (size_t)n + len,
					  cohort__file_mode(c), c->node)))
		goto out;
	if (rev)
		*rev = mine;
out:
	free(buf);
	r2 = cohort_lock_release(l);
	return rc ? rc : r2;
}
