/*
 * doctor.c - what the root's filesystem and mount promise, tried for real.
 * See cohort/doctor.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cohort/doctor.h"
#include "error.h"
#include "name.h"
#include "os/os.h"

struct ctx {
	cohort_doctor_fn fn;
	void *arg;
	cohort_doctor_level worst;
};

static void say(struct ctx *x, const char *check, cohort_doctor_level level,
		const char *fix, const char *fmt, ...)
	COHORT__PRINTF(5, 6);
static void say(struct ctx *x, const char *check, cohort_doctor_level level,
		const char *fix, const char *fmt, ...)
{
	cohort_doctor_finding f;
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	f.check = check;
	f.level = level;
	f.detail = detail;
	f.fix = fix ? fix : "";
	if (level > x->worst)
		x->worst = level;
	if (x->fn)
		x->fn(&f, x->arg);
}

/* The value of option 'name' in a comma list ("" for a bare flag), or
 * NULL when absent. */
static const char *opt_value(const char *opts, const char *name, char *buf,
			     size_t size)
{
	size_t nl = strlen(name);
	const char *p = opts;

	while (p && *p) {
		size_t l = strcspn(p, ",");

		if (l >= nl && !strncmp(p, name, nl) && (l == nl || p[nl] == '=')) {
			size_t vl = l > nl ? l - nl - 1 : 0;

			if (vl >= size)
				vl = size - 1;
			memcpy(buf, p + nl + (l > nl), vl);
			buf[vl] = '\0';
			return buf;
		}
		p += l + (p[l] == ',');
	}
	return NULL;
}

/*
 * ENOLCK from an fcntl lock: NFSv3 without rpcbind and rpc.statd on the
 * client (NFS.md fact 14).  Every cluster lock of lock mode 'auto' would
 * fail the same way.
 */
#define ENOLCK_FIX \
	"start rpcbind and rpc.statd on this client (NFSv3 locks need " \
	"both), or set 'lock_mode = lease' in cohort.conf (the lease alone)"

