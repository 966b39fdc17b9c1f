/*
 * os.h - the OS layer: the only code that calls open, read, write, rename,
 * link, unlink, fcntl, fsync, mkdir or stat.  Everything above it calls
 * these wrappers, which
 *
 *  - open with O_CLOEXEC always (and O_NOFOLLOW where the caller asks),
 *  - give what they create exactly the mode and group asked for
 *    (cohort__perm: fchown and fchmod on the new descriptor, whatever the
 *    umask),
 *  - retry EINTR, complete short reads and writes, treat a write that
 *    returns 0 as ENOSPC,
 *  - check the errors of fsync and close (on NFS the first place ENOSPC,
 *    EDQUOT or EIO may show),
 *  - after a failed rename() or link(), look at the target before deciding
 *    it failed (an NFS reply can be lost after the server did the work),
 *  - set the thread's error message ("cannot open '%s': %s") and return a
 *    COHORT_E* code, leaving errno as the system set it.
 *
 * Every system call goes through the table 'cohort__sys', which tests
 * replace entry by entry, and through a fault injector that can fail the
 * Nth call of an operation with an errno, a short write, a rename or link
 * that succeeded but reported EIO, or SIGKILL (crash tests).  The injector
 * is armed by cohort__os_fault_set() or the COHORT_FAULT environment
 * variable: "OP:N:WHAT[,OP:N:WHAT...]", OP one of the names of
 * cohort__os_op_name(), N counting from 1 (or "N+" for every call from the
 * Nth on), WHAT one of EIO ENOSPC EDQUOT ESTALE EINTR ENOTCONN EACCES short
 * lie kill.
 */
#ifndef COHORT_OS_H
#define COHORT_OS_H

#define _GNU_SOURCE 1
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <fcntl.h>

struct statx;
struct flock;

