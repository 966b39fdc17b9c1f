/*
 * fsck_journal_repair.c - what 'cohort fsck --repair' writes into the
 * journal, holding the journal lock: lost records in place of committed
 * revisions that cannot be read (the segment written again by
 * journal_repair.c, the head segment sealed first), a head with no valid
 * slot rebuilt from the segments, and a damaged segment header written
 * again.  A copy of the bytes replaced goes to lost+found first.
 * fsck_journal.c finds the damage; fsck_int.h is what the parts share.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cohort/journal.h"
#include "cohort/lock.h"
#include "fsck_int.h"
#include "journal_format.h"
#include "journal_repair.h"
#include "os/os.h"

/* Repair: queue revisions [first, last] of segment 's' (bytes [off, end);
 * 'off' 0: the segment is missing) for lost records.  0, or -1 if the
 * queue cannot grow (then it is reported as left). */
int cohort__fsck_add_fix(struct fsck *f, const struct seg *s, uint64_t off,
			 uint64_t end, uint64_t first, uint64_t last,
			 const char *fmt, ...)
{
	struct lost_fix *g, *x;
	va_list ap;

	g = realloc(f->fixes, (f->nfixes + 1) * sizeof(*g));
	if (!g)
		return -1;
	f->fixes = g;
	x = &f->fixes[f->nfixes++];
	memset(x, 0, sizeof(*x));
	x->seg = s->no;
	x->seg_first = s->state == 1 ? s->first : first;
	x->missing = off == 0;
	x->r.off = off;
	x->r.end = end;
	x->r.first = first;
	x->r.last = last;
	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
	return 0;
}

/*
 * Seal the head segment (repair): start the next one and publish it, as a
 * writer's rollover does, so that the damaged one can be written again
 * while no writer keeps it open.
 */
static int seal_head(struct fsck *f)
{
	unsigned char hdr[JSEG_HDR];
	char path[PATH_MAX], dir[PATH_MAX];
	struct cohort__head nh = f->h;
	int fd, rc;

	if ((rc = cohort_lock_check(f->journal_lock)) ||
	    (rc = cohort__fsck_open_seg(f, f->h.seg + 1, 0, &fd, path, sizeof(path))) == 0) {
		if (!rc) {
			cohort__os_close_quiet(fd);
			rc = cohort__error(COHORT_EEXISTS, "'%s' exists past the "
					   "head", path);
		}
		return rc;
	}
	cohort__error_clear();
	if ((rc = cohort__os_open(&fd, path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW,
				  cohort__file_mode(f->c))))
		return rc;
	cohort__seg_header2(hdr, f->h.seg + 1, f->h.rev + 1, f->h.epoch, f->h.off);
	rc = cohort__os_pwrite_full(fd, hdr, JSEG_HDR, 0, path);
	if (!rc)
		rc = cohort__os_fsync(fd, path);
	cohort__os_close_quiet(fd);
	if (!rc && (rc = cohort__fsck_abs_path(f, dir, sizeof(dir), "journal")) == 0)
		rc = cohort__os_fsync_dir(dir);
	if (rc)
		return rc;
	nh.seg = f->h.seg + 1;
	nh.off = JSEG_HDR;
	if ((rc = cohort__fsck_head_publish(f, &nh)))
		return rc;
	f->h = nh;
	return 0;
}

/*
 * Repair: replace every queued unreadable revision by a lost record, one
 * segment at a time (journal_repair.c): the damaged bytes to lost+found
 * first, then the segment written again (or made again, when missing),
 * then the head republished (a new sequence number makes readers that
 * met the old file look again).  Revisions stay contiguous; the loss is
 * named in each lost record and in the report.
 */