/* Returns 1 when the root is on a FUSE filesystem. */
static int check_mount(struct ctx *x, const char *root)
{
	char type[64], opts[2048], v[128];
	int nfs, fuse;

	if (cohort__os_mount_info(root, type, sizeof(type), opts, sizeof(opts))) {
		say(x, "mount", COHORT_DOCTOR_WARN, "check that /proc is mounted",
		    "cannot read the mount table: %s", cohort_error_last());
		cohort__error_clear();
		return 0;
	}
	nfs = !strncmp(type, "nfs", 3);
	fuse = !strncmp(type, "fuse", 4);
	if (nfs) {
		say(x, "fstype", COHORT_DOCTOR_OK, NULL, "%s, version %s", type,
		    opt_value(opts, "vers", v, sizeof(v)) ? v : "?");
	} else if (fuse) {
		say(x, "fstype", COHORT_DOCTOR_NOTE, NULL,
		    "%s: a FUSE filesystem; fcntl locks through it are the "
		    "FUSE server's own, so cohort serializes a node's processes "
		    "itself and relies on its lease layer across hosts", type);
	} else {
		say(x, "fstype", COHORT_DOCTOR_NOTE,
		    "put the root on the NFS mount every node shares",
		    "%s: a local filesystem; only processes of this host can "
		    "share it", type);
	}
	if (opt_value(opts, "nolock", v, sizeof(v)) ||
	    (opt_value(opts, "local_lock", v, sizeof(v)) && strcmp(v, "none")))
		say(x, "locks", COHORT_DOCTOR_WARN,
		    "mount without 'nolock' / with local_lock=none so that both "
		    "lock layers work",
		    "fcntl locks exclude only this client (%s); cohort's lock "
		    "mode 'auto' uses the lease alone here",
		    opt_value(opts, "nolock", v, sizeof(v)) ? "nolock" : "local_lock");
	else
		say(x, "locks", COHORT_DOCTOR_OK, NULL,
		    "fcntl locks are forwarded; lock mode 'auto' uses fcntl and "
		    "lease locks");
	if (nfs && opt_value(opts, "soft", v, sizeof(v)))
		say(x, "soft", COHORT_DOCTOR_FAIL, "mount with 'hard'",
		    "'soft': a write that times out fails late or is lost after "
		    "close; commits cannot be trusted");
	if (nfs && opt_value(opts, "sync", v, sizeof(v)))
		say(x, "sync", COHORT_DOCTOR_NOTE, NULL,
		    "'sync': every write goes to the server at once (slower; "
		    "cohort syncs where it must anyway)");
	if (nfs && opt_value(opts, "lookupcache", v, sizeof(v)) &&
	    strcmp(v, "none") && strcmp(v, "positive"))
		say(x, "lookupcache", COHORT_DOCTOR_NOTE,
		    "lookupcache=positive makes new names appear sooner",
		    "lookupcache=%s: failed lookups are cached; cohort only opens "
		    "names another node announced first", v);
	if (nfs && (opt_value(opts, "noac", v, sizeof(v)) ||
		    (opt_value(opts, "actimeo", v, sizeof(v)) && !strcmp(v, "0"))))
		say(x, "attrcache", COHORT_DOCTOR_WARN,
		    "drop noac/actimeo=0: cohort forces fresh attributes where "
		    "it needs them",
		    "attribute caching is off: every stat goes to the server "
		    "(slow)");
	else if (nfs && opt_value(opts, "acregmax", v, sizeof(v)))
		say(x, "attrcache", COHORT_DOCTOR_NOTE, NULL,
		    "attributes cached up to acregmax=%s s; cohort reads sizes "
		    "that matter with a forced GETATTR", v);
	return fuse;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int write_file(const char *path, const char *text, int excl)
{
	int fd, rc;

	rc = cohort__os_open(&fd, path, O_WRONLY | O_CREAT | O_NOFOLLOW |
					(excl ? O_EXCL : O_TRUNC), 0600);
	if (rc)
		return rc;
	rc = cohort__os_write_full(fd, text, strlen(text), path);
	if (!rc)
		rc = cohort__os_fsync(fd, path);
	if (rc) {
		cohort__os_close_quiet(fd);
		return rc;
	}
	return cohort__os_close(fd, path);
}

static void check_ops(struct ctx *x, const char *dir, int samples, int fuse)
{
	char a[PATH_MAX + 8], b[PATH_MAX + 8], c[PATH_MAX + 8], *text = NULL;
	struct cohort__stat sa, sb;
	size_t len;
	int rc, fd1 = -1, fd2 = -1, i;

	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(c, sizeof(c), "%s/c", dir);

	/* O_EXCL create: the second must fail. */
	rc = write_file(a, "first\n", 1);
	if (!rc) {
		rc = write_file(a, "second\n", 1);
		if (rc == COHORT_EEXISTS)
			say(x, "excl", COHORT_DOCTOR_OK, NULL,
			    "O_EXCL create refuses an existing name");
		else
			say(x, "excl", COHORT_DOCTOR_FAIL,
			    "use NFS version 3 or later",
			    "O_EXCL create of an existing name did not fail (%s)",
			    rc ? cohort_error_last() : "it succeeded");
	} else {
		say(x, "excl", COHORT_DOCTOR_FAIL, "check the permissions",
		    "cannot create a file: %s", cohort_error_last());
	}
	cohort__error_clear();

	/* rename over an existing file replaces it whole. */
	if (!write_file(b, "new\n", 0) && !cohort__os_rename(b, a) &&
	    !cohort__os_read_file(&text, &len, a, 64) && !strcmp(text, "new\n"))
		say(x, "rename", COHORT_DOCTOR_OK, NULL,
		    "rename over an existing file replaces it");
	else
		say(x, "rename", COHORT_DOCTOR_FAIL, NULL,
		    "rename over an existing file failed: %s", cohort_error_last());
	free(text);
	cohort__error_clear();

	/* link: the new name is the same inode; a second link refuses. */
	if (!cohort__os_link(a, c) && !cohort__os_stat(&sa, a, 1) &&
	    !cohort__os_stat(&sb, c, 1) && sa.ino == sb.ino && sa.nlink == 2 &&
	    /* the raw call: the wrapper calls a link onto the same inode a
	     * success (a retransmitted reply), which is right for cohort and
	     * useless for this check */
	    cohort__sys.link(a, c) < 0 && errno == EEXIST)
		say(x, "link", COHORT_DOCTOR_OK, NULL,
		    "link() works and refuses an existing name");
	else
		say(x, "link", COHORT_DOCTOR_FAIL,
		    "cohort creates files whole with link(): use a filesystem "
		    "with hard links",
		    "link() does not behave: %s", cohort_error_last());
	cohort__error_clear();

	/* OFD locks: a second descriptor is refused while the first holds. */
	if (!cohort__os_open(&fd1, a, O_RDWR, 0) &&
	    !cohort__os_open(&fd2, a, O_RDWR, 0) &&
	    !cohort__os_lock_ofd(fd1, F_WRLCK, a)) {
		rc = cohort__os_lock_ofd(fd2, F_WRLCK, a);
		if (rc == COHORT_ELOCKED)
			say(x, "ofd", COHORT_DOCTOR_OK, NULL,
			    "OFD locks exclude each other");
		else if (fuse && rc == 0)
			/* Both locks reach the FUSE server as its own: within
			 * one mount they cannot conflict.  cohort serializes a
			 * node's processes with flock and excludes across
			 * mounts with fcntl and lease (--peer-check tells). */
			say(x, "ofd", COHORT_DOCTOR_NOTE, NULL,
			    "a second OFD lock through this same FUSE mount was "
			    "granted (its server holds both); cohort does not "
			    "rely on that: run --peer-check for locks across "
			    "mounts");
		else
			say(x, "ofd", COHORT_DOCTOR_WARN,
			    "cohort's lease layer still excludes",
			    "a second OFD lock was granted (%s)",
			    rc ? cohort_error_last() : "no conflict seen");
	} else if (errno == ENOLCK) {
		say(x, "ofd", COHORT_DOCTOR_FAIL, ENOLCK_FIX,
		    "fcntl locks fail: %s", cohort_error_last());
	} else {
		say(x, "ofd", COHORT_DOCTOR_WARN,
		    "cohort's lease layer still excludes",
		    "OFD locks are not available: %s", cohort_error_last());
	}
	cohort__os_close_quiet(fd1);
	cohort__os_close_quiet(fd2);
	fd1 = -1;
	cohort__error_clear();

	/* directory fsync */
	{
		int dfd;

		rc = cohort__os_open(&dfd, dir, O_RDONLY | O_DIRECTORY, 0);
		if (!rc) {
			rc = cohort__os_fsync(dfd, dir);
			cohort__os_close_quiet(dfd);
		}
		if (!rc)
			say(x, "dirsync", COHORT_DOCTOR_OK, NULL,
			    "folders can be fsynced");
		else
			say(x, "dirsync", COHORT_DOCTOR_NOTE, NULL,
			    "folder fsync refused (%s): cohort tolerates it; NFS "
			    "servers make folder changes durable themselves",
			    cohort_error_last());
		cohort__error_clear();
	}

	/* clock skew against the file server, and the fsync rate */
	rc = cohort__os_open(&fd1, b, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW,
			     0600);
	if (!rc) {
		char rec[128];
		int64_t t0 = now_ns(), t1, start, el;
		struct cohort__stat st;

		memset(rec, 'x', sizeof(rec));
		rc = cohort__os_write_full(fd1, rec, sizeof(rec), b);
		if (!rc)
			rc = cohort__os_fsync(fd1, b);
		t1 = now_ns();
		if (!rc && !cohort__os_fstat(&st, fd1, b)) {
			int64_t mid = t0 + (t1 - t0) / 2;
			int64_t skew = (st.mtime_ns - mid) / 1000000;
			int64_t aske = skew < 0 ? -skew : skew;

			/* Filesystems keep mtimes at their own granularity
			 * (ext4: a clock tick), so below 50 ms is noise. */
			if (aske < 50)
				say(x, "clock", COHORT_DOCTOR_OK, NULL,
				    "this node's clock and the file server's "
				    "agree (%lld ms)", (long long)skew);
			else
				say(x, "clock", aske > 2000 ? COHORT_DOCTOR_WARN :
					COHORT_DOCTOR_NOTE,
				    "run NTP (chrony) on the nodes and the server; "
				    "cohort never compares clocks of two hosts, but "
				    "record times and logs do",
				    "this node's clock is %lld ms %s the file "
				    "server's", (long long)aske,
				    skew < 0 ? "ahead of" : "behind");
		}
		start = now_ns();
		for (i = 0; !rc && i < samples; i++) {
			rc = cohort__os_write_full(fd1, rec, sizeof(rec), b);
			if (!rc)
				rc = cohort__os_fdatasync(fd1, b);
		}
		el = now_ns() - start;
		if (!rc && el > 0)
			say(x, "fsync", COHORT_DOCTOR_NOTE, NULL,
			    "%.0f durable 128-byte appends per second (write + "
			    "fdatasync; one cohort commit needs one)",
			    (double)samples * 1e9 / (double)el);
		else if (rc)
			say(x, "fsync", COHORT_DOCTOR_FAIL, NULL,
			    "fsync failed: %s", cohort_error_last());
		cohort__os_close_quiet(fd1);
	}
	cohort__error_clear();
	(void)cohort__sys.unlink(a);
	(void)cohort__sys.unlink(b);
	(void)cohort__sys.unlink(c);
}

/*
 * The peer check's messages live in one file whose inode never changes,
 * '.doctor-peer.talk': the holder's announcement in the first slot, the
 * other node's answer in the second.  Each look opens it by name again
 * (close-to-open gives fresh bytes), and no name ever appears or vanishes:
 * a client with 'lookupcache=all' keeps answering "no such file" for a
 * name it once missed (NFS.md fact 2), so polling for a new name could
 * wait forever.  It is not the lock file: closing a second descriptor of
 * the lock file would drop the lock on a FUSE view (NFS.md).
 */
#define PEER_SLOT 256

static int peer_read(const char *talk, int slot, char *buf)
{
	size_t got = 0;
	int fd = -1, rc;

	memset(buf, 0, PEER_SLOT + 1);
	if (cohort__os_open(&fd, talk, O_RDONLY | O_NOFOLLOW, 0))
		return -1;
	rc = cohort__os_pread_full(fd, buf, PEER_SLOT,
				   (uint64_t)slot * PEER_SLOT, &got, talk);
	cohort__os_close_quiet(fd);
	buf[PEER_SLOT] = '\0';
	return rc;
}

static int peer_write(const char *talk, int slot, const char *text)
{
	char buf[PEER_SLOT];
	int fd = -1, rc;

	/* A longer text is cut at the slot (the last byte stays 0). */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, text, strnlen(text, sizeof(buf) - 1));
	if (cohort__os_open(&fd, talk, O_RDWR | O_CREAT | O_NOFOLLOW, 0600))
		return -1;
	rc = cohort__os_pwrite_full(fd, buf, sizeof(buf),
				    (uint64_t)slot * PEER_SLOT, talk);
	if (!rc)
		rc = cohort__os_fdatasync(fd, talk);
	if (rc) {
		cohort__os_close_quiet(fd);
		return rc;
	}
	return cohort__os_close(fd, talk);
}

