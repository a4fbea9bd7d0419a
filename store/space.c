/* space.c - free space: the check before every append and blob write,
 * and the ballast.
 *
 * Appends and blob writes are refused with ENOSPC while the data folder's
 * free space is below the reserve (-o reserve).  Whatever the reserve,
 * the disk can still fill up (another program, or reserve=0), and then
 * LevelDB could not record an unlink, rmdir or rename, so no space could
 * be freed through the mount.  So the store keeps DATADIR/ballast, a file
 * of BALLAST_SIZE allocated bytes: when a write finds the disk full, the
 * ballast is released and LevelDB has room again (at least one memtable's
 * worth, what reopening it may write).  While the ballast is gone, appends
 * and blob writes are refused; the first one that finds room for it puts
 * it back and goes on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

#define BALLAST_SIZE DB_WRITE_BUFFER
#define SPACE_RECHECK_NS 1000000000LL   /* figure reused at most this long */

static void ballast_path(const struct store *st, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/ballast", st->datadir);
}

static int free_bytes(const struct store *st, uint64_t *out)
{
	struct statvfs sv;
	if (statvfs(st->datadir, &sv) < 0)
		return -errno;
	*out = (uint64_t)sv.f_bavail * sv.f_frsize;
	return 0;
}

static bool ballast_create(struct store *st)
{
	char path[4096];
	ballast_path(st, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	int r = posix_fallocate(fd, 0, BALLAST_SIZE);
	if (r == 0 && fsync(fd) < 0)
		r = errno;
	close(fd);
	if (r != 0) {
		unlink(path);
		return false;
	}
	st->ballast = true;
	return true;
}

void space_init(struct store *st)
{
	char path[4096];
	struct stat sb;
	uint64_t avail = 0;
	ballast_path(st, path, sizeof(path));
	if (stat(path, &sb) == 0 && (uint64_t)sb.st_blocks * 512 >= BALLAST_SIZE)
		st->ballast = true;
	else if (free_bytes(st, &avail) == 0 &&
		 avail >= BALLAST_SIZE + st->reserve)
		ballast_create(st);
}

bool space_release_ballast(struct store *st)
{
	char path[4096];
	if (!st->ballast)
		return false;
	ballast_path(st, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return false;
	st->ballast = false;
	st->checked_ns = 0;
	struct store_event ev = {
		.kind = STORE_EV_NOSPACE, .level = SF_LOG_WARNING,
		.what = "ballast", .err = ENOSPC,
		.action = "ballast released; appends wait for free space",
	};
	report_event(&ev, "the disk of %s is full: released the %u MiB "
		     "ballast so that deletes and renames go on; appends wait "
		     "for free space", st->datadir, BALLAST_SIZE >> 20);
	return true;
}

/* The data folder's file system's figures, with inodes counted as this
 * store's: f_files is the inode records in use plus f_ffree, and f_ffree
 * is what the folder's file system can still hold (every blob is a file
 * there), or one per free 4 KiB where it keeps no count (btrfs). */
int store_statfs(struct store *st, struct statvfs *sv)
{
	if (fstatvfs(st->segdirfd, sv) < 0)
		return -errno;
	if (sv->f_files == 0) {
		uint64_t bs = sv->f_frsize ? sv->f_frsize : sv->f_bsize;
		sv->f_ffree = (fsfilcnt_t)(sv->f_bfree * bs / 4096);
		sv->f_favail = (fsfilcnt_t)(sv->f_bavail * bs / 4096);
	}
	sv->f_files = (fsfilcnt_t)(st->ninodes + sv->f_ffree);
	return 0;
}

/* A write refused for want of room: an event (the caller limits their
 * rate), not a log line per refusal. */
static int refused(struct store *st, uint64_t need)
{
	struct store_event ev = {
		.kind = STORE_EV_NOSPACE, .level = SF_LOG_WARNING,
		.what = "reserve", .err = ENOSPC,
		.action = st->ballast ? "refused: free space below the reserve"
				      : "refused: the ballast is not back yet",
	};
	report_event(&ev, NULL);
	return -ENOSPC;
}

static int refresh(struct store *st, int64_t now)
{
	int r = free_bytes(st, &st->free_est);
	st->spent = 0;
	st->checked_ns = now;
	return r;
}

int store_space_check(struct store *st, uint64_t need)
{
	int64_t now = store_now_ns();
	bool fresh = false;
	int r;
	if (st->spent + need >= st->free_est / 4 ||
	    now - st->checked_ns > SPACE_RECHECK_NS) {
		if ((r = refresh(st, now)) < 0)
			return r;
		fresh = true;
	}
	if (st->ballast && st->spent + need + st->reserve <= st->free_est) {
		st->spent += need;
		return 0;
	}
	/* Never refuse on an old figure: space may have been freed since. */
	if (!fresh && (r = refresh(st, now)) < 0)
		return r;
	if (!st->ballast && st->free_est >= BALLAST_SIZE + st->reserve + need &&
	    ballast_create(st)) {
		report_log(SF_LOG_INFO, "free space is back in %s: ballast "
			   "in place, appends go on", st->datadir);
		st->free_est -= BALLAST_SIZE;
	}
	if (!st->ballast || need + st->reserve > st->free_est)
		return refused(st, need);
	st->spent += need;
	return 0;
}
