/*
 * fsck_journal.c - fsck's check of the journal: the head, each segment of
 * its range by its header and then record by record (each verified record
 * passed to the store's replay, fsck_store.c), whole commits or torn bytes
 * past the head left by a writer that died, bytes past a sealed segment's
 * last record, and segments outside the head's range.  What repair writes
 * in place of unreadable records, a head or a segment header is in
 * fsck_journal_repair.c; fsck_int.h is what the parts share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cohort/lock.h"
#include "fsck_int.h"
#include "journal_format.h"
#include "os/os.h"

/* ---- the journal --------------------------------------------------------- */

/*
 * Make bytes [off, off + need) of the segment available (as far as 'limit'
 * and the file allow): '*p' and '*avail' describe them.
 */
static int window(struct fsck *f, int fd, const char *path, uint64_t off,
		  size_t need, uint64_t limit, const unsigned char **p,
		  size_t *avail)
{
	size_t want, got;
	int rc;

	if (off >= f->buf_off && off + need <= f->buf_off + f->buf_len) {
		*p = f->buf + (off - f->buf_off);
		*avail = f->buf_len - (size_t)(off - f->buf_off);
		return 0;
	}
	want = need > BUF_SIZE ? need : BUF_SIZE;
	if (want > limit - off)
		want = (size_t)(limit - off);
	if ((rc = cohort__fsck_buf_reserve(f, want)))
		return rc;
	if ((rc = cohort__os_pread_full(fd, f->buf, want, off, &got, path)))
		return rc;
	f->buf_off = off;
	f->buf_len = got;
	*p = f->buf;
	*avail = got;
	return 0;
}

/*
 * Scan records from 'off' (revision 'rev') while off < 'limit' and
 * rev <= 'limit_rev'; 'deliver' passes each verified record on.
 */
int cohort__fsck_scan(struct fsck *f, int fd, const char *path, const char *rel,
		      uint64_t off, uint64_t limit, uint64_t rev, uint64_t limit_rev,
		      int deliver, struct scan_res *res)
{
	int rc = 0;

	f->buf_len = 0;
	res->keep_off = off;
	res->keep_rev = rev - 1;
	res->last = 0;
	res->bad_rev = 0;
	for (;;) {
		const unsigned char *p;
		size_t avail, need = JREC_HDR;
		cohort__rec r;
		long size;

		if (off >= limit) {
			res->stop = ST_END;
			break;
		}
		if (rev > limit_rev) {
			res->stop = ST_REV;
			break;
		}
		if ((rc = window(f, fd, path, off, need, limit, &p, &avail)))
			break;
		size = cohort__rec_decode(&r, p, avail, &need);
		if (size == 0 && need <= limit - off && need > avail) {
			if ((rc = window(f, fd, path, off, need, limit, &p, &avail)))
				break;
			size = cohort__rec_decode(&r, p, avail, &need);
		}
		if (size == 0) {
			res->stop = ST_SHORT;
			break;
		}
		if (size < 0) {
			res->stop = ST_BAD;
			break;
		}
		if (r.rev != rev) {
			res->stop = ST_WRONGREV;
			res->bad_rev = r.rev;
			break;
		}
		if (deliver) {
			cohort__fsck_on_record(f, &r, rel, off);
			if ((f->sum->records & 4095) == 0)
				cohort__fsck_progress(f, "journal", f->bytes_done + off,
						      f->bytes_total, 0);
		}
		off += (uint64_t)size;
		res->last = r.last;
		if (r.last) {
			res->keep_off = off;
			res->keep_rev = rev;
		}
		rev++;
	}
	res->end_off = off;
	res->next_rev = rev;
	return rc;
}

struct fsck_window {
	struct fsck *f;
	int fd;
	const char *path;
	uint64_t limit;
};

static int fsck_window(void *ctx, uint64_t off, size_t need,
		       const unsigned char **p, size_t *avail)
{
	struct fsck_window *w = ctx;

	return window(w->f, w->fd, w->path, off, need, w->limit, p, avail);
}