/*
 * Two nodes run this at once.  The first takes an OFD lock on a probe file
 * and announces itself; the second must be refused the lock and answers.
 * If the second gets the lock too, the locks do not exclude across them.
 */
static void check_peer(struct ctx *x, const char *root, const char *node,
		       int wait_ms)
{
	char probe[PATH_MAX], talk[PATH_MAX], text[2 * PEER_SLOT + 64];
	char got[PEER_SLOT + 1];
	int fd = -1, rc, waited;
	pid_t pid = getpid();

	snprintf(probe, sizeof(probe), "%s/.doctor-peer.lock", root);
	snprintf(talk, sizeof(talk), "%s/.doctor-peer.talk", root);
	if (cohort__os_open(&fd, probe, O_RDWR | O_CREAT | O_NOFOLLOW, 0600)) {
		say(x, "peer", COHORT_DOCTOR_FAIL, NULL, "cannot open '%s': %s",
		    probe, cohort_error_last());
		cohort__error_clear();
		return;
	}
	rc = cohort__os_lock_ofd(fd, F_WRLCK, probe);
	if (rc == COHORT_ELOCKED) {
		/* We are the second: the first one's lock held. */
		if (peer_read(talk, 0, got) == 0 && got[0])
			snprintf(text, sizeof(text), "excluded by %s", got);
		else
			snprintf(text, sizeof(text), "excluded\n");
		(void)peer_write(talk, 1, text);
		say(x, "peer", COHORT_DOCTOR_OK, NULL,
		    "a lock held by the other node excluded this one");
		goto out;
	}
	if (rc) {
		int nolck = errno == ENOLCK;

		say(x, "peer", nolck ? COHORT_DOCTOR_FAIL : COHORT_DOCTOR_WARN,
		    nolck ? ENOLCK_FIX : NULL, "cannot lock '%s': %s", probe,
		    cohort_error_last());
		goto out;
	}
	/* Holding.  Someone else announced holding it too? */
	if (peer_read(talk, 0, got) == 0 && got[0]) {
		char other[PEER_SLOT];

		if (sscanf(got, "%255s", other) == 1 && strcmp(other, node)) {
			snprintf(text, sizeof(text), "both %s\n", node);
			(void)peer_write(talk, 1, text);
			say(x, "peer", COHORT_DOCTOR_FAIL,
			    "locks are not coherent across these mounts: make "
			    "sure the mount has locking (no 'nolock'); cohort "
			    "falls back to its lease layer ([cluster] lock_mode "
			    "= lease)",
			    "this node and node '%s' both got the same lock",
			    other);
			goto out;
		}
	}
	cohort__error_clear();
	snprintf(text, sizeof(text), "%s %ld\n", node, (long)pid);
	if (peer_write(talk, 1, "") || peer_write(talk, 0, text)) {
		say(x, "peer", COHORT_DOCTOR_FAIL, NULL, "cannot write '%s': %s",
		    talk, cohort_error_last());
		goto out;
	}
	for (waited = 0; waited < wait_ms; waited += 100) {
		if (peer_read(talk, 1, got) == 0 && got[0]) {
			if (!strncmp(got, "excluded", 8))
				say(x, "peer", COHORT_DOCTOR_OK, NULL,
				    "the other node was refused the lock this "
				    "node held");
			else
				say(x, "peer", COHORT_DOCTOR_FAIL,
				    "locks are not coherent across these mounts",
				    "the other node got the lock this node held");
			goto done;
		}
		cohort__os_sleep_ms(100);
	}
	say(x, "peer", COHORT_DOCTOR_WARN,
	    "run 'cohort doctor --peer-check' on a second node at the same time",
	    "no other node answered within %d s", wait_ms / 1000);
done:
	/* Empty slots for the next check; the file stays. */
	(void)peer_write(talk, 0, "");
	(void)peer_write(talk, 1, "");
out:
	cohort__error_clear();
	cohort__os_close_quiet(fd);
}

