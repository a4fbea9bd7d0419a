/* blob.c - blob files: one plain file per blob inode under
 * DATADIR/blobs/<xx>/<ino>, so the local filesystem provides random
 * writes, holes, truncate, fallocate and fsync. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

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