/* The system calls, replaceable by tests. */
struct cohort__syscalls {
	int (*open)(const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	ssize_t (*read)(int fd, void *buf, size_t n);
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	ssize_t (*write)(int fd, const void *buf, size_t n);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
	int (*fsync)(int fd);
	int (*fdatasync)(int fd);
	int (*rename)(const char *from, const char *to);
	int (*link)(const char *from, const char *to);
	int (*unlink)(const char *path);
	int (*mkdir)(const char *path, mode_t mode);
	int (*rmdir)(const char *path);
	int (*statx)(int dirfd, const char *path, int flags, unsigned int mask,
		     struct statx *st);
	int (*fcntl_lock)(int fd, int cmd, struct flock *fl);
	int (*flock)(int fd, int op);
	int (*ftruncate)(int fd, off_t len);
	int (*fchmod)(int fd, mode_t mode);
	int (*fchown)(int fd, uid_t uid, gid_t gid);
};

extern struct cohort__syscalls cohort__sys;
/* The real system calls, to restore the table. */
extern const struct cohort__syscalls cohort__sys_default;

enum cohort__os_op {
	COHORT__OP_OPEN,
	COHORT__OP_CLOSE,
	COHORT__OP_READ,
	COHORT__OP_WRITE,
	COHORT__OP_FSYNC,
	COHORT__OP_RENAME,
	COHORT__OP_LINK,
	COHORT__OP_UNLINK,
	COHORT__OP_MKDIR,
	COHORT__OP_RMDIR,
	COHORT__OP_STAT,
	COHORT__OP_LOCK,
	COHORT__OP_TRUNCATE,
	COHORT__OP_COUNT
};

/* Fault actions beyond a plain errno. */
#define COHORT__FAULT_SHORT (-1) /* write/read does half the bytes */
#define COHORT__FAULT_LIE (-2)	 /* rename/link done, then reports EIO */
#define COHORT__FAULT_KILL (-3)	 /* raise SIGKILL before the call */
#define COHORT__FAULT_STOP (-4)	 /* raise SIGSTOP before the call, then
				    make it when continued (a holder that
				    paused past its lease: fencing tests) */

const char *cohort__os_op_name(enum cohort__os_op op);
/*
 * Arm a fault: the 'nth' call (from 1) of 'op' from now on fails with
 * 'what' (an errno or a COHORT__FAULT_*); 'sticky' makes every call from the
 * nth on fail.  cohort__os_fault_clear() disarms all and resets counters.
 */
void cohort__os_fault_set(enum cohort__os_op op, unsigned long nth, int what,
			  int sticky);
void cohort__os_fault_clear(void);
/* Calls of 'op' seen since the last clear (to enumerate crash points). */
unsigned long cohort__os_fault_count(enum cohort__os_op op);
/* Parse a COHORT_FAULT string and arm it; COHORT_EINVAL if malformed. */
int cohort__os_fault_parse(const char *spec);

/*
 * Confinement: below a registered folder, no symbolic link is followed.
 *
 * cohort__os_confine() registers a folder (the cluster root, a node's
 * state folder) as given by the user: the folder itself may be or contain
 * links (/mnt/shared -> /srv/x) and is resolved normally, on each call.
 * For a path that lies strictly below a registered folder (string prefix
 * on a '/' boundary: the paths cohort builds are "ROOT/rel/parts"), the
 * default entries of 'cohort__sys' resolve the part below it from a
 * descriptor of the folder with openat2(RESOLVE_NO_SYMLINKS |
 * RESOLVE_BENEATH): open() directly, and rename, link, unlink, mkdir,
 * rmdir and statx through a descriptor of the parent folder opened that
 * way, then renameat(parentfd, base, ...) and friends.  So a link planted
 * in place of a folder in the middle (nodes/ID, store/blobs/ab) gives
 * ELOOP ("Too many levels of symbolic links") instead of leading out of
 * the root.  The last component keeps its semantics: O_NOFOLLOW where the
 * caller asks, rename and unlink act on a link itself, stat follows unless
 * asked not to.  Without openat2 (ENOSYS: kernels before 5.6, or a seccomp
 * filter that refuses it) the components are walked with
 * openat(O_PATH|O_NOFOLLOW|O_DIRECTORY).  Other paths (package files named
 * on a command line, a materialize target, /proc) are left alone.
 * Registrations last for the life of the process (a later path below a
 * closed cluster's root is still confined: stricter, never looser).
 * COHORT_ERROR only when out of memory.
 */
int cohort__os_confine(const char *dir);
/* 1 if 'path' lies strictly below a confined folder. */
int cohort__os_confined(const char *path);

/*
 * The openat2 call the confinement uses (syscall(SYS_openat2, ...) by
 * default); 'how' is a struct open_how, 'size' its size.  Tests replace it
 * to fail with ENOSYS and so exercise the fallback walk.
 */
extern int (*cohort__os_openat2)(int dirfd, const char *path, void *how,
				 size_t size);

/* Fresh attributes (statx with AT_STATX_FORCE_SYNC). */
struct cohort__stat {
	uint64_t dev;
	uint64_t ino;
	uint64_t size;
	uint32_t mode;
	uint32_t nlink;
	int64_t mtime_ns;
	int64_t ctime_ns;
};

/*
 * What a file or folder we create gets: a mode (the low 12 bits) and,
 * built with COHORT__PERM(mode, gid), a group.  A plain mode (0600) keeps
 * the creating process's group.  The group is set with fchown() and then
 * the mode with fchmod() on the new descriptor, before a temp file gets
 * its name: the umask neither narrows nor widens the mode, a folder gets
 * the set-group-id bit that mkdir() drops, and nobody ever sees the file
 * under its name with another group.  A chown refused (EPERM: this user
 * is not a member of the group) is an error, and what was just created is
 * removed again.
 */
typedef uint64_t cohort__perm;
#define COHORT__PERM_HAS_GROUP ((cohort__perm)1 << 31)
#define COHORT__PERM(mode, gid) \
	((cohort__perm)(mode) | COHORT__PERM_HAS_GROUP | \
	 ((cohort__perm)(gid) << 32))
#define COHORT__PERM_MODE(p) ((mode_t)((p) & 07777))
#define COHORT__PERM_GID(p) ((gid_t)((p) >> 32))

/*
 * O_CLOEXEC is added; 'flags' may carry O_NOFOLLOW, O_EXCL, ...  With
 * O_CREAT the file gets 'perm': with O_EXCL always (we created it);
 * without, when it is a regular file of ours with one link whose mode or
 * group differ (we may have created it: there is no telling).
 */
int cohort__os_open(int *fd, const char *path, int flags, cohort__perm perm);
/* Close and report its error (the last chance to see a failed write). */
int cohort__os_close(int fd, const char *path);
/* Close, ignoring errors: for error paths and read-only descriptors. */
void cohort__os_close_quiet(int fd);

/* Read up to 'n' bytes, looping until n or end of file; '*got' read. */
int cohort__os_read_full(int fd, void *buf, size_t n, size_t *got,
			 const char *path);
int cohort__os_pread_full(int fd, void *buf, size_t n, uint64_t off,
			  size_t *got, const char *path);
/* Write all 'n' bytes (a write of 0 counts as ENOSPC). */
int cohort__os_write_full(int fd, const void *buf, size_t n, const char *path);
int cohort__os_pwrite_full(int fd, const void *buf, size_t n, uint64_t off,
			   const char *path);
int cohort__os_fsync(int fd, const char *path);
int cohort__os_fdatasync(int fd, const char *path);
/* fsync a folder; EINVAL (and EBADF, EROFS on some servers) tolerated. */
int cohort__os_fsync_dir(const char *path);
int cohort__os_ftruncate(int fd, uint64_t len, const char *path);

/* rename/link that look at the target after an error (NFS fact 5). */
int cohort__os_rename(const char *from, const char *to);
int cohort__os_link(const char *from, const char *to);
/* COHORT_ENOTFOUND when absent. */
int cohort__os_unlink(const char *path);
int cohort__os_rmdir(const char *path);
/* mkdir; an existing folder is success (and keeps its mode and group). */
int cohort__os_mkdir(const char *path, cohort__perm perm);
/* mkdir -p */
int cohort__os_mkdir_p(const char *path, cohort__perm perm);

/*
 * opendir() that refuses a symbolic link in place of the folder
 * (O_DIRECTORY|O_NOFOLLOW): a listing of the root never wanders out of it
 * through a link someone planted.  Like opendir(): NULL and errno (ELOOP
 * or ENOTDIR for a link), no error message.
 */
DIR *cohort__os_opendir(const char *path);

/* stat (lstat when 'nofollow'); COHORT_ENOTFOUND when absent. */
int cohort__os_stat(struct cohort__stat *st, const char *path, int nofollow);
int cohort__os_fstat(struct cohort__stat *st, int fd, const char *path);

/*
 * OFD record lock on the whole file: 'type' F_WRLCK, F_RDLCK or F_UNLCK.
 * Never waits; COHORT_ELOCKED if another holds it.
 */
int cohort__os_lock_ofd(int fd, short type, const char *path);
/* flock(); 'op' LOCK_EX|LOCK_NB etc.; COHORT_ELOCKED on EWOULDBLOCK. */
int cohort__os_flock(int fd, int op, const char *path);

/*
 * Read a whole small file by path (at most 'max' bytes; larger is
 * COHORT_ECORRUPT), opened O_NOFOLLOW.  ESTALE is cured by reopening, a
 * bounded number of times.  '*out' (NUL-terminated) is the caller's.
 */
int cohort__os_read_file(char **out, size_t *len, const char *path,
			 size_t max);

/*
 * Replace 'path' whole with 'buf': temp file in the same folder (named
 * '.NAME.tmp.TAG.PID.RANDOM', O_EXCL|O_NOFOLLOW, registered for cleanup),
 * write, fsync, close, rename, fsync the folder.  'tag' is the node id (or
 * NULL).  On failure the target is unchanged and the temp file removed.
 */
int cohort__os_write_atomic(const char *path, const void *buf, size_t len,
			    cohort__perm perm, const char *tag);

/*
 * Create 'path' with content 'buf' only if it does not exist, and only
 * whole: temp file, write, fsync, close, link() to the name.
 * COHORT_EEXISTS if the name exists (then nothing is changed).  Without
 * 'durable' the temp file and folder are not fsynced (lease files: their
 * durability does not matter, their atomic appearance does).
 */
int cohort__os_create_exclusive(const char *path, const void *buf, size_t len,
				cohort__perm perm, const char *tag, int durable);

/* The same, keeping the new file open: '*fd' (write-only) is the file now
 * at 'path' (the caller closes it); -1 on failure. */
int cohort__os_create_exclusive_fd(const char *path, const void *buf,
				   size_t len, cohort__perm perm,
				   const char *tag, int durable, int *fd);

/*
 * Temp files: a path made by cohort__os_temp_open() is registered and
 * removed by this process at exit or on a fatal signal, never by another.
 * cohort__os_temp_done() forgets it (after a rename, or after unlinking).
 */
int cohort__os_temp_open(int *fd, char *path_out, size_t path_size,
			 const char *target, cohort__perm perm,
			 const char *tag);
void cohort__os_temp_done(const char *path);
/* 1 if 'name' (a base name) looks like one of our temp files. */
int cohort__os_is_temp_name(const char *name);

/* Random bytes (getrandom); never fails for small sizes. */
void cohort__os_random(void *buf, size_t n);
/* Clocks in milliseconds. */
int64_t cohort__os_mono_ms(void);
int64_t cohort__os_wall_ms(void);
/* The boot id (/proc/sys/kernel/random/boot_id) or "" - static. */
const char *cohort__os_boot_id(void);
/* Host name - static. */
const char *cohort__os_host(void);
/* 1 if the process 'pid' exists on this host. */
int cohort__os_pid_alive(long pid);
/* Sleep, restarting on EINTR unless 'interruptible'. */
void cohort__os_sleep_ms(int64_t ms);

/*
 * Mount information for the filesystem holding 'path': type (e.g. "nfs4",
 * "fuse.bindfs", "ext4") and super options, from /proc/self/mountinfo.
 * Strings written into the caller's buffers.
 */
int cohort__os_mount_info(const char *path, char *fstype, size_t fstype_size,
			  char *options, size_t options_size);

/*
 * inotify on one file ('*fd' -1 and success when inotify is unavailable:
 * callers poll anyway).  Wait for 'fd' to become readable (1), or the
 * timeout (0); drain what it has.
 */
int cohort__os_watch(int *fd, const char *path);
int cohort__os_wait_fd(int fd, int timeout_ms);
void cohort__os_drain(int fd);

/*
 * Unix stream sockets, for the node's committer (cohort/committer.h); they
 * live in the node's local state folder, never on the shared mount.
 *
 * cohort__os_listen_unix() binds a new socket to a temporary name beside
 * 'path', gives it mode 0600, then renames it to 'path' (replacing the
 * file a dead listener left) and listens: the name never exists with a
 * wider mode.  cohort__os_connect_unix() gives COHORT_ENOTFOUND when
 * nothing listens at 'path' (no file, or a dead listener's: ECONNREFUSED).
 * Both refuse a path longer than a socket address holds (COHORT_EINVAL).
 * cohort__os_accept() waits at most 'timeout_ms' (0 and '*fd' -1 when
 * nothing came) and gives the peer's user and process ids (SO_PEERCRED).
 * cohort__os_send_full() never raises SIGPIPE (EPIPE is returned).  Read
 * with cohort__os_read_full(): fewer bytes than asked means the peer
 * closed.  These calls bypass the syscall table.
 */
int cohort__os_listen_unix(int *fd, const char *path);
int cohort__os_connect_unix(int *fd, const char *path);
int cohort__os_accept(int *fd, int lfd, int timeout_ms, uid_t *uid,
		      pid_t *pid);
/* The peer's user and process ids of a connected socket (SO_PEERCRED). */
int cohort__os_peer(int fd, uid_t *uid, pid_t *pid);
int cohort__os_send_full(int fd, const void *buf, size_t n, const char *what);
/* shutdown(fd, SHUT_RD): a thread blocked reading 'fd' sees end of file. */
void cohort__os_shutdown_read(int fd);

/* 1 if errno 'e' means the mount itself is gone or broken. */
int cohort__os_errno_is_cutoff(int e);

/* Map an errno to a COHORT_E* code. */
int cohort__os_code(int e);

#endif