int cohort_doctor_run(const char *root, const cohort_doctor_options *o,
		      cohort_doctor_fn fn, void *arg, cohort_doctor_level *worst)
{
	cohort_doctor_options def = COHORT_DOCTOR_OPTIONS_INIT;
	struct ctx x = { fn, arg, COHORT_DOCTOR_OK };
	char dir[PATH_MAX], node[256];
	unsigned char r[4];
	struct cohort__stat st;
	int rc, n, fuse;

	if (!o)
		o = &def;
	if (o->version != COHORT_DOCTOR_OPTIONS_VERSION)
		return cohort__error(COHORT_EINVAL, "bad doctor options version");
	if (!root || !*root)
		return cohort__error(COHORT_EINVAL, "no root given");
	/* The node (or host) name goes into the scratch folder's name. */
	if (o->node && (rc = cohort_name_check(COHORT_NAME_NODE, o->node)))
		return rc;
	if ((rc = cohort__os_stat(&st, root, 0)))
		return rc;
	if (!S_ISDIR(st.mode))
		return cohort__error(COHORT_EINVAL, "'%s' is not a folder", root);
	/* Its probes below the root follow no planted link (see os.h). */
	if ((rc = cohort__os_confine(root)))
		return rc;
	snprintf(node, sizeof(node), "%s", o->node ? o->node : cohort__os_host());
	{
		char why[96];

		/* sethostname() takes any bytes */
		if (cohort__name_why(why, sizeof(why), COHORT_NAME_NODE, node))
			snprintf(node, sizeof(node), "host");
	}
	if ((st.mode & 0002) && !(st.mode & 01000))
		say(&x, "permissions", COHORT_DOCTOR_FAIL,
		    "chmod o-w (or +t) the root",
		    "'%s' is world-writable without the sticky bit: any local "
		    "user can replace cohort's files", root);
	fuse = check_mount(&x, root);
	cohort__os_random(r, sizeof(r));
	n = snprintf(dir, sizeof(dir), "%s/.doctor.%s.%ld.%02x%02x%02x%02x",
		     root, node, (long)getpid(), r[0], r[1], r[2], r[3]);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return cohort__error(COHORT_EINVAL, "path too long: '%s'", root);
	if ((rc = cohort__os_mkdir(dir, 0700)))
		return cohort__error_wrap(rc, "cannot try operations under '%s'",
					  root);
	check_ops(&x, dir, o->fsync_samples > 0 ? o->fsync_samples : 50, fuse);
	(void)cohort__os_rmdir(dir);
	cohort__error_clear();
	if (o->peer_check)
		check_peer(&x, root, node, o->peer_wait_ms);
	if (worst)
		*worst = x.worst;
	return 0;
}