/*
 * After damage at 'off': the next offset before 'limit' where a verified
 * record with a revision in (after, limit_rev] starts (the readers' own
 * resynchronization).  Returns 1 and sets '*at', '*rev' if found; an
 * unreadable stretch counts as not found.
 */
static int resync(struct fsck *f, int fd, const char *path, uint64_t off,
		  uint64_t limit, uint64_t after, uint64_t limit_rev,
		  uint64_t *at, uint64_t *rev)
{
	struct fsck_window w = { f, fd, path, limit };
	int rc;

	f->buf_len = 0;
	rc = cohort__rec_resync(fsck_window, &w, off, limit, after, limit_rev,
				at, rev);
	if (rc < 0) {
		cohort__error_clear();
		return 0;
	}
	return rc;
}

static const char *stop_why(const struct scan_res *res, char *buf, size_t size)
{
	switch (res->stop) {
	case ST_SHORT: return "is cut short";
	case ST_WRONGREV:
		snprintf(buf, size, "has the wrong revision (%llu)",
			 (unsigned long long)res->bad_rev);
		return buf;
	default: return "fails verification";
	}
}

int cohort__fsck_read_head(struct fsck *f, struct cohort__head *h, char *err,
			   size_t size)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	int rc;

	if ((rc = cohort__fsck_abs_path(f, path, sizeof(path), "journal/head")))
		return rc;
	rc = cohort__os_read_file(&text, &len, path, 4096);
	if (rc) {
		snprintf(err, size, "%s", rc == COHORT_ENOTFOUND ? "is missing" :
			 cohort_error_last());
		cohort__error_clear();
		return rc;
	}
	rc = cohort__head_decode(h, (unsigned char *)text, len);
	free(text);
	if (rc) {
		snprintf(err, size, "holds no valid slot (%zu bytes): every "
			 "committed revision is unknown", len);
		return COHORT_ECORRUPT;
	}
	return 0;
}

/* Publish 'h' (repair holds the journal lock): the slot seq % 2, synced. */
int cohort__fsck_head_publish(struct fsck *f, struct cohort__head *h)
{
	unsigned char slot[JHEAD_SLOT];
	char path[PATH_MAX];
	int fd, rc;

	if ((rc = cohort_lock_check(f->journal_lock)) ||
	    (rc = cohort__fsck_abs_path(f, path, sizeof(path), "journal/head")) ||
	    (rc = cohort__os_open(&fd, path, O_RDWR | O_NOFOLLOW, 0)))
		return rc;
	h->seq++;
	if (h->epoch == 0) {
		/* A version 1 head turns into version 2 (journal.c). */
		h->epoch = 1;
		if ((rc = cohort__os_ftruncate(fd, JHEAD_SIZE, path))) {
			cohort__os_close_quiet(fd);
			return rc;
		}
	}
	cohort__head_encode(slot, h);
	rc = cohort__os_pwrite_full(fd, slot, JHEAD_SLOT,
				    cohort__head_slot_off(h), path);
	if (!rc)
		rc = cohort__os_fdatasync(fd, path);
	if (!rc)
		rc = cohort__os_close(fd, path);
	else
		cohort__os_close_quiet(fd);
	return rc;
}

/* Save [off, size) of a segment to lost+found, then cut it there. */
static int cut_segment(struct fsck *f, int fd, const char *path,
		       const char *rel, uint64_t off, uint64_t size,
		       const char *why, char *moved, size_t msize)
{
	char name[PATH_MAX], what[256];
	int rc;

	snprintf(name, sizeof(name), "%s.bytes-%llu-%llu", rel,
		 (unsigned long long)off, (unsigned long long)size);
	snprintf(what, sizeof(what), "bytes %llu-%llu of %s",
		 (unsigned long long)off, (unsigned long long)size, rel);
	if ((rc = cohort__fsck_lf_save_range(f, name, fd, path, off, size, what, why, moved,
					     msize)) ||
	    (rc = cohort_lock_check(f->journal_lock)) ||
	    (rc = cohort__os_ftruncate(fd, off, path)) ||
	    (rc = cohort__os_fdatasync(fd, path)))
		return rc;
	return 0;
}

