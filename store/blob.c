/* blob.c - blob files: one plain file per blob inode under
 * DATADIR/blobs/<xx>/<ino>, so the local filesystem provides random
 * writes, holes, truncate, fallocate and fsync.
 *
 * A blob whose sync failed is written again, whole, before its next sync
 * may report success (store_blob_sync): the failed write-back may have
 * dropped its dirty pages. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define REWRITE_CHUNK (1 << 20)

#include "internal.h"

static void blob_path(char *buf, size_t cap, uint64_t ino)
{
	snprintf(buf, cap, "%02x/%016llx", (unsigned)(ino & 0xff),
		 (unsigned long long)ino);
}

int store_blob_open(struct store *st, uint64_t ino, int flags)
{
	char path[64];
	blob_path(path, sizeof(path), ino);
	int fd = openat(st->blobdirfd, path, flags | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT && (flags & O_CREAT)) {
		char dir[8];
		snprintf(dir, sizeof(dir), "%02x", (unsigned)(ino & 0xff));
		if (mkdirat(st->blobdirfd, dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(st->blobdirfd, path, flags | O_CLOEXEC, 0600);
	}
	return fd < 0 ? -errno : fd;
}

int store_blob_stat(struct store *st, uint64_t ino, struct stat *out)
{
	char path[64];
	blob_path(path, sizeof(path), ino);
	return fstatat(st->blobdirfd, path, out, 0) < 0 ? -errno : 0;
}

int store_blob_truncate(struct store *st, uint64_t ino, off_t size)
{
	int fd = store_blob_open(st, ino, O_WRONLY | O_CREAT);
	if (fd < 0)
		return fd;
	int r = ftruncate(fd, size) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int store_blob_unlink(struct store *st, uint64_t ino)
{
	char path[64];
	blob_path(path, sizeof(path), ino);
	if (unlinkat(st->blobdirfd, path, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Read the file back and write every byte again, holes left as holes. */
static int rewrite_file(int fd)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return -errno;
	char *buf = malloc(REWRITE_CHUNK);
	if (!buf)
		return -ENOMEM;
	int r = 0;
	off_t pos = 0;
	while (r == 0 && pos < sb.st_size) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0)
			break;          /* a hole to the end */
		ssize_t n = pread(fd, buf, REWRITE_CHUNK, data);
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		if (pwrite(fd, buf, n, data) != n)
			r = -EIO;
		pos = data + n;
	}
	free(buf);
	return r;
}

/* The blob's folder, so that a new blob's name survives a power cut. */
static int sync_blob_dir(struct store *st, uint64_t ino)
{
	char dir[8];
	snprintf(dir, sizeof(dir), "%02x", (unsigned)(ino & 0xff));
	int fd = openat(st->blobdirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int store_blob_sync(struct store *st, uint64_t ino, int fd, bool datasync,
		    bool *failed, bool *named)
{
	if (*failed) {
		int r = rewrite_file(fd);
		if (r < 0)
			return r;
	}
	if ((datasync ? fdatasync(fd) : fsync(fd)) < 0) {
		*failed = true;
		return -errno;
	}
	*failed = false;
	/* The blob's inode record and name live in LevelDB and its folder:
	 * make them durable too, or a synced blob could vanish.  The folder
	 * once (the file's name never changes), LevelDB when it holds writes
	 * not yet synced. */
	int r = *named ? 0 : sync_blob_dir(st, ino);
	if (r == 0 && !*named && fsync(st->blobdirfd) < 0)
		r = -errno;
	*named = r == 0;
	if (r == 0 && st->db_unsynced) {
		leveldb_writebatch_t *b = leveldb_writebatch_create();
		leveldb_writebatch_put(b, "Msync", 5, "", 0);
		r = db_write(st, b, true);
		leveldb_writebatch_destroy(b);
	}
	return r;
}