void cohort__fsck_fix_lost(struct fsck *f)
{
	size_t i, k, nreg;
	char msg[512];

	for (i = 0; i < f->nfixes; i = k) {
		struct lost_fix *x = &f->fixes[i];
		struct cohort__lost_region *v = NULL;
		char rel[64], path[PATH_MAX], moved[PATH_MAX], name[PATH_MAX];
		char what[256];
		uint64_t end = 0, size = 0;
		int rc = 0, fd = -1;

		for (k = i + 1; k < f->nfixes && f->fixes[k].seg == x->seg; k++)
			;
		nreg = k - i;
		cohort__fsck_seg_rel(rel, sizeof(rel), x->seg);
		moved[0] = '\0';
		if ((rc = cohort_lock_check(f->journal_lock)))
			goto done;
		if (x->missing) {
			rc = cohort__seg_create_lost(f->c, x->seg, x->r.first,
						     x->r.last, x->why);
			goto done;
		}
		if (x->seg == f->h.seg && (rc = seal_head(f)))
			goto done;
		if (!(v = calloc(nreg, sizeof(*v)))) {
			rc = cohort__error(COHORT_ERROR, "out of memory");
			goto done;
		}
		if ((rc = cohort__fsck_open_seg(f, x->seg, 0, &fd, path, sizeof(path))))
			goto done;
		{
			struct cohort__stat st;

			if ((rc = cohort__os_fstat(&st, fd, path)))
				goto done;
			end = st.size;
		}
		for (k = i; k < i + nreg; k++) {
			struct cohort__lost_region *r = &f->fixes[k].r;

			v[k - i] = *r;
			if (r->end > end)
				end = r->end;
			snprintf(name, sizeof(name), "%s.bytes-%llu-%llu", rel,
				 (unsigned long long)r->off,
				 (unsigned long long)r->end);
			snprintf(what, sizeof(what), "bytes %llu-%llu of %s "
				 "(revisions %llu-%llu)",
				 (unsigned long long)r->off,
				 (unsigned long long)r->end, rel,
				 (unsigned long long)r->first,
				 (unsigned long long)r->last);
			if ((rc = cohort__fsck_lf_save_range(f, name, fd, path, r->off, r->end,
							     what, "damaged committed records, "
							     "replaced by lost records",
							     moved, sizeof(moved))))
				goto done;
		}
		rc = cohort__seg_rewrite_lost(f->c, x->seg, x->seg_first, end, v,
					      nreg, x->why, &size);
done:
		cohort__os_close_quiet(fd);
		free(v);
		if (!rc)
			rc = cohort__fsck_head_publish(f, &f->h); /* readers: look again */
		for (k = i; k < i + nreg; k++) {
			struct lost_fix *y = &f->fixes[k];

			cohort__fsck_report(f, y->missing ? "journal.segment-missing" :
					    "journal.record", rel, !rc, y->r.first,
					    y->missing ? -1 : (int64_t)y->r.off, moved,
					    "revisions %llu-%llu cannot be read (%s)%s%s",
					    (unsigned long long)y->r.first,
					    (unsigned long long)y->r.last, y->why,
					    rc ? "; cannot replace them: " :
					    y->missing ? "; replaced by lost records" :
					    "; replaced by lost records (the damaged bytes "
					    "are in lost+found)",
					    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
			if (!rc)
				f->sum->lost += y->r.last - y->r.first + 1;
		}
		k = i + nreg;
	}
	free(f->fixes);
	f->fixes = NULL;
	f->nfixes = 0;
}

/*
 * Repair: a head with no valid slot, rebuilt from the segments: the tail
 * is the lowest segment file and its header, the head the highest one and
 * the end of its last whole verified commit.  Both slots are written (in
 * place: the head's inode never changes), after a copy of the old bytes
 * went to lost+found.  Commits past the last whole one are left for the
 * tail check that follows (published or cut, as after any crash).
 */
int cohort__fsck_rebuild_head(struct fsck *f, char *moved, size_t msize)
{
	struct cohort__head h;
	unsigned char hdr[JSEG_HDR], slot[JHEAD_SLOT];
	char path[PATH_MAX], rel[64], *text = NULL;
	uint64_t lo = UINT64_MAX, hi = 0, first;
	struct cohort__stat st;
	struct scan_res res;
	size_t i, got, len;
	int fd, rc;

	moved[0] = '\0';
	for (i = 0; i < f->nfiles; i++) {
		const char *rel0 = f->files[i].rel;
		char *end;
		unsigned long long no;

		if (strncmp(rel0, "journal/seg-", 12) || strlen(rel0) != 28)
			continue;
		errno = 0;
		no = strtoull(rel0 + 12, &end, 16);
		if (*end || errno || no == 0)
			continue;
		lo = no < lo ? no : lo;
		hi = no > hi ? no : hi;
	}
	if (!hi)
		return cohort__error(COHORT_ECORRUPT, "no journal segment left");
	memset(&h, 0, sizeof(h));
	h.tail_seg = lo;
	h.seg = hi;
	if ((rc = cohort__fsck_open_seg(f, lo, 0, &fd, path, sizeof(path))))
		return rc;
	rc = cohort__os_pread_full(fd, hdr, JSEG_HDR, 0, &got, path);
	cohort__os_close_quiet(fd);
	if (rc)
		return rc;
	if (got != JSEG_HDR || cohort__seg_header_check(hdr, lo, &h.tail_rev))
		return cohort__error(COHORT_ECORRUPT, "the tail segment's header "
				     "is damaged too");
	if ((rc = cohort__fsck_open_seg(f, hi, 0, &fd, path, sizeof(path))))
		return rc;
	rc = cohort__os_pread_full(fd, hdr, JSEG_HDR, 0, &got, path);
	if (!rc && (got != JSEG_HDR || cohort__seg_header_check(hdr, hi, &first)))
		rc = cohort__error(COHORT_ECORRUPT, "the last segment's header is "
				   "damaged too");
	if (!rc)
		rc = cohort__os_fstat(&st, fd, path);
	cohort__fsck_seg_rel(rel, sizeof(rel), hi);
	if (!rc)
		rc = cohort__fsck_scan(f, fd, path, rel, JSEG_HDR, st.size, first, UINT64_MAX,
				       0, &res);
	cohort__os_close_quiet(fd);
	if (rc)
		return rc;
	h.rev = res.keep_rev;
	h.off = res.keep_off;
	/* A copy of what is replaced, then both slots, synced. */
	if ((rc = cohort__fsck_abs_path(f, path, sizeof(path), "journal/head")) ||
	    (rc = cohort__os_read_file(&text, &len, path, 4096)) ||
	    (rc = cohort__fsck_lf_save_buf(f, "journal/head", text, len, "the journal head",
					   "no valid slot; rebuilt from the segments", moved,
					   msize)))
		goto out;
	if ((rc = cohort_lock_check(f->journal_lock)) ||
	    (rc = cohort__os_open(&fd, path, O_RDWR | O_NOFOLLOW, 0)))
		goto out;
	/* Epoch 1, break token 0: the next writer takes over (a new
	 * epoch and segment) unless no lease of 'journal' was ever broken. */
	h.epoch = 1;
	rc = cohort__os_ftruncate(fd, JHEAD_SIZE, path);
	for (i = 0; !rc && i < 2; i++) {
		h.seq = i + 1;
		cohort__head_encode(slot, &h);
		rc = cohort__os_pwrite_full(fd, slot, JHEAD_SLOT,
					    cohort__head_slot_off(&h), path);
	}
	if (!rc)
		rc = cohort__os_fdatasync(fd, path);
	cohort__os_close_quiet(fd);
	if (!rc)
		f->h = h;
out:
	free(text);
	return rc;
}

/*
 * Repair: a segment header that does not verify, written again from the
 * segment's number (its name) and the revision of its first record, when
 * that record verifies; the old header goes to lost+found first.
 */
void cohort__fsck_rebuild_seg_header(struct fsck *f, struct seg *s)
{
	unsigned char buf[JSEG_HDR + 512], hdr[JSEG_HDR];
	char path[PATH_MAX], rel[64], moved[PATH_MAX], msg[512], name[96];
	size_t got, need;
	cohort__rec r;
	int fd, rc;

	cohort__fsck_seg_rel(rel, sizeof(rel), s->no);
	if (cohort__fsck_open_seg(f, s->no, 1, &fd, path, sizeof(path))) {
		cohort__error_clear();
		return;
	}
	rc = cohort__os_pread_full(fd, buf, sizeof(buf), 0, &got, path);
	if (rc || got < JSEG_HDR + JREC_HDR) {
		cohort__error_clear();
		goto out;
	}
	if (cohort__rec_decode(&r, buf + JSEG_HDR, got - JSEG_HDR, &need) <= 0) {
		/* A longer first record: read it whole. */
		unsigned char *big;

		if (need <= got - JSEG_HDR || need > COHORT_RECORD_MAX + 4096 ||
		    !(big = malloc(need)))
			goto out;
		rc = cohort__os_pread_full(fd, big, need, JSEG_HDR, &got, path);
		if (rc || got != need || cohort__rec_decode(&r, big, got, &need) <= 0) {
			cohort__error_clear();
			free(big);
			goto out;
		}
		s->first = r.rev;
		free(big);
	} else {
		s->first = r.rev;
	}
	snprintf(name, sizeof(name), "%s.header", rel);
	cohort__seg_header(hdr, s->no, s->first);
	if ((rc = cohort__fsck_lf_save_range(f, name, fd, path, 0, JSEG_HDR, "a segment "
					     "header", "damaged; written again from the "
					     "segment's name and first record", moved,
					     sizeof(moved))) ||
	    (rc = cohort_lock_check(f->journal_lock)) ||
	    (rc = cohort__os_pwrite_full(fd, hdr, JSEG_HDR, 0, path)) ||
	    (rc = cohort__os_fdatasync(fd, path))) {
		cohort__fsck_report(f, "journal.segment-header", rel, 0, 0, -1, NULL,
				    "segment header is damaged; cannot write it again: %s",
				    cohort__fsck_why_failed(msg, sizeof(msg)));
		goto out;
	}
	s->state = 1;
	cohort__fsck_report(f, "journal.segment-header", rel, 1, r.rev, 0, moved,
			    "segment header is damaged; written again (segment %llu, "
			    "first revision %llu)", (unsigned long long)s->no,
			    (unsigned long long)s->first);
out:
	cohort__os_close_quiet(fd);
}