void cohort__fsck_seg_rel(char *out, size_t size, uint64_t no)
{
	snprintf(out, size, "journal/seg-%016llx", (unsigned long long)no);
}

int cohort__fsck_open_seg(struct fsck *f, uint64_t no, int rw, int *fd, char *path,
			  size_t size)
{
	int rc;

	if ((rc = cohort__seg_path(path, size, cohort_cluster_root(f->c), no)))
		return rc;
	return cohort__os_open(fd, path, (rw ? O_RDWR : O_RDONLY) | O_NOFOLLOW, 0);
}

/*
 * Bytes past the head in the head segment: whole verified commits there are
 * durable (a writer died before publishing them) and are published, as the
 * next writer would; the rest is cut after a copy goes to lost+found.  A
 * check-only run reports them only if the head stays still meanwhile.
 */
struct tail_look {
	const struct cohort__head *h;
	int fd;
	const char *path;
	uint64_t size;
};

/* Has the head or the head segment moved since 'arg' (a tail_look) saw
 * them?  An unreadable head counts as moved: it is not this check's. */
static int tail_moved(struct fsck *f, const void *arg)
{
	const struct tail_look *tl = arg;
	struct cohort__head h2;
	struct cohort__stat st2;
	char err[256];

	if (cohort__fsck_read_head(f, &h2, err, sizeof(err)) || h2.seq != tl->h->seq ||
	    cohort__os_fstat(&st2, tl->fd, tl->path) || st2.size != tl->size) {
		cohort__error_clear();
		return 1;
	}
	return 0;
}

