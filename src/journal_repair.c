/*
 * journal_repair.c - what 'cohort fsck --repair' writes into the journal
 * when committed revisions cannot be read: lost records (COHORT_LOST_TYPE)
 * in their place, so that revisions stay contiguous and every reader can
 * pass, and a segment header rebuilt from the record it starts with.
 *
 * A segment holding damage is written again whole, to a temporary file
 * that is synced and then renamed over it: a crash leaves either the old
 * segment or the new one, never a mix (the temporary file is fsck's to
 * find later).  Only a sealed segment is written again: a writer keeps the
 * head segment open across commits, so fsck first seals that one by
 * starting the next (fsck_journal_repair.c).  The caller holds the journal
 * lock and has saved the damaged bytes to lost+found before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "cohort/journal.h"
#include "journal_format.h"
#include "journal_repair.h"
#include "os/os.h"

#define COPY_CHUNK (1u << 20)

/* Write lost records for [first, last] at the end of 'fd'. */
static int write_lost(int fd, const char *path, cohort_cluster *c,
		      uint64_t first, uint64_t last, int last_flag,
		      int64_t now_ms, const char *why)
{
	unsigned char *rec = NULL;
	char *data = NULL;
	size_t len, size;
	uint64_t rev;
	int rc;

	if ((rc = cohort__lost_format(&data, &len, first, last, now_ms, why)))
		return rc;
	size = cohort__rec_size(strlen(c->node), strlen(COHORT_LOST_TYPE), len);
	if (!(rec = malloc(size))) {
		free(data);
		return cohort__error(COHORT_ERROR, "out of memory");
	}
	for (rev = first, rc = 0; !rc && rev <= last; rev++) {
		cohort__rec_encode(rec, rev, now_ms, c->node, COHORT_LOST_TYPE,
				   data, len, last_flag && rev == last);
		rc = cohort__os_write_full(fd, rec, size, path);
	}
	free(rec);
	free(data);
	return rc;
}

/* Copy [off, end) of 'src' to the end of 'dst'. */
static int copy_range(int dst, const char *dpath, int src, const char *spath,
		      uint64_t off, uint64_t end, unsigned char *buf)
{
	while (off < end) {
		size_t want = end - off > COPY_CHUNK ? COPY_CHUNK :
						      (size_t)(end - off);
		size_t got;
		int rc;

		if ((rc = cohort__os_pread_full(src, buf, want, off, &got, spath)))
			return rc;
		if (got != want)
			return cohort__error(COHORT_ECORRUPT, "'%s' shrank while "
					     "it was copied", spath);
		if ((rc = cohort__os_write_full(dst, buf, got, dpath)))
			return rc;
		off += got;
	}
	return 0;
}

/* Sync the temporary file, rename it over 'path', sync the folder. */
static int publish(int fd, const char *tmp, const char *path)
{
	char dir[PATH_MAX], *slash;
	int rc;

	rc = cohort__os_fsync(fd, tmp);
	if (rc)
		cohort__os_close_quiet(fd);
	else
		rc = cohort__os_close(fd, tmp);
	if (rc) {
		(void)unlink(tmp);
		cohort__os_temp_done(tmp);
		return rc;
	}
	rc = cohort__os_rename(tmp, path);
	if (rc)
		(void)unlink(tmp);
	cohort__os_temp_done(tmp);
	if (rc)
		return rc;
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')))
		*slash = '\0';
	return cohort__os_fsync_dir(dir);
}

int cohort__seg_rewrite_lost(cohort_cluster *c, uint64_t no, uint64_t first,
			     uint64_t end, const struct cohort__lost_region *v,
			     size_t n, const char *why, uint64_t *size_out)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	unsigned char hdr[JSEG_HDR], *buf = NULL;
	int64_t now_ms = cohort__os_wall_ms();
	uint64_t pos = JSEG_HDR;
	struct cohort__stat st;
	int src = -1, dst = -1, rc;
	size_t i;

	if ((rc = cohort__seg_path(path, sizeof(path), c->root, no)) ||
	    (rc = cohort__os_open(&src, path, O_RDONLY | O_NOFOLLOW, 0)))
		return rc;
	if (!(buf = malloc(COPY_CHUNK))) {
		rc = cohort__error(COHORT_ERROR, "out of memory");
		goto out;
	}
	if ((rc = cohort__os_temp_open(&dst, tmp, sizeof(tmp), path,
				       cohort__file_mode(c), c->node)))
		goto out;
	{
		/* Keep the old header when it holds (its epoch and seal of
		 * the segment before stay). */
		unsigned char old[JSEG_HDR];
		uint64_t f0;
		size_t got;

		cohort__seg_header(hdr, no, first);
		if (cohort__os_pread_full(src, old, JSEG_HDR, 0, &got, path) == 0 &&
		    got == JSEG_HDR && cohort__seg_header_check(old, no, &f0) == 0 &&
		    f0 == first)
			memcpy(hdr, old, JSEG_HDR);
		cohort__error_clear();
	}
	rc = cohort__os_write_full(dst, hdr, JSEG_HDR, tmp);
	for (i = 0; !rc && i < n; i++) {
		rc = copy_range(dst, tmp, src, path, pos, v[i].off, buf);
		if (!rc)
			rc = write_lost(dst, tmp, c, v[i].first, v[i].last,
					v[i].end >= end, now_ms, why);
		pos = v[i].end;
	}
	if (!rc && pos < end)
		rc = copy_range(dst, tmp, src, path, pos, end, buf);
	if (!rc)
		rc = cohort__os_fstat(&st, dst, tmp);
	if (rc) {
		cohort__os_close_quiet(dst);
		(void)unlink(tmp);
		cohort__os_temp_done(tmp);
		goto out;
	}
	*size_out = st.size;
	rc = publish(dst, tmp, path);
out:
	free(buf);
	cohort__os_close_quiet(src);
	return rc;
}

int cohort__seg_create_lost(cohort_cluster *c, uint64_t no, uint64_t first,
			    uint64_t last, const char *why)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	unsigned char hdr[JSEG_HDR];
	int fd, rc;

	if ((rc = cohort__seg_path(path, sizeof(path), c->root, no)) ||
	    (rc = cohort__os_temp_open(&fd, tmp, sizeof(tmp), path,
				       cohort__file_mode(c), c->node)))
		return rc;
	cohort__seg_header(hdr, no, first);
	if ((rc = cohort__os_write_full(fd, hdr, JSEG_HDR, tmp)) ||
	    (rc = write_lost(fd, tmp, c, first, last, 1, cohort__os_wall_ms(),
			     why))) {
		cohort__os_close_quiet(fd);
		(void)unlink(tmp);
		cohort__os_temp_done(tmp);
		return rc;
	}
	return publish(fd, tmp, path);
}
