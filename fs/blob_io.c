/* blob_io.c - blob I/O: reads and writes go to the blob's own file in the
 * data folder; reads reply straight from that descriptor so bytes need
 * not be copied through the daemon. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fs.h"

int blob_fd(struct handle *h)
{
	if (h->fd < 0)
		h->fd = store_blob_open(fs.store, h->node->ino,
					O_RDWR | O_CREAT);
	return h->fd;
}

void blob_read(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	int fd = blob_fd(h);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

int blob_write(struct handle *h, const char *buf, size_t size, off_t off)
{
	int fd = blob_fd(h);
	if (fd < 0)
		return fd;
	int r = store_space_check(fs.store, size);
	if (r < 0)
		return r;
	ssize_t n = pwrite(fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}
