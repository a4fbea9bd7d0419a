/* faultshim.c - an LD_PRELOAD shim that makes the layer under the streamfs
 * daemon fail on purpose, and journals what a power cut would lose.
 *
 * It owns the wrappers of the open/close/dup, write, sync, truncate,
 * rename and unlink calls, the table of descriptors that name files below
 * the data folder, the fault rules and their per-kind call counters, the
 * fault log and the power-cut journal.  Everything is set by environment
 * variables read once when the shim is loaded (tests/faults.py documents
 * them and their formats, and replays the journal).
 *
 * A test that runs the store in its own process (tests/unit/
 * test_store_faults.c) arms the shim at run time instead, through three
 * entry points of default visibility (faultshim.h), found with dlsym:
 *   int streamfs_fault_arm(const char *dir, const char *rules)
 *	the data folder and the rules (the grammar of STREAMFS_FAULT),
 *	counters zeroed so N counts from the arming, descriptors already
 *	open below dir taken over; rules NULL disarms (counters kept);
 *   unsigned long streamfs_fault_count(const char *kind)
 *	calls of a kind since the arming;
 *   unsigned long streamfs_fault_fired(void)
 *	faults injected since the arming.
 * The power-cut journal knows nothing of descriptors taken over.
 *
 * Every wrapped call reaches libc through dlsym(RTLD_NEXT); the shim's own
 * log and journal lines go straight to the kernel (syscall), so they are
 * never intercepted and survive a SIGKILL.  One mutex guards the tables,
 * the counters and the journal: the daemon has several threads.
 * STREAMFS_FAULT_TRACE names a file that gets a line per counted call, so
 * a test can find the N of the call it aims at. */
#undef _FILE_OFFSET_BITS        /* define open and open64 as themselves */
#undef _FORTIFY_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "faultshim.h"

#define MAX_FDS 8192
#define MAX_FILES 8192
#define PATH_LEN 512
#define MAX_RULES 16
#define SHORT_IOV 1024

/* What a descriptor is, by where it points. */
enum kind { K_NONE, K_SEG, K_DB, K_BLOB, K_DIR };

/* Fault kinds: 2 * kind + op; a directory has no write kind. */
enum op { OP_WRITE, OP_SYNC };
#define NFK 10
static const char *const fk_names[NFK] = {
	NULL, NULL, "seg_write", "seg_sync", "db_write", "db_sync",
	"blob_write", "blob_sync", NULL, "dir_sync",
};

enum mode { M_ONCE, M_ALWAYS, M_CUT, M_SHORT };

struct rule {
	int fk;
	unsigned long n;
	enum mode mode;
	int err;
};

/* A file below the data folder seen in this run.  Entries are never
 * reused, so a descriptor's entry keeps naming its file. */
struct file {
	char path[PATH_LEN];            /* relative to the data folder */
	bool opened;                    /* its O or C line is written */
	bool dropped;                   /* a failed sync dropped data */
	bool gone;                      /* unlinked or renamed over */
};

struct fdent {
	int file;                       /* index + 1; 0: not tracked */
	unsigned char kind;
	bool append;
};

/* The outcome check_fault() chose for one call. */
enum act { A_NONE, A_FAIL, A_SHORT };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fdent fds[MAX_FDS];
static struct file files[MAX_FILES];
static int nfiles;
static unsigned long counts[NFK];
static unsigned long fired;             /* injections since the arming */
static struct rule rules[MAX_RULES];
static int nrules;
static char datadir[PATH_MAX];
static size_t dirlen;
static bool active;
static int logfd = -1, jfd = -1, tracefd = -1;

/* ---- the real calls ---- */

/* Look a wrapped call's libc version up the first time it is needed (a
 * library constructor may call it before ours ran). */
static void *real_sym(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (!p) {
		p = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	}
	return p;
}