static int check_tail(struct fsck *f)
{
	char path[PATH_MAX], rel[64], moved[PATH_MAX], msg[512];
	struct cohort__head h = f->h;
	struct cohort__stat st;
	struct scan_res res;
	int fd, rc;

	cohort__fsck_seg_rel(rel, sizeof(rel), h.seg);
	if ((rc = cohort__fsck_open_seg(f, h.seg, f->repair, &fd, path, sizeof(path))))
		return rc;
	if ((rc = cohort__os_fstat(&st, fd, path)))
		goto out;
	if (st.size <= h.off)
		goto out;
	if ((rc = cohort__fsck_scan(f, fd, path, rel, h.off, st.size, h.rev + 1, UINT64_MAX,
				    0, &res)))
		goto out;
	if (!f->repair) {
		struct tail_look tl = { &h, fd, path, st.size };

		/* A writer between its data write and its head publish, or one
		 * at work right now: the head moves, or the bytes do. */
		if (cohort__fsck_settled(f, tail_moved, &tl))
			goto out;
	}
	if (res.keep_rev > h.rev) {
		int done = 0;

		rc = 0;
		if (f->repair) {
			struct cohort__head nh = h;
			struct scan_res r2;

			nh.rev = res.keep_rev;
			nh.off = res.keep_off;
			rc = cohort__fsck_head_publish(f, &nh);
			if (!rc) {
				/* Now committed: count and replay them. */
				rc = cohort__fsck_scan(f, fd, path, rel, h.off, nh.off, h.rev + 1,
						       nh.rev, 1, &r2);
				f->h = nh;
				f->sum->head = nh.rev;
				done = 1;
			}
		}
		cohort__fsck_report(f, "journal.unpublished-commit", rel, done, h.rev + 1,
				    (int64_t)h.off, NULL,
				    "revisions %llu-%llu (whole, verified commits) are durable "
				    "past the head at offset %llu: a writer died before "
				    "publishing them%s%s",
				    (unsigned long long)h.rev + 1,
				    (unsigned long long)res.keep_rev,
				    (unsigned long long)h.off,
				    done ? "; published" :
				    f->repair ? "; cannot publish: " :
				    "; the next append or 'cohort fsck --repair' publishes them",
				    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
		if (rc)
			goto out;
	}
	if (st.size > res.keep_off) {
		int done = 0;

		moved[0] = '\0';
		if (f->repair) {
			rc = cut_segment(f, fd, path, rel, res.keep_off, st.size,
					 "uncommitted tail past the head: a writer "
					 "died while writing (never acknowledged)",
					 moved, sizeof(moved));
			done = !rc;
		}
		cohort__fsck_report(f, "journal.uncommitted-tail", rel, done, 0,
				    (int64_t)res.keep_off, moved,
				    "%llu bytes past the %s at offset %llu are not a whole "
				    "commit (a writer died while writing them; never "
				    "acknowledged)%s%s",
				    (unsigned long long)(st.size - res.keep_off),
				    res.keep_rev > h.rev ? "last whole commit" : "head",
				    (unsigned long long)res.keep_off,
				    done ? "; cut, saved to lost+found" :
				    f->repair ? "; cannot cut: " : "",
				    f->repair && !done ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
		rc = 0;
	}
out:
	cohort__os_close_quiet(fd);
	return rc;
}

/* Segments outside [tail_seg, seg]: left below the tail by a janitor that
 * died, or created past the head by a writer that died in a rollover. */
/* Is the segment 'arg' (a struct file) gone now, or inside the head's
 * range?  An unreadable head counts as yes: it is not this check's. */
static int stray_resolved(struct fsck *f, const void *arg)
{
	const struct file *fl = arg;
	struct cohort__head h2;
	struct cohort__stat st;
	char path[PATH_MAX], err[256];
	unsigned long long no = strtoull(fl->rel + 12, NULL, 16);
	int rc;

	if (cohort__fsck_abs_path(f, path, sizeof(path), fl->rel)) {
		cohort__error_clear();
		return 1;
	}
	rc = cohort__fsck_stat_settled(&st, path, 0);
	cohort__error_clear();
	if (rc)
		return 1;
	if (cohort__fsck_read_head(f, &h2, err, sizeof(err)))
		return 1;
	return no >= h2.tail_seg && no <= h2.seg;
}

static void check_stray_segments(struct fsck *f)
{
	size_t i;

	for (i = 0; i < f->nfiles; i++) {
		struct file *fl = &f->files[i];
		char moved[PATH_MAX], msg[512], *end;
		unsigned long long no;
		int below, rc = 0;

		if (strncmp(fl->rel, "journal/seg-", 12) || strlen(fl->rel) != 28 ||
		    (fl->flags & (F_STATERR | F_REPORTED | F_MOVED)))
			continue;
		errno = 0;
		no = strtoull(fl->rel + 12, &end, 16);
		if (*end || errno)
			continue;
		if (no >= f->h.tail_seg && no <= f->h.seg)
			continue;
		below = no < f->h.tail_seg;
		/* A janitor between publishing the tail and unlinking, or a
		 * writer between creating and publishing. */
		if (!f->repair && cohort__fsck_settled(f, stray_resolved, fl))
			continue;
		if (f->repair)
			rc = cohort__fsck_lf_move(f, fl->rel,
						  below ? "a journal segment below the tail" :
					     "a journal segment past the head",
						  below ? "every record in it was removed from "
					     "the journal (a janitor died before "
					     "removing the file)" :
					     "never published (a writer died while "
					     "starting it)", moved, sizeof(moved));
		cohort__fsck_report(f, below ? "journal.old-segment" : "journal.unpublished-segment",
				    fl->rel, f->repair && !rc, 0, -1, f->repair ? moved : NULL,
				    "segment %s the %s (segments %llu-%llu are the journal)%s%s",
				    below ? "below" : "past", below ? "tail" : "head",
				    (unsigned long long)f->h.tail_seg,
				    (unsigned long long)f->h.seg,
				    f->repair && !rc ? "; moved to lost+found" :
				    rc ? "; cannot move it: " : "",
				    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
	}
}

/* The segments of the head's range: headers first, then every record. */
int cohort__fsck_check_journal(struct fsck *f)
{
	struct seg *segs = NULL;
	char err[512], msg[512];
	uint64_t n, k;
	int rc = 0, tries = 0;

	f->chain_ok = 0;
again:
	if ((rc = cohort__fsck_read_head(f, &f->h, err, sizeof(err)))) {
		char moved[PATH_MAX];

		if (rc != COHORT_ECORRUPT && rc != COHORT_ENOTFOUND)
			return cohort__error(rc, "%s", err); /* cohort__fsck_read_head cleared it */
		if (f->repair && rc == COHORT_ECORRUPT && !tries &&
		    (rc = cohort__fsck_rebuild_head(f, moved, sizeof(moved))) == 0) {
			cohort__fsck_report(f, "journal.head", "journal/head", 1, 0, -1, moved,
					    "%s; rebuilt from the segments (revision %llu, "
					    "segments %llu-%llu)", err,
					    (unsigned long long)f->h.rev,
					    (unsigned long long)f->h.tail_seg,
					    (unsigned long long)f->h.seg);
			tries++;
			goto again;
		}
		REPORT(f, "journal.head", "journal/head", 0, "%s%s%s", err,
		       rc == COHORT_ECORRUPT && !f->repair ?
		       "; 'cohort fsck --repair' rebuilds it from the segments" :
		       f->repair ? "; cannot rebuild it: " : "",
		       f->repair ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
		cohort__fsck_store_begin(f);
		return 0;
	}
	f->head_ok = 1;
	f->sum->head = f->h.rev;
	f->sum->tail = f->h.tail_rev;
	n = f->h.seg - f->h.tail_seg + 1;
	if (n > (1u << 24))
		return cohort__error(COHORT_ECORRUPT, "journal head names %llu "
				     "segments", (unsigned long long)n);
	free(segs);
	segs = calloc((size_t)n, sizeof(*segs));
	if (!segs)
		return cohort__error(COHORT_ERROR, "out of memory");
	f->bytes_total = 0;
	for (k = 0; k < n; k++) {
		struct seg *s = &segs[k];
		unsigned char hdr[JSEG_HDR];
		char path[PATH_MAX];
		struct cohort__stat st;
		size_t got;
		int fd;

		s->no = f->h.tail_seg + k;
		rc = cohort__fsck_open_seg(f, s->no, 0, &fd, path, sizeof(path));
		if (rc) {
			s->state = rc == COHORT_ENOTFOUND ? -1 : -2;
			s->eno = errno;
			snprintf(s->err, sizeof(s->err), "%s", cohort_error_last());
			cohort__error_clear();
			rc = 0;
			continue;
		}
		rc = cohort__os_fstat(&st, fd, path);
		if (!rc)
			rc = cohort__os_pread_full(fd, hdr, JSEG_HDR, 0, &got, path);
		s->eno = errno;
		cohort__os_close_quiet(fd);
		if (rc) {
			s->state = -2;
			snprintf(s->err, sizeof(s->err), "%s", cohort_error_last());
			cohort__error_clear();
			rc = 0;
			continue;
		}
		s->size = st.size;
		f->bytes_total += st.size;
		s->state = got == JSEG_HDR &&
			   cohort__seg_header_check(hdr, s->no, &s->first) == 0;
		s->epoch = s->state ? cohort__seg_header_epoch(hdr) : 0;
		if (s->state == 0 && f->repair)
			cohort__fsck_rebuild_seg_header(f, s);
	}
	/* Check-only: a janitor may have trimmed the journal since the head
	 * was read (it publishes the new tail, then unlinks): look again. */
	for (k = 0; k < n && !f->repair && tries < 3; k++) {
		struct cohort__head h2;

		if (segs[k].state == -1 && cohort__fsck_read_head(f, &h2, err, sizeof(err)) == 0 &&
		    h2.tail_seg > segs[k].no) {
			tries++;
			goto again;
		}
	}
	f->sum->segments = n;
	f->first_phys = segs[0].state == 1 ? segs[0].first : 0;
	cohort__fsck_store_begin(f);
	f->chain_ok = segs[0].state == 1;
	if (segs[0].state == 1 && (f->h.tail_rev < segs[0].first ||
				   f->h.tail_rev > f->h.rev + 1)) {
		char rel[64];

		cohort__fsck_seg_rel(rel, sizeof(rel), segs[0].no);
		REPORT(f, "journal.head", "journal/head", 0,
		       "the tail revision %llu is not in the tail segment %s, "
		       "which starts at %llu", (unsigned long long)f->h.tail_rev,
		       rel, (unsigned long long)segs[0].first);
	}
	for (k = 0; k < n; k++) {
		struct seg *s = &segs[k];
		int head = s->no == f->h.seg;
		uint64_t limit, limit_rev;
		char path[PATH_MAX], rel[64];
		struct scan_res res;
		int fd;

		cohort__fsck_seg_rel(rel, sizeof(rel), s->no);
		if (s->state != 1) {
			f->chain_ok = 0;
			f->jix_ok = 0;
			if (s->state == -1) {
				/* Its range: after the segment before it, up
				 * to the one after it. */
				uint64_t lo = k == 0 ? f->h.tail_rev :
					      segs[k - 1].next;
				uint64_t hi = k + 1 < n && segs[k + 1].state == 1 ?
					      segs[k + 1].first - 1 : 0;

				if (!f->repair || !lo || hi < lo ||
				    cohort__fsck_add_fix(f, s, 0, 0, lo, hi, "segment %llu is "
							 "missing", (unsigned long long)s->no))
					REPORT(f, "journal.segment-missing", rel, 0,
					       "segment %llu of the journal (tail "
					       "%llu, head %llu) is missing: its "
					       "records are lost%s",
					       (unsigned long long)s->no,
					       (unsigned long long)f->h.tail_seg,
					       (unsigned long long)f->h.seg,
					       lo && hi >= lo ? "; 'cohort fsck "
					       "--repair' puts lost records in their "
					       "place" : "");
			}
			else if (s->state == -2) {
				if (!cohort__fsck_note_cutoff_msg(f, s->eno, s->err))
					REPORT(f, "unreadable", rel, 0, "%s",
					       s->err);
			}
			else
				REPORT(f, "journal.segment-header", rel, 0,
				       "segment header is damaged (%llu bytes): its "
				       "records cannot be placed%s",
				       (unsigned long long)s->size,
				       f->repair ? "" : "; 'cohort fsck --repair' "
				       "writes it again when its first record "
				       "verifies");
			f->bytes_done += s->size;
			continue;
		}
		limit = head ? (f->h.off < s->size ? f->h.off : s->size) : s->size;

		limit_rev = head ? f->h.rev :
			    (k + 1 < n && segs[k + 1].state == 1) ?
			    segs[k + 1].first - 1 : UINT64_MAX;
		if ((rc = cohort__fsck_open_seg(f, s->no, 0, &fd, path, sizeof(path)))) {
			struct cohort__head h2;
			int e = errno;

			f->chain_ok = f->jix_ok = 0;
			if (rc != COHORT_ENOTFOUND && cohort__fsck_note_cutoff(f, e)) {
				rc = 0;
				continue;
			}
			if (rc == COHORT_ENOTFOUND && !f->repair &&
			    cohort__fsck_read_head(f, &h2, err, sizeof(err)) == 0 &&
			    h2.tail_seg > s->no) {
				/* trimmed by a janitor meanwhile */
				cohort__error_clear();
				rc = 0;
				continue;
			}
			REPORT(f, rc == COHORT_ENOTFOUND ? "journal.segment-missing" :
			       "unreadable", rel, 0, "%s",
			       cohort__fsck_why_failed(msg, sizeof(msg)));
			rc = 0;
			continue;
		}
		if (!head && limit_rev != UINT64_MAX && limit_rev + 1 == s->first &&
		    k + 1 < n && segs[k + 1].epoch > s->epoch) {
			/* A takeover sealed it before any record went in (it
			 * must: a stale holder may still write there): the
			 * next one starts at its first revision.  Bytes past
			 * its header are a stale holder's, never read. */
			cohort__os_close_quiet(fd);
			f->bytes_done += s->size;
			s->next = s->first;
			continue;
		}
		if (!head && limit_rev != UINT64_MAX && limit_rev < s->first) {
			/* The next segment starts at or before this one: no
			 * end can be told, nothing is cut. */
			f->chain_ok = f->jix_ok = 0;
			REPORT(f, "journal.gap", rel, 0,
			       "segment starts at revision %llu but the next one "
			       "starts at %llu", (unsigned long long)s->first,
			       (unsigned long long)limit_rev + 1);
			limit_rev = UINT64_MAX;
		}
		{
			uint64_t start = JSEG_HDR, srev = s->first, at, nrev;
			int lost = 0, e;

			for (;;) {
				char b[64], lostmsg[256];
				int found;

				rc = cohort__fsck_scan(f, fd, path, rel, start, limit, srev,
						       limit_rev, 1, &res);
				if (rc || !(res.stop == ST_BAD ||
					    res.stop == ST_WRONGREV ||
					    res.stop == ST_SHORT))
					break;
				/* Damage below the head: report it, and read
				 * on from the next record that verifies. */
				f->chain_ok = f->jix_ok = 0;
				found = resync(f, fd, path, res.end_off, limit,
					       res.next_rev - 1, limit_rev, &at,
					       &nrev);
				if (found)
					cohort__fsck_bprintf(lostmsg, sizeof(lostmsg),
							     "revisions %llu-%llu cannot be "
							     "read (the segment verifies again "
							     "from offset %llu)",
							     (unsigned long long)res.next_rev,
							     (unsigned long long)nrev - 1,
							     (unsigned long long)at);
				else if (limit_rev != UINT64_MAX)
					cohort__fsck_bprintf(lostmsg, sizeof(lostmsg),
							     "revisions %llu-%llu cannot be "
							     "read (nothing after it in this "
							     "segment verifies)",
							     (unsigned long long)res.next_rev,
							     (unsigned long long)limit_rev);
				else
					cohort__fsck_bprintf(lostmsg, sizeof(lostmsg),
							     "nothing after it in this segment "
							     "can be read");
				if (f->repair && (found || limit_rev != UINT64_MAX) &&
				    cohort__fsck_add_fix(f, s, res.end_off, found ? at : limit,
							 res.next_rev,
							 found ? nrev - 1 : limit_rev,
							 "committed record %llu at offset %llu "
							 "%s", (unsigned long long)res.next_rev,
							 (unsigned long long)res.end_off,
							 stop_why(&res, b, sizeof(b))) == 0) {
					/* reported when it is done */
				} else {
					cohort__fsck_report(f, "journal.record", rel, 0,
							    res.next_rev, (int64_t)res.end_off,
							    NULL, "committed record %llu at "
							    "offset %llu %s: %s; %s",
							    (unsigned long long)res.next_rev,
							    (unsigned long long)res.end_off,
							    stop_why(&res, b, sizeof(b)),
							    lostmsg, found || limit_rev !=
							    UINT64_MAX ? "'cohort fsck "
							    "--repair' replaces them by lost "
							    "records (the damaged bytes go to "
							    "lost+found)" : "left for the "
							    "operator");
				}
				if (!found) {
					lost = 1;
					break;
				}
				start = at;
				srev = nrev;
			}
			e = errno;
			cohort__os_close_quiet(fd);
			if (rc && cohort__fsck_note_cutoff(f, e)) {
				rc = 0;
				continue;
			}
			if (rc) {
				REPORT(f, "unreadable", rel, 0, "%s",
				       cohort__fsck_why_failed(msg, sizeof(msg)));
				f->chain_ok = f->jix_ok = 0;
				rc = 0;
				continue;
			}
			f->bytes_done += s->size;
			cohort__fsck_progress(f, "journal", f->bytes_done, f->bytes_total, 0);
			if (lost)
				continue;
			s->next = res.next_rev;
		}
		if (!head) {
			/* Sealed by a takeover (the next segment is of a
			 * later epoch): bytes past its last revision are a
			 * stale holder's late writes, which no reader reads
			 * (journal.h, "Fencing"), and more may still arrive:
			 * not damage, left alone. */
			int fenced = k + 1 < n && segs[k + 1].epoch > s->epoch;

			if (res.stop == ST_REV && res.end_off < s->size &&
			    limit_rev != UINT64_MAX && !fenced) {
				/* Past the last record: a stale writer's bytes.
				 * Readers would trip on them. */
				int fixed = 0, wfd;
				char moved[PATH_MAX];

				moved[0] = '\0';
				rc = 0;
				if (f->repair) {
					rc = cohort__fsck_open_seg(f, s->no, 1, &wfd, path,
								   sizeof(path));
					if (!rc) {
						rc = cut_segment(
							f, wfd, path, rel, res.end_off,
							s->size,
							"bytes past the end of a sealed "
							"segment (a writer that lost its "
							"lease)", moved, sizeof(moved));
						cohort__os_close_quiet(wfd);
					}
					fixed = !rc;
				}
				cohort__fsck_report(f, "journal.sealed-tail", rel, fixed, 0,
						    (int64_t)res.end_off, moved,
						    "sealed segment has %llu bytes past its last "
						    "record (revision %llu) at offset %llu%s%s",
						    (unsigned long long)(s->size - res.end_off),
						    (unsigned long long)res.next_rev - 1,
						    (unsigned long long)res.end_off,
						    fixed ? "; cut, saved to lost+found" :
						    rc ? "; cannot cut: " : "",
						    rc ? cohort__fsck_why_failed(msg, sizeof(msg)) : "");
				rc = 0;
			} else if (limit_rev != UINT64_MAX &&
				   res.next_rev - 1 < limit_rev) {
				f->chain_ok = f->jix_ok = 0;
				cohort__fsck_report(f, "journal.short", rel, 0, res.next_rev,
						    (int64_t)res.end_off, NULL,
						    "sealed segment ends at revision %llu but the "
						    "next one starts at %llu: revisions %llu-%llu "
						    "are missing", (unsigned long long)res.next_rev - 1,
						    (unsigned long long)limit_rev + 1,
						    (unsigned long long)res.next_rev,
						    (unsigned long long)limit_rev);
			}
			continue;
		}
		/* The head segment. */
		if (s->size < f->h.off) {
			f->chain_ok = f->jix_ok = 0;
			cohort__fsck_report(f, "journal.short", rel, 0, res.next_rev,
					    (int64_t)s->size, NULL,
					    "head segment is %llu bytes but the head says %llu "
					    "are committed: revisions from %llu are lost",
					    (unsigned long long)s->size,
					    (unsigned long long)f->h.off,
					    (unsigned long long)res.next_rev);
		} else if (res.stop == ST_REV || res.next_rev - 1 != f->h.rev) {
			f->chain_ok = f->jix_ok = 0;
			REPORT(f, "journal.head", "journal/head", 0,
			       "the head says revision %llu ends at offset %llu of "
			       "%s, but the records there end at revision %llu, "
			       "offset %llu", (unsigned long long)f->h.rev,
			       (unsigned long long)f->h.off, rel,
			       (unsigned long long)res.next_rev - 1,
			       (unsigned long long)res.end_off);
		} else if (!res.last && res.next_rev > s->first) {
			f->chain_ok = f->jix_ok = 0;
			REPORT(f, "journal.head", "journal/head", 0,
			       "the head (revision %llu) sits inside a commit in %s",
			       (unsigned long long)f->h.rev, rel);
		} else if (s->size > f->h.off && (rc = check_tail(f))) {
			if (!cohort__fsck_note_cutoff(f, errno))
				REPORT(f, "unreadable", rel, 0, "%s",
				       cohort__fsck_why_failed(msg, sizeof(msg)));
			rc = 0;
		}
	}
	free(segs);
	cohort__fsck_progress(f, "journal", f->bytes_total, f->bytes_total, 1);
	check_stray_segments(f);
	if (!rc && f->nfixes)
		cohort__fsck_fix_lost(f);
	return rc;
}