#define REAL(fn) ((__typeof__(real_##fn))real_sym((void **)&real_##fn, #fn))

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real___open_2)(const char *, int);
static int (*real___open64_2)(const char *, int);
static int (*real___openat_2)(int, const char *, int);
static int (*real___openat64_2)(int, const char *, int);
static int (*real_creat)(const char *, mode_t);
static int (*real_creat64)(const char *, mode_t);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_fcntl64)(int, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off64_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static ssize_t (*real_pwritev64v2)(int, const struct iovec *, int, off64_t,
				   int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *,
			     unsigned int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);

/* ---- log and journal lines ---- */

static void put_line(int fd, const char *fmt, ...)
{
	char buf[2 * PATH_LEN + 64];
	va_list ap;
	if (fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	syscall(SYS_write, fd, buf, (size_t)n);
}

static int open_append(const char *path)
{
	if (!path || !*path)
		return -1;
	return (int)syscall(SYS_openat, AT_FDCWD, path,
			    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static bool resolve(int dirfd, const char *path, char *out, size_t cap);

/* ---- configuration ---- */

static int parse_fk(const char *s, size_t len)
{
	for (int i = 0; i < NFK; i++)
		if (fk_names[i] && strlen(fk_names[i]) == len &&
		    memcmp(fk_names[i], s, len) == 0)
			return i;
	return -1;
}

static int parse_mode(const char *s)
{
	static const char *const names[] = { "once", "always", "cut",
					     "short" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static int parse_errno(const char *s)
{
	if (strcmp(s, "EIO") == 0)
		return EIO;
	if (strcmp(s, "ENOSPC") == 0)
		return ENOSPC;
	if (strcmp(s, "EDQUOT") == 0)
		return EDQUOT;
	return -1;
}

/* One rule KIND:N[:MODE[:ERRNO]]; false if malformed. */
static bool parse_rule(char *s, struct rule *r)
{
	char *f[5];
	int n = 0;
	for (char *p = s; n < 5; p = NULL) {
		char *t = strtok_r(p, ":", &s);
		if (!t)
			break;
		f[n++] = t;
	}
	if (n < 2 || n > 4)
		return false;
	char *end;
	r->fk = parse_fk(f[0], strlen(f[0]));
	r->n = strtoul(f[1], &end, 10);
	r->mode = n > 2 ? parse_mode(f[2]) : M_ONCE;
	r->err = n > 3 ? parse_errno(f[3]) : EIO;
	return r->fk >= 0 && *end == 0 && r->n >= 1 && (int)r->mode >= 0 &&
	       r->err > 0;
}

/* Parse a comma-separated list of rules into out (MAX_RULES of them);
 * their count, or -1 after saying on stderr which one in `from` is bad. */
static int parse_rules(const char *spec, struct rule *out, const char *from)
{
	char buf[1024], *save = NULL;
	int n = 0;
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		if (!*t)
			continue;
		char copy[128];
		snprintf(copy, sizeof(copy), "%s", t);
		if (n == MAX_RULES || !parse_rule(copy, &out[n])) {
			put_line(2, "faultshim: bad rule \"%s\" in %s\n", t,
				 from);
			return -1;
		}
		n++;
	}
	return n;
}

/* The canonical form of an absolute data folder into datadir, which may
 * not exist yet. */
static void set_datadir(const char *d)
{
	if (!realpath(d, datadir) && !resolve(AT_FDCWD, d, datadir,
					      sizeof(datadir)))
		snprintf(datadir, sizeof(datadir), "%s", d);
	dirlen = strlen(datadir);
	while (dirlen > 1 && datadir[dirlen - 1] == '/')
		datadir[--dirlen] = 0;
}

__attribute__((constructor)) static void shim_init(void)
{
	const char *d = getenv("STREAMFS_FAULT_DIR");
	if (!d || d[0] != '/')
		return;
	/* The daemon may create the folder only after we are loaded. */
	set_datadir(d);
	const char *spec = getenv("STREAMFS_FAULT");
	if (spec && (nrules = parse_rules(spec, rules, "STREAMFS_FAULT")) < 0)
		_exit(99);
	logfd = open_append(getenv("STREAMFS_FAULT_LOG"));
	jfd = open_append(getenv("STREAMFS_FAULT_JOURNAL"));
	tracefd = open_append(getenv("STREAMFS_FAULT_TRACE"));
	active = true;
}

__attribute__((destructor)) static void shim_fini(void)
{
	if (!active)
		return;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < NFK; i++)
		if (fk_names[i] && counts[i])
			put_line(logfd, "count %s %lu\n", fk_names[i],
				 counts[i]);
	pthread_mutex_unlock(&lock);
}

/* ---- paths ---- */

/* The part of an absolute canonical path below the data folder ("." for
 * the folder itself), or NULL. */
static const char *below(const char *abs)
{
	if (strncmp(abs, datadir, dirlen) != 0)
		return NULL;
	if (abs[dirlen] == 0)
		return ".";
	return abs[dirlen] == '/' && abs[dirlen + 1] ? abs + dirlen + 1 : NULL;
}

static bool fd_path(int fd, char *out, size_t cap)
{
	char proc[40];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, out, cap - 1);
	if (n <= 0)
		return false;
	out[n] = 0;
	return true;
}

/* The canonical absolute path that (dirfd, path) names: the directory
 * part resolved, the last component as given. */
static bool resolve(int dirfd, const char *path, char *out, size_t cap)
{
	char joined[PATH_MAX], parent[PATH_MAX];
	if (path[0] == '/') {
		if (snprintf(joined, sizeof(joined), "%s", path) >=
		    (int)sizeof(joined))
			return false;
	} else {
		char base[PATH_MAX];
		if (dirfd == AT_FDCWD ? !getcwd(base, sizeof(base))
				      : !fd_path(dirfd, base, sizeof(base)))
			return false;
		if (snprintf(joined, sizeof(joined), "%s/%s", base, path) >=
		    (int)sizeof(joined))
			return false;
	}
	char *slash = strrchr(joined, '/');
	if (!slash || !slash[1])
		return false;
	*slash = 0;
	if (!realpath(joined[0] ? joined : "/", parent))
		return false;
	int n = snprintf(out, cap, "%s/%s", strcmp(parent, "/") ? parent : "",
			 slash + 1);
	return n > 0 && (size_t)n < cap;
}

static enum kind kind_of(const char *rel, bool dir)
{
	if (dir)
		return K_DIR;
	if (strncmp(rel, "segments/", 9) == 0)
		return K_SEG;
	if (strncmp(rel, "db/", 3) == 0)
		return K_DB;
	if (strncmp(rel, "blobs/", 6) == 0)
		return K_BLOB;
	return K_NONE;
}

/* ---- the file table (callers hold the lock) ---- */

static int file_find(const char *rel)
{
	for (int i = nfiles - 1; i >= 0; i--)
		if (!files[i].gone && strcmp(files[i].path, rel) == 0)
			return i;
	return -1;
}

static int file_get(const char *rel)
{
	int i = file_find(rel);
	if (i >= 0 || strlen(rel) >= PATH_LEN)
		return i;
	if (nfiles == MAX_FILES) {
		static bool said;
		if (!said)
			put_line(logfd, "warning file table full\n");
		said = true;
		return -1;
	}
	i = nfiles++;
	snprintf(files[i].path, PATH_LEN, "%s", rel);
	return i;
}

static struct file *file_of(int fd)
{
	if (fd < 0 || fd >= MAX_FDS || !fds[fd].file)
		return NULL;
	struct file *f = &files[fds[fd].file - 1];
	return f->gone ? NULL : f;
}

static off_t size_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* ---- opening and closing ---- */

/* What was there before an open that may write or create. */
struct pre {
	bool writing, existed;
	off_t size;
};

static void pre_open(int dirfd, const char *path, int flags, struct pre *p)
{
	struct stat st;
	int e = errno;
	p->writing = active && (flags & (O_WRONLY | O_RDWR | O_CREAT |
					 O_TRUNC));
	p->existed = p->writing && fstatat(dirfd, path, &st, 0) == 0;
	p->size = p->existed ? st.st_size : 0;
	errno = e;
}

static void note_open(int fd, int flags, const struct pre *p)
{
	char abs[PATH_MAX];
	struct stat st;
	const char *rel;
	if (!active || fd < 0 || fd >= MAX_FDS)
		return;
	int e = errno;
	fds[fd].file = 0;
	if (!fd_path(fd, abs, sizeof(abs)) || !(rel = below(abs)) ||
	    fstat(fd, &st) < 0)
		goto out;
	enum kind k = kind_of(rel, S_ISDIR(st.st_mode));
	if (k == K_NONE)
		goto out;
	pthread_mutex_lock(&lock);
	int i = file_get(rel);
	if (i >= 0) {
		fds[fd] = (struct fdent){ i + 1, k, (flags & O_APPEND) != 0 };
		struct file *f = &files[i];
		if (p->writing && k != K_DIR && !p->existed) {
			put_line(jfd, "C %s\n", rel);
		} else if (p->writing && k != K_DIR && !f->opened) {
			put_line(jfd, "O %s %lld\n", rel, (long long)p->size);
			if ((flags & O_TRUNC) && p->size > 0)
				put_line(jfd, "T %s 0\n", rel);
		} else if (p->writing && (flags & O_TRUNC) && p->size > 0) {
			put_line(jfd, "T %s 0\n", rel);
		}
		if (p->writing)
			f->opened = true;
	}
	pthread_mutex_unlock(&lock);
out:
	errno = e;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

#define OPEN_BODY(call, dirfd) do {                             \
		struct pre p;                                   \
		pre_open(dirfd, path, flags, &p);               \
		int fd = call;                                  \
		note_open(fd, flags, &p);                       \
		return fd;                                      \
	} while (0)

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY(REAL(open)(path, flags, m), AT_FDCWD);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY(REAL(open64)(path, flags, m), AT_FDCWD);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY(REAL(openat)(dirfd, path, flags, m), dirfd);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY(REAL(openat64)(dirfd, path, flags, m), dirfd);
}

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

int __open_2(const char *path, int flags)
{
	OPEN_BODY(REAL(__open_2)(path, flags), AT_FDCWD);
}

int __open64_2(const char *path, int flags)
{
	OPEN_BODY(REAL(__open64_2)(path, flags), AT_FDCWD);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	OPEN_BODY(REAL(__openat_2)(dirfd, path, flags), dirfd);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	OPEN_BODY(REAL(__openat64_2)(dirfd, path, flags), dirfd);
}

int creat(const char *path, mode_t m)
{
	int flags = O_WRONLY | O_CREAT | O_TRUNC;
	OPEN_BODY(REAL(creat)(path, m), AT_FDCWD);
}

int creat64(const char *path, mode_t m)
{
	int flags = O_WRONLY | O_CREAT | O_TRUNC;
	OPEN_BODY(REAL(creat64)(path, m), AT_FDCWD);
}

static void forget_fd(int fd)
{
	if (fd < 0 || fd >= MAX_FDS)
		return;
	pthread_mutex_lock(&lock);
	fds[fd].file = 0;
	pthread_mutex_unlock(&lock);
}

static int copy_fd(int from, int to)
{
	if (to < 0 || to >= MAX_FDS || from < 0 || from >= MAX_FDS)
		return to;
	int e = errno;
	pthread_mutex_lock(&lock);
	fds[to] = fds[from];
	pthread_mutex_unlock(&lock);
	errno = e;
	return to;
}

int close(int fd)
{
	forget_fd(fd);
	return REAL(close)(fd);
}

int dup(int fd)
{
	return copy_fd(fd, REAL(dup)(fd));
}

int dup2(int fd, int to)
{
	if (fd != to)
		forget_fd(to);
	return copy_fd(fd, REAL(dup2)(fd, to));
}

int dup3(int fd, int to, int flags)
{
	forget_fd(to);
	return copy_fd(fd, REAL(dup3)(fd, to, flags));
}

static int fcntl_common(int (*fn)(int, int, ...), int fd, int cmd, void *arg)
{
	int r = fn(fd, cmd, arg);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		copy_fd(fd, r);
	return r;
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...);
int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

/* ---- faults ---- */

static const char *errno_name(int e)
{
	return e == ENOSPC ? "ENOSPC" : e == EDQUOT ? "EDQUOT" : "EIO";
}

/* The simulated power cut: the journal says where, then the process dies
 * before the call happens.  Called with the lock held, never returns. */
static void cut(const char *fk, unsigned long n)
{
	put_line(logfd, "inject %s #%lu cut\n", fk, n);
	put_line(jfd, "K\n");
	kill(getpid(), SIGKILL);
	for (;;)
		pause();
}

/* Count the call and decide its fate; *err is the errno of a failure. */
static enum act check_fault(int fd, enum op op, int *err)
{
	if (!active || fd < 0 || fd >= MAX_FDS || !fds[fd].file)
		return A_NONE;
	int fk = 2 * fds[fd].kind + op;
	if (fk >= NFK || !fk_names[fk])
		return A_NONE;
	int e = errno;
	enum act a = A_NONE;
	pthread_mutex_lock(&lock);
	unsigned long n = ++counts[fk];
	put_line(tracefd, "%s #%lu\n", fk_names[fk], n);
	for (int i = 0; i < nrules && a == A_NONE; i++) {
		const struct rule *r = &rules[i];
		if (r->fk != fk || n < r->n ||
		    (r->mode != M_ALWAYS && n != r->n))
			continue;
		if (r->mode == M_CUT)
			cut(fk_names[fk], n);
		a = r->mode == M_SHORT && op == OP_WRITE ? A_SHORT : A_FAIL;
		*err = r->err;
		fired++;
		put_line(logfd, "inject %s #%lu %s\n", fk_names[fk], n,
			 a == A_SHORT ? "short" : errno_name(r->err));
		struct file *f = file_of(fd);
		if (a == A_FAIL && op == OP_SYNC && fds[fd].kind != K_DIR &&
		    f) {
			put_line(jfd, "F %s %lld\n", f->path,
				 (long long)size_of(fd));
			f->dropped = true;
		}
	}
	pthread_mutex_unlock(&lock);
	errno = e;
	return a;
}

/* Journal a write to a file that lost data to a failed sync: off is
 * where it went, or -1 for the descriptor's position. */
static void note_write(int fd, off_t off, ssize_t done)
{
	struct file *f;
	if (done <= 0 || !active || !(f = file_of(fd)) || !f->dropped)
		return;
	int e = errno;
	if (off < 0 && fds[fd].append)
		off = size_of(fd) - done;
	else if (off < 0)
		off = lseek(fd, 0, SEEK_CUR) - done;
	pthread_mutex_lock(&lock);
	put_line(jfd, "W %s %lld %lld\n", f->path, (long long)off,
		 (long long)done);
	pthread_mutex_unlock(&lock);
	errno = e;
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t t = 0;
	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

/* The first half of an I/O vector, for a torn write; its entry count. */
static int iov_half(const struct iovec *iov, int cnt, struct iovec *out)
{
	size_t want = iov_total(iov, cnt) / 2;
	int n = 0;
	for (int i = 0; i < cnt && want > 0 && n < SHORT_IOV; i++) {
		out[n] = iov[i];
		if (out[n].iov_len > want)
			out[n].iov_len = want;
		want -= out[n++].iov_len;
	}
	return n;
}

/* The fate of a write of len bytes: 0 to go on (len may be halved), or
 * -1 with errno set. */
static int write_gate(int fd, size_t *len)
{
	int err;
	enum act a = check_fault(fd, OP_WRITE, &err);
	if (a == A_SHORT && *len >= 2) {
		*len /= 2;
		return 0;
	}
	if (a != A_NONE) {
		errno = a == A_SHORT ? EIO : err;
		return -1;
	}
	return 0;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	if (write_gate(fd, &len) < 0)
		return -1;
	ssize_t r = REAL(write)(fd, buf, len);
	note_write(fd, -1, r);
	return r;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (write_gate(fd, &len) < 0)
		return -1;
	ssize_t r = REAL(pwrite)(fd, buf, len, off);
	note_write(fd, off, r);
	return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	if (write_gate(fd, &len) < 0)
		return -1;
	ssize_t r = REAL(pwrite64)(fd, buf, len, off);
	note_write(fd, off, r);
	return r;
}

/* The vector writes: the gate decides on the total length; a torn write
 * sends the first half of the vector. */
#define VEC_BODY(call, off) do {                                        \
		struct iovec half[SHORT_IOV];                           \
		size_t len = iov_total(iov, cnt), want = len;           \
		if (write_gate(fd, &len) < 0)                           \
			return -1;                                      \
		if (len < want) {                                       \
			cnt = iov_half(iov, cnt, half);                 \
			iov = half;                                     \
		}                                                       \
		ssize_t r = call;                                       \
		note_write(fd, off, r);                                 \
		return r;                                               \
	} while (0)

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	VEC_BODY(REAL(writev)(fd, iov, cnt), -1);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	VEC_BODY(REAL(pwritev)(fd, iov, cnt, off), off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	VEC_BODY(REAL(pwritev64)(fd, iov, cnt, off), off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off,
		 int flags)
{
	VEC_BODY(REAL(pwritev2)(fd, iov, cnt, off, flags), off);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off,
		    int flags)
{
	VEC_BODY(REAL(pwritev64v2)(fd, iov, cnt, off, flags), off);
}

/* A sync: an injected failure calls nothing; a real success is journaled
 * with the size the file had before it (all of which it covers). */
static int do_sync(int fd, int (*fn)(int))
{
	int err;
	if (check_fault(fd, OP_SYNC, &err) != A_NONE) {
		errno = err;
		return -1;
	}
	struct file *f = active ? file_of(fd) : NULL;
	off_t size = f ? size_of(fd) : -1;
	int r = fn(fd);
	if (r == 0 && f) {
		int e = errno;
		pthread_mutex_lock(&lock);
		if (fds[fd].kind == K_DIR)
			put_line(jfd, "D %s\n", f->path);
		else
			put_line(jfd, "S %s %lld\n", f->path,
				 (long long)size);
		pthread_mutex_unlock(&lock);
		errno = e;
	}
	return r;
}

int fsync(int fd)
{
	return do_sync(fd, REAL(fsync));
}

int fdatasync(int fd)
{
	return do_sync(fd, REAL(fdatasync));
}

/* ---- size and namespace changes ---- */

static void note_truncate(int fd, int r, off64_t len)
{
	struct file *f;
	if (r != 0 || !active || !(f = file_of(fd)) || fds[fd].kind == K_DIR)
		return;
	int e = errno;
	pthread_mutex_lock(&lock);
	put_line(jfd, "T %s %lld\n", f->path, (long long)len);
	pthread_mutex_unlock(&lock);
	errno = e;
}

int ftruncate(int fd, off_t len)
{
	int r = REAL(ftruncate)(fd, len);
	note_truncate(fd, r, len);
	return r;
}

int ftruncate64(int fd, off64_t len)
{
	int r = REAL(ftruncate64)(fd, len);
	note_truncate(fd, r, len);
	return r;
}

static void note_rename(int r, bool ok, const char *from, const char *to)
{
	const char *a = ok ? below(from) : NULL;
	const char *b = ok ? below(to) : NULL;
	if (r != 0 || (!a && !b))
		return;
	int e = errno;
	pthread_mutex_lock(&lock);
	int j = b ? file_find(b) : -1;
	if (j >= 0)
		files[j].gone = true;
	int i = a ? file_find(a) : -1;
	if (i >= 0 && b && strlen(b) < PATH_LEN)
		snprintf(files[i].path, PATH_LEN, "%s", b);
	else if (i >= 0)
		files[i].gone = true;   /* moved out of the data folder */
	put_line(jfd, "R %s %s\n", a ? a : "-", b ? b : "-");
	pthread_mutex_unlock(&lock);
	errno = e;
}

static int rename_common(int od, const char *from, int nd, const char *to,
			 int r_call(int, const char *, int, const char *,
				    unsigned int, void *),
			 unsigned int flags, void *fn)
{
	char a[PATH_MAX], b[PATH_MAX];
	bool ok = active && resolve(od, from, a, sizeof(a)) &&
		  resolve(nd, to, b, sizeof(b));
	int r = r_call(od, from, nd, to, flags, fn);
	note_rename(r, ok, a, b);
	return r;
}

static int call_rename(int od, const char *from, int nd, const char *to,
		       unsigned int flags, void *fn)
{
	return ((int (*)(const char *, const char *))fn)(from, to);
}

static int call_renameat(int od, const char *from, int nd, const char *to,
			 unsigned int flags, void *fn)
{
	return ((int (*)(int, const char *, int, const char *))fn)(
		od, from, nd, to);
}

static int call_renameat2(int od, const char *from, int nd, const char *to,
			  unsigned int flags, void *fn)
{
	return ((int (*)(int, const char *, int, const char *,
			 unsigned int))fn)(od, from, nd, to, flags);
}

int rename(const char *from, const char *to)
{
	return rename_common(AT_FDCWD, from, AT_FDCWD, to, call_rename, 0,
			     (void *)REAL(rename));
}

int renameat(int od, const char *from, int nd, const char *to)
{
	return rename_common(od, from, nd, to, call_renameat, 0,
			     (void *)REAL(renameat));
}

int renameat2(int od, const char *from, int nd, const char *to,
	      unsigned int flags)
{
	return rename_common(od, from, nd, to, call_renameat2, flags,
			     (void *)REAL(renameat2));
}

static void note_unlink(int r, bool ok, const char *abs)
{
	const char *rel = ok ? below(abs) : NULL;
	if (r != 0 || !rel)
		return;
	int e = errno;
	pthread_mutex_lock(&lock);
	int i = file_find(rel);
	if (i >= 0)
		files[i].gone = true;
	put_line(jfd, "U %s\n", rel);
	pthread_mutex_unlock(&lock);
	errno = e;
}

int unlink(const char *path)
{
	char abs[PATH_MAX];
	bool ok = active && resolve(AT_FDCWD, path, abs, sizeof(abs));
	int r = REAL(unlink)(path);
	note_unlink(r, ok, abs);
	return r;
}

int unlinkat(int dirfd, const char *path, int flags)
{
	char abs[PATH_MAX];
	bool ok = active && resolve(dirfd, path, abs, sizeof(abs));
	int r = REAL(unlinkat)(dirfd, path, flags);
	note_unlink(r, ok, abs);
	return r;
}

/* ---- runtime control (faultshim.h) ---- */

/* Track the descriptors open below the data folder that the shim has not
 * seen opened (it was not active, or they were opened below another
 * folder).  Called with the lock held: only raw calls here. */
static void take_over_fds(void)
{
	char abs[PATH_MAX];
	struct stat st;
	const char *rel;
	for (int fd = 0; fd < MAX_FDS; fd++) {
		if (syscall(SYS_fcntl, fd, F_GETFD) < 0 ||
		    !fd_path(fd, abs, sizeof(abs)) || !(rel = below(abs)) ||
		    fstat(fd, &st) < 0)
			continue;
		enum kind k = kind_of(rel, S_ISDIR(st.st_mode));
		int i = k == K_NONE ? -1 : file_get(rel);
		if (i < 0)
			continue;
		long fl = syscall(SYS_fcntl, fd, F_GETFL);
		bool append = fl >= 0 && (fl & O_APPEND);
		fds[fd] = (struct fdent){ i + 1, k, append };
	}
}

__attribute__((visibility("default")))
int streamfs_fault_arm(const char *dir, const char *spec)
{
	struct rule next[MAX_RULES];
	int n = 0;
	int e = errno;
	if ((dir && dir[0] != '/') || (!dir && spec && !dirlen) ||
	    (spec && (n = parse_rules(spec, next, "streamfs_fault_arm")) < 0)) {
		errno = e;
		return -EINVAL;
	}
	pthread_mutex_lock(&lock);
	if (dir) {
		char old[PATH_MAX];
		snprintf(old, sizeof(old), "%s", active ? datadir : "");
		set_datadir(dir);
		if (strcmp(old, datadir) != 0) {
			/* Another folder: what was tracked is no concern. */
			memset(fds, 0, sizeof(fds));
			nfiles = 0;
		}
		take_over_fds();
	}
	if (spec) {
		memcpy(rules, next, n * sizeof(*next));
		memset(counts, 0, sizeof(counts));
		fired = 0;
	}
	nrules = n;
	active = true;
	pthread_mutex_unlock(&lock);
	errno = e;
	return 0;
}

__attribute__((visibility("default")))
unsigned long streamfs_fault_count(const char *kind)
{
	int fk = kind ? parse_fk(kind, strlen(kind)) : -1;
	pthread_mutex_lock(&lock);
	unsigned long n = fk >= 0 ? counts[fk] : 0;
	pthread_mutex_unlock(&lock);
	return n;
}

__attribute__((visibility("default")))
unsigned long streamfs_fault_fired(void)
{
	pthread_mutex_lock(&lock);
	unsigned long n = fired;
	pthread_mutex_unlock(&lock);
	return n;
}
